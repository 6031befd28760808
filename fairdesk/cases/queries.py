"""Reads for the agent workspace: the queue and one case with its whole timeline.

Every function takes the workspace and filters on it; nothing here trusts an id alone.
Query counts are constant in the number of rows (select_related / prefetch_related).
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from fairdesk.cases.models import QUEUE_STATUSES, Attachment, Case, CaseEvent, Direction, Message
from fairdesk.contacts.models import ContactIdentity
from fairdesk.replies.models import OutboxMessage
from fairdesk.routing.conditions import Conditions
from fairdesk.workspaces.models import Agent, Workspace

QUEUE_PAGE_SIZE = 50


# --- the queue ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueCursor:
    """Keyset position: the last row shown. ``escalation_at`` None sorts last."""

    escalation_at: datetime | None
    id: int

    def encode(self) -> str:
        stamp = self.escalation_at.isoformat() if self.escalation_at else "-"
        return f"{stamp}~{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> "QueueCursor | None":
        """A cursor from the query string; anything malformed means the first page."""
        if not raw or "~" not in raw:
            return None
        stamp, _, pk = raw.rpartition("~")
        try:
            at = None if stamp == "-" else datetime.fromisoformat(stamp)
            if at is not None and at.tzinfo is None:
                return None
            return cls(escalation_at=at, id=int(pk))
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class QueuePage:
    cases: list[Case]
    next_cursor: QueueCursor | None


def queue_page(
    *,
    workspace: Workspace,
    after: QueueCursor | None = None,
    limit: int = QUEUE_PAGE_SIZE,
    view: Conditions | None = None,
    agent: Agent | None = None,
    only: Sequence[str] = (),
) -> QueuePage:
    """Open cases, earliest deadline first. Nothing else (channel, reach) takes part.

    A ``view`` narrows which cases are shown (for the viewing ``agent``: "mine", "my
    team"); whatever it says, the order stays the deadline and the paging the keyset.
    ``only`` loads just those fields (``QuerySet.only``), and of the contacts' identities
    just the handle: reading any other field is then one query per row.
    """
    identities = ContactIdentity.objects.order_by("id")
    if only:
        identities = identities.only("id", "contact_id", "handle")
    if view is None:
        matching = Q(status__in=QUEUE_STATUSES)
    else:
        if agent is None or agent.workspace_id != workspace.pk:
            raise ValueError("A view is evaluated for an agent of the workspace.")
        matching = view.to_q(agent=agent, now=timezone.now())
    cases = (
        Case.objects.filter(matching, workspace=workspace)
        .select_related("team", "contact", "assignee")
        .prefetch_related(Prefetch("contact__identities", queryset=identities))
        .order_by(F("escalation_at").asc(nulls_last=True), "id")
    )
    if after is not None:
        cases = cases.filter(_after(after))
    if only:
        cases = cases.only(*only)
    rows = list(cases[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = QueueCursor(rows[-1].escalation_at, rows[-1].pk) if more else None
    return QueuePage(cases=rows, next_cursor=cursor)


def _after(cursor: QueueCursor) -> Q:
    if cursor.escalation_at is None:
        return Q(escalation_at__isnull=True, id__gt=cursor.id)
    return (
        Q(escalation_at__gt=cursor.escalation_at)
        | Q(escalation_at=cursor.escalation_at, id__gt=cursor.id)
        | Q(escalation_at__isnull=True)
    )


def describe_due(deadline: datetime | None, now: datetime) -> str:
    """'due in 2 h', 'overdue by 5 min', or 'no deadline'."""
    if deadline is None:
        return "no deadline"
    seconds = int((deadline - now).total_seconds())
    amount = _duration(abs(seconds))
    return f"due in {amount}" if seconds >= 0 else f"overdue by {amount}"


def _duration(seconds: int) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


# --- one case ------------------------------------------------------------------------


def case_for(*, workspace: Workspace, public_id: uuid.UUID) -> Case:
    """The case with this public id in this workspace, or 404 (never another tenant's)."""
    case = (
        Case.objects.filter(workspace=workspace, public_id=public_id)
        .select_related("workspace", "contact", "team", "assignee")
        # The contact panel, the reply box's private channels and the portal panel all
        # show the contact's identities: one read for the page.
        .prefetch_related("contact__identities")
        .first()
    )
    if case is None:
        raise Http404("No such case.")
    return case


def identities_of(case: Case) -> list[ContactIdentity]:
    """The contact's identities by channel (prefetched by :func:`case_for`)."""
    return sorted(case.contact.identities.all(), key=lambda i: (i.channel, i.pk))


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    message: Message | None = None
    event: CaseEvent | None = None
    title: str = ""
    details: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()


def timeline(case: Case) -> list[TimelineEntry]:
    """Every message on every channel and every case event, in time order."""
    return latest_timeline(case, latest=None).entries


@dataclass(frozen=True, slots=True)
class CaseTimeline:
    entries: list[TimelineEntry]  # the latest entries, in time order
    earlier: int  # entries before them, not loaded
    triage: "TriageSummary"  # over every customer message of the case


def latest_timeline(case: Case, *, latest: int | None) -> CaseTimeline:
    """The case's latest ``latest`` timeline entries (all for None), how many came
    before, and the triage summary of all its customer messages. Four queries whatever
    the length: the summary's few columns of every message (no timestamps, and of the
    triage only its signals and praise); the newest ``latest`` messages whole, with their
    author, agent and outbox (every shown message is among them, so a 300-message thread
    builds 100, not 300); the events (a handful a case); and the shown messages' files."""
    rows = list(
        Message.objects.filter(case=case).values_list(
            "direction", "sentiment", "triage__signals", "triage__praise", "is_spam"
        )
    )
    events = list(CaseEvent.objects.filter(case=case).select_related("actor"))
    messages = Message.objects.filter(case=case).select_related(
        "identity", "agent", "outbox", "outbox__approved_by"
    )
    if latest is not None:
        messages = messages.order_by("-sent_at", "-id")[:latest]
    loaded = list(messages)
    by_id = {m.pk: m for m in loaded}
    order = sorted([(m.sent_at, 0, m.pk) for m in loaded] + [(e.at, 1, e.pk) for e in events])
    shown = order if latest is None else order[max(len(order) - latest, 0) :]
    files = attachments_of(case, [by_id[pk] for _, kind, pk in shown if kind == 0])
    event_by_id = {e.pk: e for e in events}
    entries = []
    for at, kind, pk in shown:
        if kind == 0:
            m = by_id[pk]
            key = (m.channel, m.external_id or "")
            entries.append(TimelineEntry(at=at, message=m, attachments=files.get(key, ())))
        else:
            title, details = describe_event(event_by_id[pk])
            entries.append(
                TimelineEntry(at=at, event=event_by_id[pk], title=title, details=details)
            )
    inbound = [(r[1], r[2], r[3], r[4]) for r in rows if r[0] == Direction.INBOUND]
    return CaseTimeline(entries, len(rows) + len(events) - len(shown), _summary(inbound))


def attachments_of(
    case: Case, messages: list[Message]
) -> dict[tuple[str, str], tuple[Attachment, ...]]:
    """The files of ``messages`` by (channel, external id), in one query."""
    ids = {m.external_id for m in messages if m.external_id}
    found: dict[tuple[str, str], list[Attachment]] = {}
    rows = Attachment.objects.filter(workspace_id=case.workspace_id, message_external_id__in=ids)
    for row in rows:
        found.setdefault((row.channel, row.message_external_id), []).append(row)
    return {key: tuple(rows_) for key, rows_ in found.items()}


def held_replies(case: Case) -> QuerySet[OutboxMessage]:
    return (
        OutboxMessage.objects.filter(case=case, status=OutboxMessage.Status.HELD)
        .select_related("message", "author")
        .order_by("id")
    )


@dataclass(slots=True)
class TriageSummary:
    inbound: int = 0
    sentiments: dict[str, int] = field(default_factory=dict)
    signals: list[str] = field(default_factory=list)
    praise: int = 0
    spam: int = 0


def triage_summary(entries: list[TimelineEntry]) -> TriageSummary:
    """What triage found across the customer's messages on this case."""
    found = []
    for e in entries:
        if e.message is not None and e.message.direction == Direction.INBOUND:
            triage = e.message.triage if isinstance(e.message.triage, dict) else {}
            found.append(
                (
                    e.message.sentiment,
                    triage.get("signals"),
                    triage.get("praise"),
                    e.message.is_spam,
                )
            )
    return _summary(found)


def _summary(inbound: list[tuple[str, Any, Any, bool]]) -> TriageSummary:
    """The summary of customer messages given as (sentiment, the triage's signals, its
    praise flag, is_spam); signals that are not a list count as none."""
    sentiments: Counter[str] = Counter()
    signals: dict[str, None] = {}
    summary = TriageSummary()
    for sentiment, found, praise, is_spam in inbound:
        summary.inbound += 1
        if sentiment:
            sentiments[sentiment] += 1
        for signal in found if isinstance(found, list) else ():
            signals[str(signal)] = None
        summary.praise += bool(praise)
        summary.spam += is_spam
    summary.sentiments = dict(sentiments)
    summary.signals = list(signals)
    return summary


# --- readable events -----------------------------------------------------------------

EVENT_TITLES = {
    CaseEvent.Type.OPENED: "Case opened",
    CaseEvent.Type.MESSAGE_RECEIVED: "Message received",
    CaseEvent.Type.SEVERITY_CHANGED: "Severity changed",
    CaseEvent.Type.ROUTED: "Routed",
    CaseEvent.Type.ACKNOWLEDGED: "Acknowledgement queued",
    CaseEvent.Type.PRAISE_FORWARDED: "Praise forwarded",
    CaseEvent.Type.REPLY_QUEUED: "Reply queued",
    CaseEvent.Type.REPLY_SENT: "Reply sent",
    CaseEvent.Type.REPLY_BLOCKED: "Reply blocked by the tone guard",
    CaseEvent.Type.REPLY_HELD: "Reply held for supervisor approval",
    CaseEvent.Type.TONE_OVERRIDE: "Tone guard overridden",
    CaseEvent.Type.STATUS_CHANGED: "Status changed",
    CaseEvent.Type.ASSIGNED: "Assigned",
}


HIDDEN_PARAMS = frozenset({"outbox_id", "message_id", "undo", "undoes", "event"})


def describe_event(event: CaseEvent) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A title and (label, value) pairs; reasons lists become one line per reason."""
    title = EVENT_TITLES.get(event.type, event.type.replace("_", " ").capitalize())  # type: ignore[call-overload]
    params: dict[str, Any] = event.params if isinstance(event.params, dict) else {}
    details: list[tuple[str, str]] = []
    if event.actor is not None and params.get("author") != event.actor.display_name:
        details.append(("by", event.actor.display_name))
    for key, value in params.items():
        if key in HIDDEN_PARAMS:
            continue
        if key in {"reasons", "issues"} and isinstance(value, list):
            details.extend(("reason", _reason(item)) for item in value)
        else:
            details.append((key.replace("_", " "), _plain(value)))
    return title, tuple(details)


def _reason(item: Any) -> str:
    if not isinstance(item, dict):
        return _plain(item)
    text = f"{item.get('kind', 'issue')}: {item.get('explanation', '')}"
    if item.get("excerpt"):
        text += f" (“{item['excerpt']}”)"
    return text


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_plain(v)}" for k, v in value.items())
    if value is None:
        return "—"
    return str(value)
