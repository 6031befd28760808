"""Reads for work orders, always scoped to a workspace."""

import uuid

from django.db.models import QuerySet
from django.http import Http404

from fairdesk.cases.models import Case
from fairdesk.followthrough.models import WorkOrder
from fairdesk.workspaces.models import Team, Workspace

OPEN = (WorkOrder.Status.OPEN, WorkOrder.Status.IN_PROGRESS)


def work_orders_of(case: Case) -> list[WorkOrder]:
    """A case's orders, open ones first by due date, with teams, owners and dependencies."""
    orders = (
        WorkOrder.objects.filter(case=case)
        .select_related("team", "owner")
        .prefetch_related("depends_on")
        .order_by("due_at", "id")
    )
    return sorted(orders, key=lambda order: not order.is_open)


def work_order_for(*, workspace: Workspace, public_id: uuid.UUID) -> WorkOrder:
    """The order with this public id in this workspace, or 404 (never another tenant's)."""
    order = (
        WorkOrder.objects.filter(workspace=workspace, public_id=public_id)
        .select_related("case", "team", "owner")
        .first()
    )
    if order is None:
        raise Http404("No such work order.")
    return order


def team_queue(
    *, workspace: Workspace, team: Team | None = None, limit: int = 100
) -> QuerySet[WorkOrder]:
    """Open orders earliest due first — the same fair order as the case queue: by
    deadline, never by who the customer is or where they complained
    (``work_order_queue_idx``)."""
    orders = WorkOrder.objects.filter(workspace=workspace, status__in=OPEN)
    if team is not None:
        orders = orders.filter(team=team)
    return orders.select_related("case", "team", "owner").order_by("due_at", "id")[:limit]
