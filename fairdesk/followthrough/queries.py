"""Reads for work orders and resolutions, always scoped to a workspace."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet
from django.http import Http404

from fairdesk.cases.models import Case
from fairdesk.followthrough.models import Resolution, WorkOrder
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


@dataclass(frozen=True, slots=True)
class ResolutionRates:
    """Proposals of resolution made in a period and what became of them.

    ``made_whole_rate`` is confirmed over proposals, ``reopen_rate`` reopened over
    proposals (percent, None without proposals). Pending proposals count in the
    denominator: they were proposed, and not (yet) confirmed.
    """

    proposals: int
    confirmed: int
    quiet_closed: int
    reopened: int
    pending: int

    @property
    def made_whole_rate(self) -> float | None:
        return _percent(self.confirmed, self.proposals)

    @property
    def reopen_rate(self) -> float | None:
        return _percent(self.reopened, self.proposals)


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def resolution_rates(
    *, workspace: Workspace, since: datetime | None = None, until: datetime | None = None
) -> ResolutionRates:
    """Made-whole and reopen rates of the proposals made in [since, until)
    (``resolution_period_idx``)."""
    rows = Resolution.objects.filter(workspace=workspace)
    if since is not None:
        rows = rows.filter(proposed_at__gte=since)
    if until is not None:
        rows = rows.filter(proposed_at__lt=until)
    counts = dict(rows.values_list("outcome").annotate(n=Count("id")).order_by())
    return ResolutionRates(
        proposals=sum(counts.values()),
        confirmed=counts.get(Resolution.Outcome.CONFIRMED, 0),
        quiet_closed=counts.get(Resolution.Outcome.QUIET_CLOSED, 0),
        reopened=counts.get(Resolution.Outcome.REOPENED, 0),
        pending=counts.get(Resolution.Outcome.PENDING, 0),
    )


def resolutions_of(case: Case) -> list[Resolution]:
    """A case's proposals, latest first, with who proposed them."""
    return list(
        Resolution.objects.filter(case=case)
        .select_related("case", "proposed_by__user", "question")
        .order_by("-proposed_at", "-id")
    )


def open_work_orders(case: Case) -> list[WorkOrder]:
    """What still stands between the case and a proposal of resolution."""
    return list(WorkOrder.objects.filter(case=case, status__in=OPEN).order_by("due_at", "id"))
