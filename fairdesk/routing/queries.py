from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import F, QuerySet

from fairdesk.routing.models import SlaPolicy
from fairdesk.routing.policy import DEFAULT_TARGETS, Targets
from fairdesk.workspaces.models import Workspace

if TYPE_CHECKING:
    from fairdesk.cases.models import Case


def targets_table(workspace: Workspace) -> dict[tuple[str, str], Targets]:
    """Every (severity, entitlement) cell for a workspace, falling back to the defaults."""
    table = {
        key: Targets(timedelta(minutes=f), timedelta(minutes=n), timedelta(minutes=r))
        for key, (f, n, r) in DEFAULT_TARGETS.items()
    }
    for policy in SlaPolicy.objects.filter(workspace=workspace):
        table[(policy.severity, policy.entitlement)] = Targets(
            timedelta(minutes=policy.first_response_minutes),
            timedelta(minutes=policy.next_response_minutes),
            timedelta(minutes=policy.resolution_minutes),
        )
    return table


def queue(workspace: Workspace, *, limit: int = 50) -> "QuerySet[Case]":
    """Open cases in queue order: earliest deadline first, then oldest case.

    Matches the partial index ``case_queue_idx`` (workspace, escalation_at, id).
    """
    from fairdesk.cases.models import QUEUE_STATUSES, Case

    return (
        Case.objects.filter(workspace=workspace, status__in=QUEUE_STATUSES)
        .select_related("contact", "team")
        .order_by(F("escalation_at").asc(nulls_last=True), "id")[:limit]
    )
