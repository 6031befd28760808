"""Who is calling the API: a bearer token or the web UI's session, resolved to an Agent.

Handlers call :func:`current_agent` and scope every query to ``agent.workspace``.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from fairdesk.workspaces.models import Agent, ApiToken

TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


class BearerToken(HttpBearer):
    """Looks a token up by its SHA-256 digest: the secret itself is never compared."""

    def authenticate(self, request: HttpRequest, token: str) -> Agent | None:
        if not token.startswith("fd_") or len(token) > 200:
            return None
        api_token = (
            ApiToken.objects.select_related("agent__workspace", "agent__user")
            .filter(digest=ApiToken.digest_of(token))
            .first()
        )
        if api_token is None or not api_token.agent.user.is_active:
            return None
        now = timezone.now()
        stale = now - TOKEN_TOUCH_INTERVAL
        if api_token.last_used_at is None or api_token.last_used_at < stale:
            # Conditional: concurrent requests write at most once a minute between them.
            ApiToken.objects.filter(pk=api_token.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
            ).update(last_used_at=now)
        return api_token.agent


class AgentSession(APIKeyCookie):
    """The web UI's Django session; CSRF is checked only once a session user is found."""

    def __init__(self) -> None:
        self.param_name = settings.SESSION_COOKIE_NAME
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Agent | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, "CSRF check failed")
        return Agent.objects.select_related("workspace").filter(user=user).first()

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        raise NotImplementedError  # pragma: no cover - __call__ does the work


def current_agent(request: HttpRequest) -> Agent:
    """The authenticated agent of an API request (set by one of the auth classes above)."""
    agent = request.auth  # type: ignore[attr-defined]
    assert isinstance(agent, Agent)
    return agent
