"""The HTTP API under ``/api/v1/``: one NinjaAPI assembling each app's router.

Agents authenticate with a bearer token (``Authorization: Bearer fd_…``) or, from the web
UI, with their Django session (state-changing session calls need the CSRF token).
Either way ``request.auth`` is the :class:`Agent`, and every handler scopes its queries to
``request.auth.workspace``: another workspace's case is a 404, never a 403.
"""

from ninja import NinjaAPI

from fairdesk.api_auth import AgentSession, BearerToken
from fairdesk.api_parser import NulSafeParser
from fairdesk.cases.api import router as cases_router
from fairdesk.connectors.phone.api import router as calls_router
from fairdesk.followthrough.api import router as work_orders_router
from fairdesk.insights.api import router as insights_router
from fairdesk.knowledge.api import router as knowledge_router
from fairdesk.portal.api import router as portal_router
from fairdesk.replies.api import router as replies_router
from fairdesk.routing.api import router as routing_router

api = NinjaAPI(
    title="Fairdesk",
    version="1",
    description="One fair queue for every channel.",
    urls_namespace="api",
    auth=[BearerToken(), AgentSession()],
    parser=NulSafeParser(),
)
api.add_router("/", cases_router, tags=["cases"])
api.add_router("/", replies_router, tags=["replies"])
api.add_router("/", calls_router, tags=["calls"])
api.add_router("/", work_orders_router, tags=["work orders"])
api.add_router("/", portal_router, tags=["portal"])
api.add_router("/", routing_router, tags=["routing rules"])
api.add_router("/", knowledge_router, tags=["knowledge"])
api.add_router("/insights/", insights_router, tags=["insights"])
