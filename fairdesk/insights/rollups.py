"""``fairdesk insights rollup``: sum the raw rows of finished days into the rollup cells.

Per workspace, in one transaction holding the workspace's ``RollupState`` row (a second
refresh waits for the first, then finds nothing to do):

1. Days that changed since the last refresh (``coverage.stale_days``) are forgotten.
2. Days measured against another SLA table than today's are forgotten, and so are
   pending days whose deadlines have all passed since (see 3).
3. Every day from the first raw row to the last finished day that is not rolled up is
   summed with the same query the pages run live, grouped by day, ``BATCH_DAYS`` at a
   time. A day is finished when it has ended — for service levels, when every deadline
   of the day has passed too (``coverage.settle_time``), so nothing on it is still
   pending by the clock. Crickets are summed when the day ends: the messages still inside
   their deadline keep their own cells, which the pages count due by the clock
   (``CricketCell``), and the day is marked ``pending``; step 2 forgets it once every
   deadline of it has passed, so it is summed again into a few cells. Days with no rows
   are recorded too: the pages then know they are empty without asking.
4. On PostgreSQL, a cell table that a refresh filled with ``ANALYZE_AFTER_DAYS`` days or
   more (the first refresh of a workspace, or after a change of SLA table) is analysed in
   the same transaction: until autovacuum gets to it (never, where it is off) the planner
   would take the new cells for a handful of rows, and sort thousands of them to group
   them where a hash does it in a quarter of the time.
5. The sets of people of every calendar month whose days are all rolled up are written
   as the union of its days' sets (``PromoterPeople`` with ``month``: a year of SPS
   reads 12 sets of each kind, not 365); a month any of whose days was forgotten or
   summed again in this refresh is dropped and written again from its new days
   (:func:`_roll_spans`, ``MONTHS``).
6. Likewise each week (Monday to Sunday) whose seven days of parity are rolled up gets
   its sums written once (``ParityWeekCell``, ``WEEKS``): a year of parity
   reads ~52 weeks of sums rather than grouping ~21,000 day cells a dimension by week.
7. The state moves on: case events up to the newest one read before step 1, and rows
   changed since ``CHANGE_OVERLAP`` before this refresh began (a write that raced the
   refresh is looked at again next time; a day recomputed twice costs nothing but time).

Pages never wait for this: a day not rolled up (or changed since) is queried live. The
demo runs it every ``fairdesk.demo.runtime.INSIGHTS_EVERY_S``; in production run it from
cron or a loop, every few minutes.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Direction, Message
from fairdesk.insights import coverage, people
from fairdesk.insights.models import (
    Cell,
    CricketCell,
    CsatCell,
    ParityCell,
    ParityWeekCell,
    PraiseCell,
    PromoterEvent,
    PromoterPeople,
    RollupDay,
    RollupState,
    RootCauseCell,
    ServiceLevelCell,
)
from fairdesk.insights.queries import (
    crickets,
    csat,
    parity,
    praise,
    promoters,
    root_causes,
    service_levels,
)
from fairdesk.insights.queries.expressions import TargetsTable
from fairdesk.portal.models import CsatResponse
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Workspace

BATCH_DAYS = 31
ANALYZE_AFTER_DAYS = BATCH_DAYS
CHANGE_OVERLAP = timedelta(minutes=5)
Figure = RollupDay.Figure
CellBuilder = Callable[[Workspace, Q, datetime, TargetsTable], list[Any]]


def _parity_cells(ws: Workspace, within: Q, now: datetime, t: TargetsTable) -> list[Any]:
    return [
        ParityCell(
            workspace=ws,
            day=row["period"],
            dimension=dimension,
            bucket=row["bucket"],
            severity=row["severity"],
            entitlement=row["entitlement"],
            **{name: row[name] or 0 for name in parity.SUMS},
        )
        for dimension, rows in parity.every_moment_row(ws, within, by="day").items()
        for row in rows
    ]


def _service_level_cells(ws: Workspace, within: Q, now: datetime, t: TargetsTable) -> list[Any]:
    return [
        ServiceLevelCell(
            workspace=ws,
            day=row["day"],
            severity=row["severity"],
            team_id=row["team_id"],
            origin_channel=row["origin_channel"],
            cases=row["cases"],
            **{name: row[name] for name in service_levels.SUMS},
        )
        for row in service_levels.day_rows(ws, within, now=now, targets=t)
    ]


def _cricket_cells(ws: Workspace, within: Q, now: datetime, t: TargetsTable) -> list[Any]:
    return [
        CricketCell(
            workspace=ws,
            day=row["day"],
            sentiment=row["sentiment"],
            is_praise=bool(row["is_praise"]),
            channel=row["channel"],
            team_id=row["case__team_id"],
            **{name: row[name] for name in (*crickets.SUMS, *crickets.PENDING)},
        )
        for row in crickets.day_rows(
            ws, within, now=now, targets=t, settle=coverage.settle_time(Figure.CRICKETS, t)
        )
    ]


def _csat_cells(ws: Workspace, within: Q, now: datetime, t: TargetsTable) -> list[Any]:
    return [
        CsatCell(
            workspace=ws,
            day=row["day"],
            origin_channel=row["case__origin_channel"],
            team_id=row["case__team_id"],
            n=row["n"],
            happy=row["happy"],
            total=row["total"] or 0,
        )
        for row in csat.day_rows(ws, within)
    ]


def _root_cause_cells(ws: Workspace, within: Q, now: datetime, t: TargetsTable) -> list[Any]:
    return [
        RootCauseCell(
            workspace=ws,
            day=row["period"],
            topic=row["topic"],
            root_cause=row["root_cause"],
            **{name: row[name] for name in root_causes.SUMS},
        )
        for row in root_causes.count_rows(ws, within, by="day")
    ]


def _promoter_cells(ws: Workspace, within: Q, now: datetime, t: TargetsTable) -> list[Any]:
    """Each day's sets of people, and the promotions and resolutions behind the times
    to conversion (``PromoterPeople``, ``PromoterEvent``)."""
    sets: dict[date, dict[str, list[int]]] = {}
    for row in promoters.day_rows(ws, within):
        day = sets.setdefault(row["day"], {name: [] for name in promoters.SETS})
        day["authors"].append(row["person"])
        for name in promoters.SETS[1:]:
            if row[name]:
                day[name].append(row["person"])
    cells: list[Any] = [
        PromoterPeople(
            workspace=ws,
            day=day,
            **{name: people.encode(people.ids_of(ids)) for name, ids in found.items()},
        )
        for day, found in sets.items()
    ]
    cells += [
        PromoterEvent(
            workspace=ws, day=row["day"], person=row["e_person"], kind=row["e_kind"], at=row["e_at"]
        )
        for row in promoters.day_events(ws, within)
    ]
    return cells


def _praise_cells(ws: Workspace, within: Q, now: datetime, t: TargetsTable) -> list[Any]:
    return [
        PraiseCell(
            workspace=ws,
            day=row["day"],
            employee_key=row["employee_key"],
            employee_name=row["e_name"],
            manager_key=row["manager_key"],
            manager_name=row["m_name"],
            kudos=row["kudos"],
            answered=row["answered_count"],
        )
        for row in praise.day_rows(ws, within)
    ]


def _first_case(ws: Workspace) -> datetime | None:
    cases = Case.objects.filter(workspace=ws).exclude(status=CaseStatus.MERGED)
    first: datetime | None = cases.aggregate(at=Min("first_inbound_at"))["at"]
    return first


def _first_message(ws: Workspace) -> datetime | None:
    messages = Message.objects.filter(workspace=ws, direction=Direction.INBOUND)
    first: datetime | None = messages.aggregate(at=Min("sent_at"))["at"]
    return first


def _first_answer(ws: Workspace) -> datetime | None:
    first: datetime | None = CsatResponse.objects.filter(workspace=ws).aggregate(
        at=Min("created_at")
    )["at"]
    return first


def _first_kudos(ws: Workspace) -> datetime | None:
    events = CaseEvent.objects.filter(workspace=ws, type=CaseEvent.Type.PRAISE_FORWARDED)
    first: datetime | None = events.aggregate(at=Min("at"))["at"]
    return first


@dataclass(frozen=True, slots=True)
class _Spec:
    figure: str
    model: type[Cell]
    field: str  # the raw column whose UTC day a cell sums
    first: Callable[[Workspace], datetime | None]
    cells: CellBuilder
    also: tuple[type[Cell], ...] = ()  # more cell tables the builder fills
    # Its cells keep what the clock can still change (messages inside their deadline), so
    # a day is summed as soon as it ends, and again once every deadline of it has passed.
    pending: bool = False

    @property
    def models(self) -> tuple[type[Cell], ...]:
        return (self.model, *self.also)


SPECS = (
    _Spec(Figure.PARITY, ParityCell, "first_inbound_at", _first_case, _parity_cells),
    _Spec(
        Figure.SERVICE_LEVELS,
        ServiceLevelCell,
        "first_inbound_at",
        _first_case,
        _service_level_cells,
    ),
    _Spec(Figure.CRICKETS, CricketCell, "sent_at", _first_message, _cricket_cells, pending=True),
    _Spec(Figure.CSAT, CsatCell, "created_at", _first_answer, _csat_cells),
    _Spec(Figure.ROOT_CAUSES, RootCauseCell, "first_inbound_at", _first_case, _root_cause_cells),
    _Spec(
        Figure.PROMOTERS,
        PromoterPeople,
        "sent_at",
        _first_message,
        _promoter_cells,
        also=(PromoterEvent,),
    ),
    _Spec(Figure.PRAISE, PraiseCell, "at", _first_kudos, _praise_cells),
)


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What one refresh of one workspace did."""

    workspace: str
    forgotten: int  # rolled-up days dropped: changed, or measured against an old SLA table
    summed: dict[str, int] = field(default_factory=dict)  # figure -> days summed


