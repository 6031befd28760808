"""Work orders in the web UI: create from a case, move along, and the back-office queue;
and the proposal that a case is resolved."""

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.cases.queries import case_for
from fairdesk.followthrough.forms import StatusForm, WorkOrderForm
from fairdesk.followthrough.queries import team_queue, work_order_for
from fairdesk.followthrough.resolution import ResolutionRefused, propose_resolution
from fairdesk.followthrough.services import (
    DuplicateWorkOrder,
    NewWorkOrder,
    WorkOrderInvalid,
    create_work_order,
    update_work_order,
)
from fairdesk.insights.services import RootCauseInvalid
from fairdesk.workspaces.models import Agent, Team


@require_POST
@agent_required
def create(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    form = WorkOrderForm(request.POST, workspace=agent.workspace)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        messages.error(request, f"Work order not created — {errors}")
        return redirect("case", public_id=case.public_id)
    data = form.cleaned_data
    order = NewWorkOrder(
        kind=data["kind"],
        team=data["team"],
        title=data["title"],
        customer_label=data["customer_label"],
        due_at=data["due_at"],
        idempotency_key=str(data["idempotency_key"]),
    )
    try:
        create_work_order(case=case, actor=agent, order=order)
    except DuplicateWorkOrder as refused:
        messages.error(request, f"{refused} See “{refused.existing.title}”.")
    except WorkOrderInvalid as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Work order created.")
    return redirect("case", public_id=case.public_id)


@require_POST
@agent_required
def change_status(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    order = work_order_for(workspace=agent.workspace, public_id=public_id)
    form = StatusForm(request.POST)
    if form.is_valid():
        try:
            update_work_order(work_order=order, actor=agent, status=form.cleaned_data["status"])
        except WorkOrderInvalid as error:
            messages.error(request, str(error))
        except PermissionDenied:
            raise
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("case", public_id=order.case.public_id)


@require_GET
@agent_required
def queue(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    teams = list(Team.objects.filter(workspace=agent.workspace).order_by("name"))
    chosen = next((t for t in teams if t.slug == request.GET.get("team")), None)
    orders = list(team_queue(workspace=agent.workspace, team=chosen, limit=200))
    context = {"orders": orders, "teams": teams, "chosen": chosen}
    return render(request, "followthrough/queue.html", context)


@require_POST
@agent_required
def propose(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """ "Resolved — ask the customer": refused while work orders are open."""
    case = case_for(workspace=agent.workspace, public_id=public_id)
    try:
        propose_resolution(case=case, agent=agent, root_cause=request.POST.get("root_cause", ""))
    except (ResolutionRefused, RootCauseInvalid) as refused:
        messages.error(request, f"Not resolved — {refused}")
    else:
        messages.success(request, "Resolved. We asked the customer whether it is fixed for them.")
    return redirect("case", public_id=case.public_id)
