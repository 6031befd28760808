"""The fairness policy: severity and entitlement in, deadlines out.

Nothing about the channel, the audience, the visibility, the loudness or the number of
times a customer asked may reach these functions. Their signatures make that explicit.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from fairdesk.routing.models import SEVERITY_RANK, Severity

# Default targets in minutes: (first response, next response, resolution).
DEFAULT_TARGETS: dict[tuple[str, str], tuple[int, int, int]] = {
    (Severity.CRITICAL, "standard"): (60, 120, 24 * 60),
    (Severity.CRITICAL, "premium"): (30, 60, 12 * 60),
    (Severity.HIGH, "standard"): (4 * 60, 8 * 60, 3 * 24 * 60),
    (Severity.HIGH, "premium"): (2 * 60, 4 * 60, 2 * 24 * 60),
    (Severity.NORMAL, "standard"): (24 * 60, 24 * 60, 7 * 24 * 60),
    (Severity.NORMAL, "premium"): (8 * 60, 12 * 60, 5 * 24 * 60),
    (Severity.LOW, "standard"): (48 * 60, 48 * 60, 14 * 24 * 60),
    (Severity.LOW, "premium"): (24 * 60, 24 * 60, 10 * 24 * 60),
}


@dataclass(frozen=True, slots=True)
class Targets:
    first_response: timedelta
    next_response: timedelta
    resolution: timedelta


@dataclass(frozen=True, slots=True)
class Deadlines:
    first_response_due_at: datetime | None
    next_response_due_at: datetime | None
    resolution_due_at: datetime | None

    @property
    def escalation_at(self) -> datetime | None:
        open_deadlines = [
            d
            for d in (self.first_response_due_at, self.next_response_due_at, self.resolution_due_at)
            if d is not None
        ]
        return min(open_deadlines) if open_deadlines else None


def most_severe(*severities: str) -> str:
    return min(severities, key=lambda s: SEVERITY_RANK[Severity(s)])


def deadlines_for(
    *,
    targets: Targets,
    first_inbound_at: datetime,
    awaiting_since: datetime | None,
    first_response_at: datetime | None,
) -> Deadlines:
    """Deadlines for a case from when the customer first asked and whether we answered.

    ``awaiting_since`` is the earliest customer message not yet answered (None when the
    last word is ours). Asking again does not move it: repetition never buys priority.
    """
    first_due = None if first_response_at else first_inbound_at + targets.first_response
    next_due = None
    if first_response_at and awaiting_since:
        next_due = awaiting_since + targets.next_response
    return Deadlines(
        first_response_due_at=first_due,
        next_response_due_at=next_due,
        resolution_due_at=first_inbound_at + targets.resolution,
    )
