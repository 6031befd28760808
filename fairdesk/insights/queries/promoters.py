"""Social Promoter Score: people who promote or warn against the company in public.

Counted over the people (contacts, so one person on two channels counts once) who wrote
to us in public in the period, spam excluded:

* a **detractor** detracted at least once — triage's ``detracts`` stance covers warning
  others ("avoid them", "never again", "don't fly with them"): a public warning stays
  online whatever came later, so one is enough;
* a **promoter** promoted and never detracted in the period;
* SPS = 100 * (promoters - detractors) / authors, ``None`` when nobody wrote;
* **converted**: detractors who promoted us in public after the case they detracted on
  was resolved (or closed), before the end of the period. Known limit: a customer
  message on a resolved case reopens it and clears ``resolved_at``
  (``cases.lifecycle.apply_inbound``), so praise posted as a reply on the resolved case
  itself hides that resolution; praise in a new public post (a new case) counts.
* **time to conversion**: per converted person, the shortest time from the resolution of
  a case they detracted on to their next public promotion; the median over the converted
  people, in hours (``None`` when nobody converted).

The score is one query over the period's public messages grouped by person, driven by
``message_period_idx`` (workspace_id, sent_at), and one more for the times to conversion
(a row per converted detraction). SPS is not rolled up: it counts distinct people over the
whole period, which does not add up day by day. The conversion check and the drill-down's
per-person checks go through the message's identity (the ``identity_id`` foreign-key
index) and the identity's contact. The drill-down lists the messages behind each count.
"""

