"""The teams settings page (supervisors and admins): each team's alert address and the
alerts it was sent. Parse, authorise, call one service, render."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from fairdesk.cases.access import agent_required
from fairdesk.workspaces.forms import TeamAlertForm
from fairdesk.workspaces.models import Agent, Team, TeamAlert
from fairdesk.workspaces.services import set_team_alert_email

RECENT_ALERTS = 20


def _require_editor(agent: Agent) -> None:
    if not agent.is_supervisor:
        raise PermissionDenied("Only supervisors and admins manage teams.")


@require_GET
@agent_required
def team_list(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    _require_editor(agent)
    alerts = TeamAlert.objects.filter(workspace_id=agent.workspace_id).select_related("team")
    context = {
        "teams": Team.objects.filter(workspace_id=agent.workspace_id),
        "alerts": alerts.order_by("-at", "-id")[:RECENT_ALERTS],
    }
    return render(request, "workspaces/teams.html", context)


@require_http_methods(["GET", "POST"])
@agent_required
def team_edit(request: HttpRequest, slug: str, *, agent: Agent) -> HttpResponse:
    _require_editor(agent)
    team = Team.objects.filter(workspace_id=agent.workspace_id, slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    form = TeamAlertForm(request.POST or None, initial={"alert_email": team.alert_email})
    if request.method == "POST" and form.is_valid():
        set_team_alert_email(team=team, alert_email=form.cleaned_data["alert_email"])
        messages.success(request, f"Saved the alert address of {team.name}.")
        return redirect("teams")
    status = 422 if form.errors else 200
    return render(request, "workspaces/team_edit.html", {"form": form, "team": team}, status=status)
