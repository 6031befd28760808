"""The insights page: parity, crickets and Social Promoter Score for one workspace."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from fairdesk.cases.access import agent_required
from fairdesk.insights import queries
from fairdesk.insights.forms import PeriodForm
from fairdesk.insights.periods import resolve_period
from fairdesk.workspaces.models import Agent


@require_GET
@agent_required
def overview(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    form = PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["period"]
    else:
        start, end = resolve_period(None, None)
    figures = {}
    if not form.errors:
        workspace = agent.workspace
        figures = {
            "parity": queries.first_response_parity(workspace, start, end),
            "crickets": queries.crickets(workspace, start, end),
            "sps": queries.social_promoter_score(workspace, start, end),
        }
    status = 400 if form.errors else 200
    context = {"form": form, "start": start, "end": end, **figures}
    return render(request, "insights/overview.html", context, status=status)