def _day_ranges(days: set[date]) -> Q | None:
    return coverage.Split(tuple(coverage.runs(days)), ()).cells()


def _batches(days: list[date]) -> Iterator[tuple[date, date]]:
    """Runs of consecutive days, at most ``BATCH_DAYS`` long."""
    for first, last in coverage.runs(days):
        while first <= last:
            end = min(last, first + timedelta(days=BATCH_DAYS - 1))
            yield first, end
            first = end + coverage.DAY


def _settled_by(spec: _Spec, now: datetime, targets: TargetsTable) -> date:
    """The last day of ``spec`` that can no longer change by the clock alone."""
    return coverage.day_of(now - coverage.settle_time(spec.figure, targets)) - coverage.DAY


def _finished_by(spec: _Spec, now: datetime, targets: TargetsTable) -> date:
    """The last day of ``spec`` to sum now: the last that ended, where its cells keep what
    the clock can still change; otherwise the last settled."""
    if spec.pending:
        return coverage.day_of(now) - coverage.DAY
    return _settled_by(spec, now, targets)


def _sum_days(
    workspace: Workspace, spec: _Spec, now: datetime, targets: TargetsTable, key: str
) -> list[date]:
    """Sum the days of ``spec`` not rolled up yet; the days summed."""
    first = spec.first(workspace)
    if first is None:
        return []
    last = _finished_by(spec, now, targets)
    settled = _settled_by(spec, now, targets)
    start = coverage.day_of(first)
    have = set(
        RollupDay.objects.filter(
            workspace=workspace, figure=spec.figure, day__gte=start, day__lte=last
        ).values_list("day", flat=True)
    )
    missing = [
        start + timedelta(days=n)
        for n in range((last - start).days + 1)
        if start + timedelta(days=n) not in have
    ]
    for a, b in _batches(missing):
        within = Q(
            **{
                f"{spec.field}__gte": coverage.day_start(a),
                f"{spec.field}__lt": coverage.day_start(b + coverage.DAY),
            }
        )
        cells = spec.cells(workspace, within, now, targets)
        for model in spec.models:
            rows = model.objects.filter(workspace=workspace, day__gte=a, day__lte=b)
            if model is PromoterPeople:
                rows = rows.filter(month=False)
            rows.delete()
            model.objects.bulk_create([c for c in cells if type(c) is model], batch_size=1000)
        RollupDay.objects.bulk_create(
            RollupDay(
                workspace=workspace,
                figure=spec.figure,
                day=a + timedelta(days=n),
                targets_key=key,
                computed_at=now,
                pending=a + timedelta(days=n) > settled,
            )
            for n in range((b - a).days + 1)
        )
    return missing


