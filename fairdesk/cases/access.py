"""Who may see the agent workspace: a logged-in user with an Agent, scoped to its workspace."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from fairdesk.workspaces.models import Agent

View = Callable[..., HttpResponse]


def current_agent(request: HttpRequest) -> Agent:
    """The signed-in agent; a user without one (e.g. a bare admin account) is refused.
    Read with its workspace, which every page scopes to: one query, not two."""
    user = request.user
    agent = (
        Agent.objects.select_related("workspace").filter(user_id=user.pk).first()
        if user.is_authenticated
        else None
    )
    if agent is None:
        raise PermissionDenied("This account is not an agent of any workspace.")
    user.agent = agent  # type: ignore[union-attr]  # what request.user.agent reads
    return agent


def agent_required(view: View) -> View:
    """Login required, then an Agent required; the view receives it as ``agent``."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return view(request, *args, agent=current_agent(request), **kwargs)

    return login_required(wrapper)
