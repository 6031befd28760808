"""How a case's status and deadlines move when someone speaks. Pure functions on a Case.

The pipeline (customer messages) and the sender (our replies) both go through here, so
the rules live in one place. Nothing here reads the channel, the audience or the tone.
"""

from datetime import datetime

from fairdesk.cases.models import Case, CaseStatus
from fairdesk.routing.policy import Targets, deadlines_for, most_severe


def apply_inbound(case: Case, *, at: datetime, severity: str) -> bool:
    """A customer message on the case. Returns True when the severity rose."""
    rose = most_severe(case.severity, severity) != case.severity
    if rose:
        case.severity = most_severe(case.severity, severity)
    if case.status in (CaseStatus.PENDING_CUSTOMER, CaseStatus.RESOLVED):
        case.status = CaseStatus.OPEN
        case.resolved_at = None
    if at > case.last_inbound_at:
        case.last_inbound_at = at
    answered_after = case.last_response_at is not None and case.last_response_at >= at
    if not answered_after and (case.awaiting_since is None or at < case.awaiting_since):
        case.awaiting_since = at
    return rose


def apply_response(case: Case, *, at: datetime) -> None:
    """We answered the customer (a reply left, or a brand reply from imported history)."""
    if case.first_response_at is None:
        case.first_response_at = at
    if case.last_response_at is None or at > case.last_response_at:
        case.last_response_at = at
    if case.awaiting_since is not None and case.awaiting_since <= at:
        case.awaiting_since = None
    if case.status in (CaseStatus.NEW, CaseStatus.OPEN) and case.awaiting_since is None:
        case.status = CaseStatus.PENDING_CUSTOMER


def refresh_deadlines(case: Case, targets: dict[tuple[str, str], Targets]) -> None:
    """Recompute every deadline and the queue key from the SLA table."""
    if case.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        case.first_response_due_at = case.next_response_due_at = case.resolution_due_at = None
        case.escalation_at = None
        return
    cell = targets.get((case.severity, case.entitlement)) or targets[(case.severity, "standard")]
    deadlines = deadlines_for(
        targets=cell,
        first_inbound_at=case.first_inbound_at,
        awaiting_since=case.awaiting_since,
        first_response_at=case.first_response_at,
    )
    case.first_response_due_at = deadlines.first_response_due_at
    case.next_response_due_at = deadlines.next_response_due_at
    case.resolution_due_at = deadlines.resolution_due_at
    case.escalation_at = deadlines.escalation_at


DEADLINE_FIELDS = [
    "severity",
    "status",
    "resolved_at",
    "last_inbound_at",
    "awaiting_since",
    "first_response_at",
    "last_response_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "escalation_at",
    "updated_at",
]
