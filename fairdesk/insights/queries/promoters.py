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

Whole UTC days that ``fairdesk insights rollup`` summed are read from its sets of
people (``PromoterPeople``, ``insights.people``): per day, and per calendar month whose
every day is rolled up and unchanged, the contact ids of the authors, of those who
promoted, who detracted, and who detracted on a case resolved (or closed) at or after the
detraction ("resolved"). The rest of the period (partial days, today, days changed since
the refresh — including every day of both contacts' messages after a contact merge or
its undo: ``coverage.split``) is read from the raw messages through
``message_period_idx`` (workspace_id, sent_at), grouped per person. The counts are then
the sizes of unions of sets — exact, since a distinct count over people is a union over
every part, never a sum of per-day counts — taken in memory: a year is 12 month sets of
each kind (~30 KB each at 1M cases), the days at either end of the period and the live
people; no grouping of a year's 385,000 person-months in the database.

A person converted exactly when, in the period, a promotion followed the resolution of a
case they detracted on; so only people in both the promoted and the resolved sets can
have (a few thousand in a year at 1M cases, of 210,000 authors). For those candidates
the times to conversion need every resolution and the first promotion after each: the
rolled-up days' promotions and resolutions are kept one row per message
(``PromoterEvent``, read by person through ``promoter_event_idx``: no identity, message
or case is read), the live rows' come from the messages; a window over each person's
events in SQL (:data:`_WAITS_SQL`) returns one shortest wait per person who converted.
The converted people are those with a wait.

The drill-down lists the messages behind each count. Its per-person checks go through
the message's identity (the ``identity_id`` foreign-key index) and the identity's
contact; for "converted", the people come first from the same sets and events as the
score (:func:`converted_people`), then only their messages are read, by contact id: the
page and its capped count are bounded by the converted people's messages, not by the
period's.
"""

import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connections
from django.db.models import Case as SqlCase
from django.db.models import (
    DateTimeField,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Left, TruncDate

from fairdesk.cases.models import Case, Direction, Message, Visibility
from fairdesk.contacts.models import ContactIdentity
from fairdesk.insights import coverage, people
from fairdesk.insights.models import PromoterEvent, PromoterPeople, RollupDay
from fairdesk.insights.queries.expressions import (
    AnyOf,
    resolved_at,
    run_over,
    seconds_sql,
    union_all,
)
from fairdesk.workspaces.models import Workspace

PROMOTES = "promotes"
DETRACTS = "detracts"
KINDS = ("authors", "promoters", "detractors", "converted")
EXCERPT = 280
COUNT_CAP = 1000  # the drill-down counts its messages exactly up to this many
# Candidates per query of the times to conversion: a year at 1M cases has ~8,000, read
# in one pass over the year's ``PromoterEvent`` rows.
CHUNK = 20_000
# The sets of people kept per day and month (``PromoterPeople``): who wrote, promoted,
# detracted, and detracted on a case resolved at or after the detraction.
SETS = ("authors", "promoted", "detracted", "resolved")


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
        return _public(self.workspace).filter(sent_at__gte=self.start, sent_at__lt=self.end)

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

    def detractions_resolved(self) -> QuerySet[Message]:
        """Detracting messages whose case was resolved (or closed) at or after them."""
        return (
            self.messages()
            .filter(stance=DETRACTS)
            .annotate(done_at=resolved_at("case__"))
            .filter(done_at__gte=F("sent_at"))
        )

    def detractions_resolved_then_promoted(self) -> QuerySet[Message]:
        """Detracting messages whose case was resolved, followed by a public promotion."""
        return self.detractions_resolved().filter(Exists(self.promoted_after_resolution()))


def _flag(condition: Q) -> SqlCase:
    return SqlCase(When(condition, then=Value(1)), default=Value(0))


def _public_messages(workspace: Workspace) -> QuerySet[Message]:
    """The workspace's public, non-spam customer messages."""
    return Message.objects.filter(
        workspace=workspace,
        direction=Direction.INBOUND,
        visibility=Visibility.PUBLIC,
        is_spam=False,
    )


def _public(workspace: Workspace) -> QuerySet[Message]:
    """The workspace's public, non-spam customer messages with a known author."""
    # Through the identity's contact (never NULL): an INNER JOIN, and no bitmap of every
    # message with an author from the ``identity_id`` index.
    return _public_messages(workspace).filter(identity__contact__isnull=False)


def _flags() -> dict[str, Max]:
    """Per group of public messages: whether they promoted, detracted, and detracted on a
    case resolved (or closed) at or after the detraction (the last of :data:`SETS`)."""
    return {
        "promoted": Max(_flag(Q(stance=PROMOTES))),
        "detracted": Max(_flag(Q(stance=DETRACTS))),
        "resolved": Max(_flag(Q(stance=DETRACTS, done_at__gte=F("sent_at")))),
    }


def _written(workspace: Workspace, within: Q) -> Any:
    return (
        _public(workspace)
        .filter(within)
        .annotate(done_at=resolved_at("case__"), person=F("identity__contact_id"))
    )