# Figures whose days are also summed into longer spans (months of people, weeks of
# parity): the spans holding a day forgotten or summed again are written again.
SPANNED = (Figure.PROMOTERS, Figure.PARITY)  # the ``days`` of MONTHS and WEEKS


def _forget(
    workspace: Workspace, state: RollupState | None, targets: TargetsTable, now: datetime
) -> tuple[int, dict[str, set[date]]]:
    """Drop the rolled-up days that changed, use an old SLA table, or were summed while
    pending and have settled since (summed again, without the rows kept for the clock):
    how many, and the days among them of the figures in ``SPANNED``."""
    forgotten = 0
    touched: dict[str, set[date]] = {figure: set() for figure in SPANNED}
    with coverage.one_read():  # the changed cases are read once for every figure
        for spec in SPECS:
            days = RollupDay.objects.filter(workspace=workspace, figure=spec.figure)
            key = coverage.targets_key(spec.figure, targets)
            dropping = [days.exclude(targets_key=key)]
            if spec.pending:
                settled = _settled_by(spec, now, targets)
                dropping.append(days.filter(pending=True, day__lte=settled))
            if state is not None:
                stale = _day_ranges(coverage.stale_days(workspace, spec.figure, state))
                if stale is not None:
                    dropping.append(days.filter(stale))
            for rows in dropping:
                if spec.figure in touched:
                    touched[spec.figure].update(rows.values_list("day", flat=True))
                forgotten += rows.delete()[0]
    return forgotten, touched


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    """The last day of the month starting on ``month``."""
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - coverage.DAY


