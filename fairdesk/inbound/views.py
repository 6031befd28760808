"""The dead-letter list: inbound events that failed every attempt, with their errors."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.inbound.queries import dead_events
from fairdesk.inbound.services import retry_dead
from fairdesk.workspaces.models import Agent


def _require_supervisor(agent: Agent) -> None:
    if agent.role not in (Agent.Role.SUPERVISOR, Agent.Role.ADMIN):
        raise PermissionDenied("Only supervisors and admins see failed events.")


@require_GET
@agent_required
def dead_letters(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    _require_supervisor(agent)
    events = dead_events(agent.workspace)
    return render(request, "inbound/dead_letters.html", {"events": events})


@require_POST
@agent_required
def retry(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    _require_supervisor(agent)
    ids = [int(v) for v in request.POST.getlist("event") if v.isdigit()]
    count = retry_dead(workspace=agent.workspace, ids=ids)
    messages.success(request, f"{count} event(s) sent back to the pipeline.")
    return redirect("dead-letters")