def day_rows(workspace: Workspace, within: Q, **_: Any) -> Any:
    """The people who wrote in public ``within``, per (day, person), with their flags
    (:func:`_flags`): the rollup's sets of a day."""
    return (
        _written(workspace, within)
        .annotate(day=TruncDate("sent_at", tzinfo=UTC))
        .values("day", "person")
        .annotate(**_flags())
        .order_by()
    )


def _events(workspace: Workspace, within: Q) -> Any:
    """The promotions (kind 0, at when written) and the resolutions of the cases detracted
    on, at or after the detraction (kind 1, at the resolution), of the public messages
    written ``within``: one row per message (``e_person``, ``e_kind``, ``e_at``)."""
    promotion = Q(stance=PROMOTES)
    return (
        _public(workspace)
        .filter(within)
        .annotate(done_at=resolved_at("case__"))
        .filter(promotion | Q(stance=DETRACTS, done_at__gte=F("sent_at")))
        .annotate(
            e_person=F("identity__contact_id"),
            e_kind=SqlCase(
                When(promotion, then=Value(PromoterEvent.PROMOTION)),
                default=Value(PromoterEvent.RESOLUTION),
            ),
            e_at=SqlCase(
                When(promotion, then=F("sent_at")),
                default=F("done_at"),
                output_field=DateTimeField(),
            ),
        )
        .values("e_person", "e_kind", "e_at")
        .order_by()
    )


def day_events(workspace: Workspace, within: Q) -> Any:
    """The events (:func:`_events`) written ``within``, each with its message's day: the
    rollup's ``PromoterEvent`` rows."""
    return (
        _events(workspace, within)
        .annotate(day=TruncDate("sent_at", tzinfo=UTC))
        .values("day", "e_person", "e_kind", "e_at")
    )


def _live_people(workspace: Workspace, live: Q, names: tuple[str, ...]) -> dict[str, set[int]]:
    """The people of the live rows in each of the sets ``names``. With the authors, one
    query of every live row grouped per person; without, only the promoting and
    detracting rows (a few hundred a day, through ``message_stance_idx``)."""
    found: dict[str, set[int]] = {name: set() for name in SETS}
    rows = _written(workspace, live)
    if "authors" not in names:
        rows = rows.filter(stance__in=[PROMOTES, DETRACTS])
    for person, *flags in (
        rows.values("person").annotate(**_flags()).values_list("person", *SETS[1:])
    ):
        found["authors"].add(person)
        for name, flag in zip(SETS[1:], flags, strict=True):
            if flag:
                found[name].add(person)
    return {name: found[name] for name in names}


def _people(
    workspace: Workspace, split: coverage.Split, names: tuple[str, ...] = SETS
) -> dict[str, people.Ids]:
    """Each of the sets ``names`` over the period: the union of the sets of its whole
    months and its other rolled-up days, and the people of its live rows."""
    found: dict[str, list[people.Ids]] = {name: [] for name in names}
    months, days = _months_and_days(workspace, split.days)
    rolled = Q(month=True) & _day_in(months) if months else None
    cells = coverage.Split(days, ()).cells()
    if cells is not None:
        rolled = Q(month=False) & cells if rolled is None else rolled | Q(month=False) & cells
    if rolled is not None:
        sets = PromoterPeople.objects.filter(workspace=workspace).filter(rolled)
        for blobs in sets.values_list(*names):
            for name, blob in zip(names, blobs, strict=True):
                found[name].append(people.decode(blob))
    live = split.live_rows("sent_at")
    if live is not None:
        for name, ids in _live_people(workspace, live, names).items():
            found[name].append(people.ids_of(ids))
    return {name: people.union(parts) for name, parts in found.items()}


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - coverage.DAY


def _whole_months(runs: tuple[tuple[date, date], ...]) -> list[date]:
    """The first days of the calendar months lying wholly inside one of the runs."""
    months = []
    for first, last in runs:
        month = first if first.day == 1 else _month_end(first) + coverage.DAY
        while _month_end(month) <= last:
            months.append(month)
            month = _month_end(month) + coverage.DAY
    return months


def _months_and_days(
    workspace: Workspace, runs: tuple[tuple[date, date], ...]
) -> tuple[list[date], tuple[tuple[date, date], ...]]:
    """The whole months read from the month sets, and the runs of days left over."""
    return coverage.spans_and_days(
        workspace,
        RollupDay.Figure.PROMOTER_MONTHS,
        runs,
        _whole_months(runs),
        lambda month: _month_end(month).day,
    )


def _day_in(months: list[date]) -> Q:
    """Month sets of the given months (runs of consecutive months as one range)."""
    ranges: list[tuple[date, date]] = []
    for month in months:
        if ranges and _month_end(ranges[-1][1]) + coverage.DAY == month:
            ranges[-1] = (ranges[-1][0], month)
        else:
            ranges.append((month, month))
    found = Q(day__gte=ranges[0][0], day__lte=ranges[0][1])
    for first, last in ranges[1:]:
        found |= Q(day__gte=first, day__lte=last)
    return found


