"""When a coalesced customer notice is due, and the mark an agent's portal answer leaves.

Expectation updates (``updates``) and portal reply notices (``reply_notices``) follow one
rule, kept here (``mark_due``, ``due_rows``): a notice is due ``SETTLE`` after the first
change it covers — so a burst becomes one message — and never sooner than
``FAIRDESK_UPDATE_INTERVAL_MINUTES`` after the previous one of its kind on the case.

``note_agent_reply`` lives here, away from the sending side, because
``replies.services`` calls it while it queues a reply, and the sending side imports
``replies.services`` (through ``notices``): this module imports models only.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from fairdesk.cases.models import Case
from fairdesk.followthrough.models import ExpectationUpdate, ReplyNotice

SETTLE = timedelta(minutes=2)
PORTAL = "portal"  # the portal's channel name on messages and outbox rows

Coalesced = type[ExpectationUpdate] | type[ReplyNotice]


def update_interval() -> timedelta:
    return timedelta(minutes=settings.FAIRDESK_UPDATE_INTERVAL_MINUTES)


def next_due(*, now: datetime, last_sent_at: datetime | None) -> datetime:
    """When a notice for a change made at ``now`` may go out."""
    due = now + SETTLE
    if last_sent_at is not None:
        due = max(due, last_sent_at + update_interval())
    return due


def note_agent_reply(*, case: Case, channel: str) -> None:
    """An agent answered the customer in the portal (queued, or released by a
    supervisor): a notice on their own channel is due, unless one already waits.
    A reply on any other channel reached the customer where they are: nothing to do."""
    if channel == PORTAL:
        mark_due(ReplyNotice, case=case)


def mark_due(model: Coalesced, *, case: Case) -> None:
    """A change the customer should hear of: the case's row of ``model`` is due (call
    inside a transaction). A row already waiting takes this change along with it."""
    row, _ = model.objects.select_for_update().get_or_create(
        case=case, defaults={"workspace_id": case.workspace_id}
    )
    if row.due_at is not None:
        return
    row.due_at = next_due(now=timezone.now(), last_sent_at=row.last_sent_at)
    row.save(update_fields=["due_at", "updated_at"])


def due_rows(model: Coalesced, *, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(row id, case id) of the rows of ``model`` due by ``now``, earliest first."""
    due = model.objects.filter(due_at__lte=now).order_by("due_at", "id")
    return list(due.values_list("pk", "case_id")[:limit])