import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Case as SqlCase
from django.db.models import (
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Left

from fairdesk.cases.models import Case, Direction, Message, Visibility
from fairdesk.insights.queries.expressions import resolved_at
from fairdesk.workspaces.models import Workspace

PROMOTES = "promotes"
DETRACTS = "detracts"
KINDS = ("authors", "promoters", "detractors", "converted")
EXCERPT = 280
COUNT_CAP = 1000  # the drill-down counts its messages exactly up to this many


@dataclass(frozen=True, slots=True)
class PromoterScore:
    authors: int
    promoters: int
    detractors: int
    converted: int
    sps: float | None
    conversion_hours: float | None = None  # median time from resolution to promotion


@dataclass(frozen=True, slots=True)
class SpsMessage:
    """A public message behind one of the counts."""

    message_id: int
    contact_id: int
    handle: str
    channel: str
    stance: str
    sent_at: datetime
    case_id: UUID | None  # None for a message that is on no case (e.g. not threaded)
    case_reference: str
    text: str


class _Period:
    """The public, non-spam customer messages of a workspace and period."""

    def __init__(self, workspace: Workspace, start: datetime, end: datetime) -> None:
        self.workspace, self.start, self.end = workspace, start, end

    def messages(self) -> QuerySet[Message]:
        return Message.objects.filter(
            workspace=self.workspace,
            direction=Direction.INBOUND,
            visibility=Visibility.PUBLIC,
            is_spam=False,
            identity__isnull=False,
            sent_at__gte=self.start,
            sent_at__lt=self.end,
        )

    def by(self, contact: str) -> QuerySet[Message]:
        """This period's public messages of the contact ``OuterRef(contact)``."""
        return self.messages().filter(identity__contact=OuterRef(contact))

    def detracted(self, contact: str) -> Exists:
        return Exists(self.by(contact).filter(stance=DETRACTS))

    def promoted_after_resolution(self) -> QuerySet[Message]:
        """Public promotions by the writer of ``OuterRef`` after its case's ``done_at``."""
        return Message.objects.filter(
            workspace=self.workspace,
            direction=Direction.INBOUND,
            visibility=Visibility.PUBLIC,
            is_spam=False,
            stance=PROMOTES,
            identity__contact=OuterRef("identity__contact"),
            sent_at__gt=OuterRef("done_at"),
            sent_at__lt=self.end,
        )

    def detractions_resolved_then_promoted(self) -> QuerySet[Message]:
        """Detracting messages whose case was resolved, followed by a public promotion."""
        return (
            self.messages()
            .filter(stance=DETRACTS)
            .annotate(done_at=resolved_at("case__"))
            .filter(done_at__gte=F("sent_at"))
            .filter(Exists(self.promoted_after_resolution()))
        )

    def converted(self, contact: str) -> Exists:
        """The contact ``OuterRef(contact)`` detracted, then promoted after the resolution."""
        return Exists(
            self.detractions_resolved_then_promoted().filter(identity__contact=OuterRef(contact))
        )


def _flag(condition: Q) -> SqlCase:
    return SqlCase(When(condition, then=Value(1)), default=Value(0))


def social_promoter_score(workspace: Workspace, start: datetime, end: datetime) -> PromoterScore:
    """One query: per person (grouped public messages of the period), then summed."""
    period = _Period(workspace, start, end)
    converting = period.detractions_resolved_then_promoted().filter(pk=OuterRef("pk"))
    people = (
        period.messages()
        .values("identity__contact")
        .annotate(
            promoted=Max(_flag(Q(stance=PROMOTES))),
            detracted=Max(_flag(Q(stance=DETRACTS))),
            converted=Max(_flag(Q(Exists(converting)))),
        )
        .order_by()
    )
    totals = people.aggregate(
        authors=Count("identity__contact"),
        promoters=Sum(_flag(Q(promoted=1, detracted=0))),
        detractors=Sum("detracted"),
        converted_people=Sum("converted"),
    )
    authors = totals["authors"]
    promoters, detractors = totals["promoters"] or 0, totals["detractors"] or 0
    sps = round(100 * (promoters - detractors) / authors, 1) if authors else None
    converted = totals["converted_people"] or 0
    return PromoterScore(authors, promoters, detractors, converted, sps, _conversion_hours(period))


def _conversion_hours(period: _Period) -> float | None:
    """The median over converted people of their shortest resolution-to-promotion time."""
    first_promotion = period.promoted_after_resolution().order_by("sent_at").values("sent_at")
    rows = (
        period.detractions_resolved_then_promoted()
        .annotate(promoted_at=Subquery(first_promotion[:1]))
        .values_list("identity__contact", "done_at", "promoted_at")
    )
    shortest: dict[int, float] = {}
    for contact, done_at, promoted_at in rows:
        hours = (promoted_at - done_at).total_seconds() / 3600
        shortest[contact] = min(hours, shortest.get(contact, hours))
    return round(statistics.median(shortest.values()), 1) if shortest else None


def _messages_of(period: _Period, kind: str) -> QuerySet[Message]:
    contact = "identity__contact"
    messages = period.messages()
    if kind == "promoters":
        return messages.filter(stance=PROMOTES).exclude(period.detracted(contact))
    if kind == "detractors":
        return messages.filter(stance=DETRACTS)
    if kind == "converted":
        return messages.filter(stance__in=[PROMOTES, DETRACTS]).filter(period.converted(contact))
    return messages


def _rows(workspace: Workspace, start: datetime, end: datetime, kind: str) -> QuerySet[Message]:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return _messages_of(_Period(workspace, start, end), kind)


def _values(messages: QuerySet[Message]) -> Any:
    return (
        messages.annotate(excerpt=Left("text", EXCERPT))
        .values(
            "id",
            "identity__contact_id",
            "identity__handle",
            "channel",
            "stance",
            "sent_at",
            "case_id",
            "case__public_id",
            "excerpt",
        )
        .order_by("sent_at", "id")
    )


def count_cap(*, limit: int, offset: int = 0) -> int:
    """Up to how many messages a drill-down page counts exactly (at least past its page)."""
    return max(COUNT_CAP, offset + limit)


def sps_messages(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    *,
    kind: str,
    limit: int,
    offset: int = 0,
) -> tuple[int, list[SpsMessage]]:
    """How many messages are behind ``kind`` (one of :data:`KINDS`), and a page of them.

    Promoters: their promoting messages; detractors: every detracting message; converted:
    the detracting and promoting messages of converted people; authors: every public
    message. Two queries. The count is exact up to ``count_cap(limit=, offset=)``;
    ``count_cap + 1`` means "more than that" — a bounded count (the first ``cap + 1`` rows
    through ``message_period_idx``), never a scan of the whole period per request.
    """
    messages = _rows(workspace, start, end, kind)
    page = _values(messages)[offset : offset + limit]
    cap = count_cap(limit=limit, offset=offset)
    count = messages.order_by()[: cap + 1].count()
    return count, [_sps_message(row) for row in page]


def every_sps_message(
    workspace: Workspace, start: datetime, end: datetime, *, kind: str
) -> Iterator[SpsMessage]:
    """Every message behind ``kind``, streamed in chunks (the CSV export)."""
    rows = _values(_rows(workspace, start, end, kind))
    return (_sps_message(row) for row in rows.iterator(chunk_size=2000))


def _sps_message(row: dict[str, Any]) -> SpsMessage:
    return SpsMessage(
        message_id=row["id"],
        contact_id=row["identity__contact_id"],
        handle=row["identity__handle"],
        channel=row["channel"],
        stance=row["stance"],
        sent_at=row["sent_at"],
        case_id=row["case__public_id"],
        case_reference=Case(pk=row["case_id"]).reference if row["case_id"] else "",
        text=row["excerpt"],
    )