@dataclass(frozen=True, slots=True)
class _Spans:
    """Longer spans (months, weeks) a figure's days are also summed into."""

    days: str  # the figure of the days
    figure: str  # the figure marking a span written (``day``: its first day)
    start: Callable[[date], date]  # the first day of the span holding a day
    length: Callable[[date], int]  # its days, from its first day
    rows: Callable[[Workspace], QuerySet[Any]]  # the workspace's rows of spans
    write: Callable[[Workspace, date], None]  # one span's rows, from its days' rows


def _roll_spans(spans: _Spans, workspace: Workspace, touched: set[date], now: datetime) -> int:
    """Drop the spans with a day in ``touched``, then write every span whose days are all
    rolled up and that is not written yet. The spans written."""
    marked = RollupDay.objects.filter(workspace=workspace, figure=spans.figure)
    stale = sorted({spans.start(d) for d in touched})
    for at in range(0, len(stale), coverage.CHUNK):
        chunk = stale[at : at + coverage.CHUNK]
        marked.filter(day__in=chunk).delete()
        spans.rows(workspace).filter(day__in=chunk).delete()
    have = set(marked.values_list("day", flat=True))
    rolled: dict[date, int] = {}
    for day in RollupDay.objects.filter(workspace=workspace, figure=spans.days).values_list(
        "day", flat=True
    ):
        rolled[spans.start(day)] = rolled.get(spans.start(day), 0) + 1
    due = [
        span
        for span, days in sorted(rolled.items())
        if span not in have and days == spans.length(span)
    ]
    for span in due:
        spans.rows(workspace).filter(day=span).delete()  # none, unless a marker was lost
        spans.write(workspace, span)
    RollupDay.objects.bulk_create(
        RollupDay(workspace=workspace, figure=spans.figure, day=span, computed_at=now)
        for span in due
    )
    return len(due)