def social_promoter_score(workspace: Workspace, start: datetime, end: datetime) -> PromoterScore:
    """The period's sets of people, then the candidates' times to conversion (see the
    module docstring)."""
    split = coverage.split(workspace, RollupDay.Figure.PROMOTERS, start, end)
    found = _people(workspace, split)
    authors = len(found["authors"])
    promoters = len(people.without(found["promoted"], found["detracted"]))
    detractors = len(found["detracted"])
    waits = _waits(workspace, split, people.common(found["promoted"], found["resolved"]))
    sps = round(100 * (promoters - detractors) / authors, 1) if authors else None
    hours = round(statistics.median(waits.values()) / 3600, 1) if waits else None
    return PromoterScore(authors, promoters, detractors, len(waits), sps, hours)


def converted_people(workspace: Workspace, start: datetime, end: datetime) -> list[int]:
    """The contact ids of the people converted in the period: the score's own sets and
    times to conversion (a person converted exactly when they have one)."""
    split = coverage.split(workspace, RollupDay.Figure.PROMOTERS, start, end)
    found = _people(workspace, split, ("promoted", "resolved"))
    return sorted(_waits(workspace, split, people.common(found["promoted"], found["resolved"])))


# Per person, the shortest wait from a resolution to their next promotion. The events
# (promotions, kind 0, and resolutions, kind 1) are ordered newest first per person, so a
# resolution's next promotion is the earliest promotion among the rows before it; at the
# same instant the resolution sorts first: a promotion must come after.
_WAITS_SQL = """
SELECT e_person, MIN({seconds})
FROM (
    SELECT e_person, e_kind, e_at,
           MIN(CASE WHEN e_kind = 0 THEN e_at END) OVER (
               PARTITION BY e_person ORDER BY e_at DESC, e_kind DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS next_promoted_at
    FROM ({rows}) AS events
) AS ordered
WHERE e_kind = 1 AND next_promoted_at IS NOT NULL
GROUP BY e_person
"""


def _waits(workspace: Workspace, split: coverage.Split, candidates: people.Ids) -> dict[int, float]:
    """Per candidate who converted, their shortest wait in seconds from the resolution of a
    case they detracted on (in the period) to their next promotion (in the period). The
    events of the rolled-up days from ``PromoterEvent`` by person, those of the live rows
    from the raw messages; ``CHUNK`` people a query, one number per person back."""
    cells = coverage.Split(split.days, ()).cells()
    live = split.live_rows("sent_at")
    waits: dict[int, float] = {}
    for at in range(0, len(candidates), CHUNK):
        chunk = [int(person) for person in candidates[at : at + CHUNK]]
        parts: list[QuerySet[Any]] = []
        if cells is not None:
            parts.append(
                PromoterEvent.objects.filter(workspace=workspace)
                .filter(cells, AnyOf("person", chunk))
                .values(e_person=F("person"), e_kind=F("kind"), e_at=F("at"))
                .order_by()
            )
        if live is not None:
            parts.append(_events(workspace, live).filter(AnyOf("identity__contact_id", chunk)))
        rows = union_all(parts)
        seconds = seconds_sql(connections[rows.db].vendor, "next_promoted_at", "e_at")
        waits.update(run_over(rows, _WAITS_SQL.replace("{seconds}", seconds)))
    return waits


def _messages_of(period: _Period, kind: str) -> QuerySet[Message]:
    contact = "identity__contact"
    messages = period.messages()
    if kind == "promoters":
        return messages.filter(stance=PROMOTES).exclude(period.detracted(contact))
    if kind == "detractors":
        return messages.filter(stance=DETRACTS)
    if kind == "converted":
        # The converted people first (from the rolled-up sets and events where it can),
        # then their identities (by the ``contact_id`` index), then only those
        # identities' messages (by ``message_stance_idx``, on PostgreSQL from the index
        # alone: their identities have a contact, no need to join each one): no
        # correlated search of the period per message, and no scan of every identity for
        # a few thousand people.
        people = converted_people(period.workspace, period.start, period.end)
        identities = ContactIdentity.objects.filter(
            AnyOf("contact_id", people), workspace=period.workspace
        ).values_list("id", flat=True)
        return _public_messages(period.workspace).filter(
            AnyOf("identity_id", identities),
            stance__in=[PROMOTES, DETRACTS],
            sent_at__gte=period.start,
            sent_at__lt=period.end,
        )
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
    if kind == "converted":
        # The converted people's messages lie all over the period: the page's ids first,
        # in order, then only those messages whole (one query: the ids are its
        # subquery). The ordering pass reads the index alone (``message_stance_idx``
        # carries the columns it needs on PostgreSQL), not each of the people's messages
        # with its text (15,000 of them over a year at 1M cases, for a page of 50). The
        # other kinds read the period in order and stop at the page's end.
        ids = messages.order_by("sent_at", "id").values("id")[offset : offset + limit]
        page = _values(Message.objects.filter(workspace=workspace, pk__in=ids))
    else:
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
