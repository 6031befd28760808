"""Load the demo stream through the real ingest path: store, run the pipeline, send."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fairdesk.cases.models import Case
from fairdesk.demo.stream import (
    DANA_AUTHOR_ID,
    Record,
    dana_email_record,
    ordinary_records,
    story_records,
    tagged,
)
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.pipeline import drain
from fairdesk.inbound.services import StoreResult, store_events
from fairdesk.replies.sender import send_pending
from fairdesk.workspaces.models import Workspace

ORDINARY_MESSAGES = 60


@dataclass(slots=True)
class LoadSummary:
    stored: int = 0
    duplicates: int = 0
    processed: int = 0
    sent: int = 0


def store(workspace: Workspace, records: Sequence[Record]) -> StoreResult:
    """Validate like the importer does, then store as pending inbound events."""
    clean = [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]
    return store_events(workspace=workspace, records=clean, source="demo")


def dana_case(workspace: Workspace, tag: str = "") -> Case | None:
    """The case of the contact behind Dana's X account, once the pipeline opened it."""
    return (
        Case.objects.filter(
            workspace=workspace,
            contact__identities__channel="x",
            contact__identities__external_id=tagged(DANA_AUTHOR_ID, tag),
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
    workspace: Workspace, now: datetime, *, ordinary: int = ORDINARY_MESSAGES
) -> LoadSummary:
    """Every story plus ordinary traffic, processed to the end. Loading twice is a no-op."""
    summary = LoadSummary()
    _add(summary, store(workspace, story_records(now) + ordinary_records(now, ordinary)))
    summary.processed += drain()
    emailed = store_dana_email(workspace, now)
    if emailed is not None:
        _add(summary, emailed)
    summary.processed += drain()
    summary.sent = send_all()
    return summary


def _add(summary: LoadSummary, result: StoreResult) -> None:
    summary.stored += result.stored
    summary.duplicates += result.duplicates