def _write_month(workspace: Workspace, month: date) -> None:
    """A month's sets of people: the union of its days' sets."""
    days = PromoterPeople.objects.filter(
        workspace=workspace, month=False, day__gte=month, day__lte=month_end(month)
    ).values_list(*promoters.SETS)
    found: list[list[people.Ids]] = [[] for _ in promoters.SETS]
    for blobs in days:
        for n, blob in enumerate(blobs):
            found[n].append(people.decode(blob))
    if found[0]:
        PromoterPeople.objects.create(
            workspace=workspace,
            day=month,
            month=True,
            **{
                name: people.encode(people.union(parts))
                for name, parts in zip(promoters.SETS, found, strict=True)
            },
        )


def week_of(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def _write_week(workspace: Workspace, week: date) -> None:
    """A week's parity sums: its days' cells summed per (dimension, group, stratum)."""
    ParityWeekCell.objects.bulk_create(
        (
            ParityWeekCell(workspace=workspace, day=week, **row)
            for row in ParityCell.objects.filter(
                workspace=workspace, day__gte=week, day__lte=week + timedelta(days=6)
            )
            .values("dimension", "bucket", "severity", "entitlement")
            .annotate(**{name: Sum(name) for name in parity.SUMS})
            .order_by()
        ),
        batch_size=1000,
    )


# The sets of people of a calendar month (a year of SPS reads 12 sets of each kind, not
# 365) and the parity sums of a week (~52 rows of sums a year, not ~21,000 day cells).
MONTHS = _Spans(
    Figure.PROMOTERS,
    Figure.PROMOTER_MONTHS,
    month_of,
    lambda month: month_end(month).day,
    lambda ws: PromoterPeople.objects.filter(workspace=ws, month=True),
    _write_month,
)
WEEKS = _Spans(
    Figure.PARITY,
    Figure.PARITY_WEEKS,
    week_of,
    lambda week: 7,
    lambda ws: ParityWeekCell.objects.filter(workspace=ws),
    _write_week,
)


def _analyze(model: type[Cell]) -> None:
    """Fresh planner statistics for a cell table (PostgreSQL; SQLite plans without)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def refresh(*, workspace: Workspace, now: datetime | None = None) -> Refreshed:
    """Bring the workspace's rollups up to date (see the module docstring)."""
    now = now or timezone.now()
    targets = targets_table(workspace)
    with transaction.atomic():
        state, created = RollupState.objects.select_for_update().get_or_create(
            workspace=workspace,
            defaults={"event_cursor": 0, "changed_since": now, "refreshed_at": now},
        )
        cursor = CaseEvent.objects.filter(workspace=workspace).aggregate(last=Max("id"))["last"]
        forgotten, touched = _forget(workspace, None if created else state, targets, now)
        summed_days = {
            spec.figure: _sum_days(
                workspace, spec, now, targets, coverage.targets_key(spec.figure, targets)
            )
            for spec in SPECS
        }
        summed = {figure: len(days) for figure, days in summed_days.items()}
        for figure in SPANNED:
            touched[figure].update(summed_days[figure])
        for spans in (MONTHS, WEEKS):
            summed[spans.figure] = _roll_spans(spans, workspace, touched[spans.days], now)
        for spec in SPECS:
            if summed[spec.figure] >= ANALYZE_AFTER_DAYS:
                for model in spec.models:
                    _analyze(model)
        if summed[Figure.PARITY_WEEKS] * 7 >= ANALYZE_AFTER_DAYS:
            _analyze(ParityWeekCell)
        state.event_cursor = cursor or 0
        state.changed_since = now - CHANGE_OVERLAP
        state.refreshed_at = now
        state.save()
    return Refreshed(workspace.slug, forgotten, summed)


def refresh_all(*, now: datetime | None = None) -> list[Refreshed]:
    """Every workspace, one after the other."""
    return [refresh(workspace=w, now=now) for w in Workspace.objects.order_by("id")]


def forget_all(workspace: Workspace) -> None:
    """Drop every rollup of the workspace: the pages go live until the next refresh."""
    with transaction.atomic():
        RollupState.objects.filter(workspace=workspace).delete()
        RollupDay.objects.filter(workspace=workspace).delete()
        for spec in SPECS:
            for model in spec.models:
                model.objects.filter(workspace=workspace).delete()
        ParityWeekCell.objects.filter(workspace=workspace).delete()
