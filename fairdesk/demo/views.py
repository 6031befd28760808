"""The demo's own page: what the platforms received (mounted by ``urls.py`` only)."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from fairdesk.cases.access import agent_required
from fairdesk.demo.platforms import running
from fairdesk.demo.received import received
from fairdesk.demo.setup import DEMO_SLUG
from fairdesk.workspaces.models import Agent


@require_GET
@agent_required
def platforms_received(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """Per stand-in, what the brand's replies delivered there; for the demo workspace's
    agents while the demo's platforms run in this process."""
    platforms = running()
    if platforms is None or agent.workspace.slug != DEMO_SLUG:
        raise Http404("The demo's platforms are not running here.")
    return render(request, "demo/platforms.html", {"inboxes": received(platforms)})
