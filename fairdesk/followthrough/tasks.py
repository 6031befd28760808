"""The follow-through worker step: everything that happens after the fact, by time or
by a new message, in one idempotent pass (``fairdesk followthrough``).

Each part settles its rows in the same transaction as their effects, so running the
step twice — or two workers at once — gives the same result as running it once.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from fairdesk.followthrough.callbacks import schedule_callbacks
from fairdesk.followthrough.reply_notices import send_due_reply_notices
from fairdesk.followthrough.resolution import decide_resolutions
from fairdesk.followthrough.satisfaction import record_channel_answers
from fairdesk.followthrough.updates import send_due_updates


@dataclass(frozen=True, slots=True)
class StepResult:
    confirmed: int
    quiet_closed: int
    reopened: int
    callbacks: int
    updates: int
    csat_answers: int = 0
    reply_notices: int = 0

    @property
    def total(self) -> int:
        return (
            self.confirmed
            + self.quiet_closed
            + self.reopened
            + self.callbacks
            + self.updates
            + self.csat_answers
            + self.reply_notices
        )


def run_followthrough(*, now: datetime | None = None) -> StepResult:
    """Callbacks from new messages first (their orders change what customers are told),
    then decisions on proposals, satisfaction answers given on a channel, then the
    updates and portal reply notices now due."""
    now = now or timezone.now()
    callbacks = schedule_callbacks(now=now)
    decided = decide_resolutions(now=now)
    csat_answers = record_channel_answers(now=now)
    updates = send_due_updates(now=now)
    return StepResult(
        confirmed=decided["confirmed"],
        quiet_closed=decided["quiet_closed"],
        reopened=decided["reopened"],
        callbacks=callbacks,
        updates=updates,
        csat_answers=csat_answers,
        reply_notices=send_due_reply_notices(now=now),
    )
