"""Load the demo stream through the real ingest paths: the platforms' webhooks and
polling (``delivery.py``), the pipeline, and the sender, whose replies go out through
the connectors to the stand-ins."""

from dataclasses import dataclass
from datetime import datetime

from fairdesk.cases.models import Case
from fairdesk.connectors.polling import PollOutcome, poll_all
from fairdesk.demo.delivery import Delivery, deliver, store
from fairdesk.demo.dryer import Ending, finish_dana_story
from fairdesk.demo.platform_ids import x_user_id
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.stream import (
    DANA_AUTHOR_ID,
    dana_email_record,
    ordinary_records,
    story_records,
    tagged,
)
from fairdesk.inbound.pipeline import drain
from fairdesk.inbound.services import StoreResult
from fairdesk.replies.sender import send_pending
from fairdesk.workspaces.models import Workspace

ORDINARY_MESSAGES = 60


@dataclass(slots=True)
class LoadSummary:
    stored: int = 0
    duplicates: int = 0
    processed: int = 0
    sent: int = 0

    def add(self, result: StoreResult | Delivery | PollOutcome | Ending) -> None:
        self.stored += result.stored
        self.duplicates += result.duplicates


def dana_case(workspace: Workspace, tag: str = "") -> Case | None:
    """The case of the contact behind Dana's X account, once the pipeline opened it."""
    return (
        Case.objects.filter(
            workspace=workspace,
            contact__identities__channel="x",
            contact__identities__external_id=x_user_id(tagged(DANA_AUTHOR_ID, tag)),
        )
        .order_by("id")
        .first()
    )


def store_dana_email(workspace: Workspace, now: datetime, tag: str = "") -> StoreResult | None:
    """Dana's e-mail quoting her case reference; None while her case does not exist yet."""
    case = dana_case(workspace, tag)
    if case is None:
        return None
    return store(workspace, [dana_email_record(now, case.reference, tag)])


def send_all() -> int:
    sent = 0
    while batch := send_pending():
        sent += batch
    return sent


def load_demo_stream(
    workspace: Workspace,
    now: datetime,
    *,
    platforms: DemoPlatforms,
    ordinary: int = ORDINARY_MESSAGES,
) -> LoadSummary:
    """Every story plus ordinary traffic, delivered through the platforms, polled,
    processed and answered to the end. Loading twice is a no-op."""
    summary = LoadSummary()
    records = story_records(now) + ordinary_records(now, ordinary)
    summary.add(deliver(workspace=workspace, platforms=platforms, records=records))
    for outcome in poll_all():
        summary.add(outcome)
    summary.processed += drain()
    emailed = store_dana_email(workspace, now)
    if emailed is not None:
        summary.add(emailed)
    summary.processed += drain()
    summary.sent = send_all()
    case = dana_case(workspace)
    if case is not None:
        ending = finish_dana_story(case, now, platforms=platforms, send=send_all)
        summary.add(ending)
        summary.processed += ending.processed
        summary.sent += ending.sent
    return summary
