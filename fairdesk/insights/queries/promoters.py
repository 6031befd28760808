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

Whole UTC days that ``fairdesk insights rollup`` summed are read from ``PromoterCell``
(index ``promoter_cell_idx`` (workspace_id, day)): one cell per (day, contact) with
whether they promoted, whether they detracted, their last promotion (``last_promoted_at``)
and the earliest resolution of a case they detracted on, resolved at or after the
detraction (``first_done_at``). The rest of the period (partial days, today, days changed
since the refresh — including every day of both contacts' messages after a contact merge
or its undo: ``coverage.split``) is read from the raw messages through
``message_period_idx`` (workspace_id, sent_at). A calendar month whose every day is
rolled up and unchanged is read from ``PromoterMonthCell`` instead of its day cells (one
row per person and month, summed by the refresh from those day cells with the same
MAX/MIN, and summed again whenever one of its days is): a year reads ~12 rows per person
at most, the days at either end of the period from the day cells. The score is one
query: the month cells, the day cells and the live messages as one ``UNION ALL``,
grouped by contact, then counted — exact, since a distinct count over people is a
group-by over every part, never a sum of per-day counts.

"Converted" needs no scan of the period's messages either: a person converted exactly
when their last public promotion of the period came after the earliest resolution of a
case they detracted on in the period (the promotion that follows any detraction's
resolution also follows the earliest one, and the last promotion is at least as late),
so it is ``MAX(last_promoted_at) > MIN(first_done_at)`` over the person's cells and live
rows. The same query returns the converted people's contact ids; only their own
messages are then read (``identity__contact IN (…)``, ``CHUNK`` contacts a query, through
the identities' ``contact_id`` index and ``message_stance_idx``, the messages' public
promotions and warnings by identity) for the times to conversion, which need every
resolution and the first promotion after each: found in SQL by a window over each
person's events (:data:`_WAITS_SQL`), which returns one shortest wait per person rather
than every message with two timestamps to parse (at 4,500 converted people a year,
15,000 rows: most of the time the conversion took).

The drill-down lists the messages behind each count. Its per-person checks go through
the message's identity (the ``identity_id`` foreign-key index) and the identity's
contact; for "converted", the people come first from the same cells and live rows as the
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

from django.db import connections, transaction
from django.db.models import Case as SqlCase
from django.db.models import (
    DateTimeField,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Left, TruncDate

from fairdesk.cases.models import Case, Direction, Message, Visibility
from fairdesk.insights import coverage
from fairdesk.insights.models import PromoterCell, PromoterMonthCell, RollupDay
from fairdesk.insights.queries.expressions import (
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
# Converted people per query of the times to conversion. Large: PostgreSQL reads the
# identities of a chunk the same way for 500 people as for 5,000 (a scan of them all at
# 1M cases), so at 4,500 converted people in a year 500 a chunk cost 9 scans, 0.85 s.
CHUNK = 5000
WORK_MEM = "64MB"  # for the per-person grouping of the score (PostgreSQL)


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


def _public(workspace: Workspace) -> QuerySet[Message]:
    """The workspace's public, non-spam customer messages with a known author."""
    return Message.objects.filter(
        workspace=workspace,
        direction=Direction.INBOUND,
        visibility=Visibility.PUBLIC,
        is_spam=False,
        # Through the identity's contact (never NULL): an INNER JOIN, and no bitmap of
        # every message with an author from the ``identity_id`` index.
        identity__contact__isnull=False,
    )


def _done_after_detraction() -> SqlCase:
    """For a detraction (annotated ``done_at``): its case's resolution, if at or after it."""
    return SqlCase(
        When(Q(stance=DETRACTS, done_at__gte=F("sent_at")), then=F("done_at")),
        default=None,
        output_field=DateTimeField(),
    )


def _promoted_at() -> SqlCase:
    return SqlCase(
        When(Q(stance=PROMOTES), then=F("sent_at")), default=None, output_field=DateTimeField()
    )


def day_rows(workspace: Workspace, within: Q, **_: Any) -> Any:
    """The public messages written ``within``, per (day, contact): the cells' values."""
    return (
        _public(workspace)
        .filter(within)
        .annotate(done_at=resolved_at("case__"), day=TruncDate("sent_at", tzinfo=UTC))
        .values("day", "identity__contact_id")
        .annotate(
            promoted=Max(_flag(Q(stance=PROMOTES))),
            detracted=Max(_flag(Q(stance=DETRACTS))),
            last_promoted_at=Max(_promoted_at()),
            first_done_at=Min(_done_after_detraction()),
        )
        .order_by()
    )


_COLUMNS = ("person", "promoted", "detracted", "promoted_at", "done_at")


def _live_part(workspace: Workspace, live: Q) -> QuerySet[Message]:
    return (
        _public(workspace)
        .filter(live)
        .annotate(done_at=resolved_at("case__"))
        .annotate(
            s_person=F("identity__contact_id"),
            s_promoted=_flag(Q(stance=PROMOTES)),
            s_detracted=_flag(Q(stance=DETRACTS)),
            s_promoted_at=_promoted_at(),
            s_done_at=_done_after_detraction(),
        )
        .values(*(f"s_{c}" for c in _COLUMNS))
        .order_by()
    )


def _cells_part(
    workspace: Workspace, cells: Q, model: type[PromoterCell | PromoterMonthCell] = PromoterCell
) -> QuerySet[Any]:
    return (
        model.objects.filter(workspace=workspace)
        .filter(cells)
        .annotate(
            s_person=F("person"),
            s_promoted=_flag(Q(promoted=True)),
            s_detracted=_flag(Q(detracted=True)),
            s_promoted_at=F("last_promoted_at"),
            s_done_at=F("first_done_at"),
        )
        .values(*(f"s_{c}" for c in _COLUMNS))
        .order_by()
    )


# Per person (contact) over both halves, then one row of totals (kind 0) followed by the
# converted people's contact ids (kind 1). PostgreSQL materialises ``people`` once.
_SCORE_SQL = """
WITH people AS (
    SELECT s_person AS person, MAX(s_promoted) AS promoted, MAX(s_detracted) AS detracted,
           MAX(s_promoted_at) AS promoted_at, MIN(s_done_at) AS done_at
    FROM ({rows}) AS author_rows
    GROUP BY s_person
)
SELECT 0, COUNT(*), SUM(CASE WHEN promoted = 1 AND detracted = 0 THEN 1 ELSE 0 END),
       SUM(detracted), NULL
FROM people
UNION ALL
SELECT 1, 0, 0, 0, person FROM people WHERE promoted_at > done_at
"""
_CONVERTED_SQL = """
SELECT s_person
FROM ({rows}) AS author_rows
WHERE s_promoted_at IS NOT NULL OR s_done_at IS NOT NULL
GROUP BY s_person
HAVING MAX(s_promoted_at) > MIN(s_done_at)
"""


def _author_rows(workspace: Workspace, start: datetime, end: datetime) -> QuerySet[Any] | None:
    """The period's rows per person and day: the cells of the rolled-up days and the live
    messages of the rest, as one ``UNION ALL`` (None for an empty period)."""
    split = coverage.split(workspace, RollupDay.Figure.PROMOTERS, start, end)
    parts: list[QuerySet[Any]] = []
    months, days = _months_and_days(workspace, split.days)
    if months:
        parts.append(_cells_part(workspace, _day_in(months), PromoterMonthCell))
    cells = coverage.Split(days, ()).cells()
    if cells is not None:
        parts.append(_cells_part(workspace, cells))
    live = split.live_rows("sent_at")
    if live is not None:
        parts.append(_live_part(workspace, live))
    return union_all(parts) if parts else None


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
    """Cut the rolled-up, unchanged day runs into the whole months read from the month
    cells (every day of the month is in a run, so none is stale, and the refresh summed
    the month from those days) and the runs of days left over, read from the day cells."""
    candidates = _whole_months(runs)
    if not candidates:
        return [], runs
    months = set(
        RollupDay.objects.filter(
            workspace=workspace,
            figure=RollupDay.Figure.PROMOTER_MONTHS,
            day__gte=candidates[0],
            day__lte=candidates[-1],
        ).values_list("day", flat=True)
    ) & set(candidates)
    if not months:
        return [], runs
    in_months = {m + n * coverage.DAY for m in months for n in range(_month_end(m).day)}
    days = {
        first + n * coverage.DAY for first, last in runs for n in range((last - first).days + 1)
    }
    return sorted(months), tuple(coverage.runs(days - in_months))


def _day_in(months: list[date]) -> Q:
    """Month cells of the given months (runs of consecutive months as one range)."""
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


def _per_person(rows: QuerySet[Any], template: str) -> list[tuple[Any, ...]]:
    """Run ``template`` over ``rows``. On PostgreSQL in a transaction of its own settings:
    ``work_mem`` :data:`WORK_MEM`, so that grouping a year's people (hundreds of thousands
    at 1M cases) hashes in memory instead of spilling batches to disk at the default 4 MB;
    no JIT (compiling the plan costs more than this short query saves); and no parallel
    workers: the planner cannot estimate the people of a ``UNION ALL`` (it guesses 200),
    so it splits the grouping into partial hashes per worker (each still ~90,000 people
    over a year) that it then sorts and merges. One process hashing them all was faster
    on an idle machine (fd_1m: 12 months 273 -> 235 ms, 90 days 94 -> 82 ms) and does
    not take the other cores from concurrent requests."""
    connection = connections[rows.db]
    if connection.vendor != "postgresql":
        return run_over(rows, template)
    with transaction.atomic(using=rows.db, savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        return run_over(rows, template)


def social_promoter_score(workspace: Workspace, start: datetime, end: datetime) -> PromoterScore:
    """The split, one query over the cells and the live rows, then the converted people's
    times to conversion (see the module docstring)."""
    rows = _author_rows(workspace, start, end)
    if rows is None:  # an empty period
        return PromoterScore(0, 0, 0, 0, None)
    authors = promoters = detractors = 0
    converted: list[int] = []
    for kind, *counts, person in _per_person(rows, _SCORE_SQL):
        if kind == 0:
            authors, promoters, detractors = (int(n or 0) for n in counts)
        else:
            converted.append(person)
    sps = round(100 * (promoters - detractors) / authors, 1) if authors else None
    hours = _conversion_hours(_Period(workspace, start, end), converted)
    return PromoterScore(authors, promoters, detractors, len(converted), sps, hours)


def converted_people(workspace: Workspace, start: datetime, end: datetime) -> list[int]:
    """The contact ids of the people converted in the period: the score's own test
    (``MAX(last_promoted_at) > MIN(first_done_at)``) over the same cells and live rows,
    one query. Rows that neither promoted nor hold a resolution cannot change it."""
    rows = _author_rows(workspace, start, end)
    if rows is None:
        return []
    return sorted(person for (person,) in _per_person(rows, _CONVERTED_SQL))


# Per converted person, the shortest wait from a resolution to their next promotion. The
# events (promotions at ``sent_at``, resolutions at ``done_at``) are ordered newest first
# per person, so a resolution's next promotion is the earliest promotion among the rows
# before it; at the same instant the resolution sorts first: a promotion must come after.
_WAITS_SQL = """
SELECT e_person, MIN({seconds})
FROM (
    SELECT e_person, e_kind, e_done_at,
           MIN(e_promoted_at) OVER (
               PARTITION BY e_person ORDER BY e_at DESC, e_kind DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS next_promoted_at
    FROM ({rows}) AS events
) AS ordered
WHERE e_kind = 1 AND next_promoted_at IS NOT NULL
GROUP BY e_person
"""


def _conversion_events(period: _Period, people: list[int]) -> QuerySet[Any]:
    """The people's promotions (kind 0) and the resolutions of the cases they detracted
    on, at or after the detraction (kind 1), in the period: one row per message."""
    return (
        period.messages()
        .filter(identity__contact__in=people)
        .annotate(done_at=resolved_at("case__"))
        .filter(Q(stance=PROMOTES) | Q(stance=DETRACTS, done_at__gte=F("sent_at")))
        .annotate(
            e_person=F("identity__contact_id"),
            e_kind=SqlCase(When(Q(stance=PROMOTES), then=Value(0)), default=Value(1)),
            e_at=SqlCase(
                When(Q(stance=PROMOTES), then=F("sent_at")),
                default=F("done_at"),
                output_field=DateTimeField(),
            ),
            e_promoted_at=_promoted_at(),
            e_done_at=SqlCase(
                When(Q(stance=DETRACTS), then=F("done_at")),
                default=None,
                output_field=DateTimeField(),
            ),
        )
        .values("e_person", "e_kind", "e_at", "e_promoted_at", "e_done_at")
        .order_by()
    )


def _conversion_hours(period: _Period, converted: list[int]) -> float | None:
    """The median over converted people of their shortest resolution-to-promotion time.

    For each resolution (of a case the person detracted on, at or after the detraction)
    the first promotion after it, before the end of the period (a promotion after a
    resolution in the period is itself in the period): in SQL, ``CHUNK`` people a query,
    one number per person back (:data:`_WAITS_SQL`), not their every message and its
    times to parse; then the median here."""
    shortest: list[float] = []
    for at in range(0, len(converted), CHUNK):
        events = _conversion_events(period, converted[at : at + CHUNK])
        seconds = seconds_sql(connections[events.db].vendor, "next_promoted_at", "e_done_at")
        template = _WAITS_SQL.replace("{seconds}", seconds)
        shortest += [seconds / 3600 for _, seconds in run_over(events, template)]
    return round(statistics.median(shortest), 1) if shortest else None


def _messages_of(period: _Period, kind: str) -> QuerySet[Message]:
    contact = "identity__contact"
    messages = period.messages()
    if kind == "promoters":
        return messages.filter(stance=PROMOTES).exclude(period.detracted(contact))
    if kind == "detractors":
        return messages.filter(stance=DETRACTS)
    if kind == "converted":
        # The converted people first (from the rolled-up cells where it can), then only
        # their own messages: no correlated search of the period per message.
        people = converted_people(period.workspace, period.start, period.end)
        return messages.filter(stance__in=[PROMOTES, DETRACTS], identity__contact__in=people)
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
