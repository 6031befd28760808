"""Fairness parity: waits, made-whole rate and compensation, group by group.

Cases first raised in the period are grouped by channel of origin, by public vs private
(the visibility of the case's first customer message) and by follower tier (the follower
count of the identity that wrote that message, as stored on it). Within each group the
figures are compared with everyone else's at equal severity and entitlement, with a 95 %
confidence interval and a flag: see :mod:`fairdesk.insights.comparison` for the method.
Fairness means no flag: neither channel, visibility nor reach buys a faster answer, a
better outcome or more goodwill.

* **First response** and **time to resolution**: a case counts once answered, or resolved
  (or closed); an unanswered or unresolved case is counted in ``cases`` but has no wait
  yet, so a group often left waiting also shows in the crickets and service levels.
* **Made whole**: of the cases with a proposal of resolution (``followthrough.Resolution``,
  pending ones included, as in ``followthrough.queries.resolution_rates``), the share the
  customer confirmed fixed.
* **Compensation**: the share of cases with a refund or goodwill work order that was not
  cancelled (kinds :data:`COMPENSATION_KINDS`: the built-in refund, and a workspace's own
  kinds with those slugs).

The whole UTC days of the period that ``fairdesk insights rollup`` summed are read from
its cells: the whole weeks among them from ``ParityWeekCell`` (a week's sums, written once
its seven days are rolled up; index ``parity_week_idx``), the days left over from
``ParityCell`` summed by week (index ``parity_cell_idx`` (workspace_id, dimension, day));
the rest is read live, grouped by (week, group, severity, entitlement) returning counts
and moments, which add up (:mod:`fairdesk.insights.coverage`): for every dimension at once
in one query grouped by all three groups (:func:`every_moment_row`: each case, with its
resolutions and work orders, is read once, not once per dimension; ~0.6 of the time of
three queries at 1M cases), or for one dimension alone (the weekly trend). Live
indexes: the cases through ``case_period_idx`` (workspace_id, first_inbound_at); the
first customer message of each case through ``message_timeline_idx`` (case_id, sent_at),
and for the follower tier its identity by primary key (the band computed once, in that
subquery); resolutions and work orders through their ``case_id`` indexes.

Both queries' rows are read as the database returns them (``_fetch``: no Django converter
per value, the cells' week cast to a date in SQL).

The figures are then computed in Python, since each comparison needs every stratum of
every group: the rows are added up as plain running sums (``comparison.Sums``, in the
order the rows came, so the figures are the same float for float as with a ``Moments``
per addition), and a week's figures only when they are read (:class:`WeekFigures`). A
week's tally and figures are a pure function of its rows, so they are kept (``_WEEKS``,
bounded) and reused whenever the same week comes back with the very same rows: the whole
past weeks of a long period, read from the cells, are computed once per process instead
of once per request (a year of weekly comparisons is ~3,500 of them), and a week whose
rows changed (live, or re-summed by a refresh) is simply computed again.
"""

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import (
    Count,
    DateField,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Ln, Power, TruncDate, TruncWeek

from fairdesk.cases.models import Case, CaseStatus, Visibility
from fairdesk.contacts.models import ContactIdentity
from fairdesk.followthrough.models import Resolution, WorkOrder
from fairdesk.insights import coverage
from fairdesk.insights.comparison import (
    Comparison,
    GeometricMean,
    Rate,
    RateComparison,
    compare_rate_sums,
    compare_sums,
    geometric_mean_of,
    rate_of,
)
from fairdesk.insights.models import ParityCell, ParityWeekCell, RollupDay
from fairdesk.insights.queries.expressions import (
    FOLLOWER_TIERS,
    UNKNOWN_TIER,
    Seconds,
    first_inbound,
    follower_tier,
    resolved_at,
)
from fairdesk.routing.models import Severity
from fairdesk.workspaces.models import Workspace

DIMENSIONS = ("channel", "visibility", "tier")
METRICS = ("first_response", "resolution")
RATES = ("made_whole", "compensation")
COMPENSATION_KINDS = (WorkOrder.Kind.REFUND.value, "compensation", "goodwill")
SUMS = (
    "cases",
    *(f"{m}_{part}" for m in METRICS for part in ("n", "sum", "squares")),
    "proposed",
    "made_whole",
    "compensated",
)
VISIBILITIES = (Visibility.PUBLIC.value, Visibility.PRIVATE.value)
SEVERITIES = tuple(s.value for s in Severity)
UNKNOWN = "unknown"

Stratum = tuple[str, str]  # (severity, entitlement)
Sums = tuple[Any, Any, Any]  # (n, Σy, Σy²): see comparison.Sums


@dataclass(frozen=True, slots=True)
class SeverityFigure:
    severity: str
    measured: int
    minutes: float | None  # geometric mean


@dataclass(frozen=True, slots=True)
class GroupFigure:
    group: str
    cases: int
    measured: int  # answered (first response) or resolved (resolution)
    geometric_mean: GeometricMean | None
    by_severity: tuple[SeverityFigure, ...]
    versus_rest: Comparison | None


@dataclass(frozen=True, slots=True)
class SeverityRate:
    severity: str
    cases: int
    percent: float | None


@dataclass(frozen=True, slots=True)
class RateFigure:
    group: str
    cases: int  # the cases the rate is over (made whole: those with a proposal)
    count: int  # of which made whole (or compensated)
    rate: Rate | None
    by_severity: tuple[SeverityRate, ...]
    versus_rest: RateComparison | None


class WeekFigures:
    """One week of one dimension: the period's four figures, for the week's cases.

    Built by :func:`figures_of` with each figure computed when first read: the overview
    shows only the weekly first response, the API and the CSV export read all four.
    Compares equal to another week with the same figures, however it was built."""

    __slots__ = ("_compute", "_found", "_kept", "week")
    week: date  # the Monday the week starts on (UTC)

    def __init__(
        self,
        week: date,
        first_response: tuple[GroupFigure, ...],
        resolution: tuple[GroupFigure, ...],
        made_whole: tuple[RateFigure, ...],
        compensation: tuple[RateFigure, ...],
    ) -> None:
        self.week = week
        self._found: dict[str, tuple[Any, ...]] = {
            "first_response": first_response,
            "resolution": resolution,
            "made_whole": made_whole,
            "compensation": compensation,
        }
        self._compute: Callable[[str], tuple[Any, ...]] | None = None
        self._kept: dict[str, Any] = {}

    @classmethod
    def computed_on_read(
        cls, week: date, compute: Callable[[str], tuple[Any, ...]]
    ) -> "WeekFigures":
        """A week whose figure ``metric`` is ``compute(metric)``, computed once when read."""
        found = cls(week, (), (), (), ())
        found._found = {}
        found._compute = compute
        return found

    def _figure(self, metric: str) -> tuple[Any, ...]:
        found = self._found.get(metric)
        if found is None:
            assert self._compute is not None
            found = self._found[metric] = self._compute(metric)
        return found

    @property
    def first_response(self) -> tuple[GroupFigure, ...]:
        return self._figure("first_response")

    @property
    def resolution(self) -> tuple[GroupFigure, ...]:
        return self._figure("resolution")

    @property
    def made_whole(self) -> tuple[RateFigure, ...]:
        return self._figure("made_whole")

    @property
    def compensation(self) -> tuple[RateFigure, ...]:
        return self._figure("compensation")

    def kept(self, key: str, make: Callable[["WeekFigures"], Any]) -> Any:
        """``make(self)``, made once per ``key`` and kept with the week: its figures never
        change, so neither does what a reader makes of them (the API keeps its JSON here,
        so a past week cached in ``_WEEKS`` is rendered once per process)."""
        found = self._kept.get(key)
        if found is None:
            found = self._kept[key] = make(self)
        return found

    def _figures(self) -> tuple[Any, ...]:
        return (self.week, *(self._figure(m) for m in (*METRICS, *RATES)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeekFigures):
            return NotImplemented
        return self._figures() == other._figures()

    def __hash__(self) -> int:
        return hash(self._figures())

    def __repr__(self) -> str:
        return f"WeekFigures{self._figures()!r}"


@dataclass(frozen=True, slots=True)
class DimensionParity:
    dimension: str
    groups: tuple[str, ...]
    first_response: tuple[GroupFigure, ...]
    resolution: tuple[GroupFigure, ...]
    made_whole: tuple[RateFigure, ...]
    compensation: tuple[RateFigure, ...]
    weeks: tuple[WeekFigures, ...]

    @property
    def by_group(self) -> tuple[tuple[GroupFigure, GroupFigure], ...]:
        """(first response, resolution) of each group, for tables that show both."""
        return tuple(zip(self.first_response, self.resolution, strict=True))

    @property
    def outcomes(self) -> tuple[tuple[RateFigure, RateFigure], ...]:
        """(made whole, compensation) of each group."""
        return tuple(zip(self.made_whole, self.compensation, strict=True))


@dataclass(slots=True)
class _Tally:
    """What one week (or the period) of one dimension adds up to: case counts, and per
    metric the running sums ``(n, Σy, Σy²)`` (waits in log-seconds, rates as occurrences)
    per group and stratum — plain tuples, not a ``Moments`` per addition (``comparison.Sums``):
    a tuple of numbers only is untracked by the cyclic garbage collector, and there are tens
    of thousands of them over a year. Keys keep the order they were first met in, so every
    sum adds in a fixed order. The additions are written out where they run (``_tally``,
    ``_period_tally``, ``_everyone``): a function call per addition was a third of the time
    a year of weekly figures took."""

    cases: dict[str, dict[Stratum, int]]
    sums: dict[str, dict[str, dict[Stratum, Sums]]]  # metric -> group -> stratum -> sums


def _new_tally() -> _Tally:
    return _Tally({}, {m: {} for m in (*METRICS, *RATES)})


def _group_expression(dimension: str) -> Any:
    if dimension == "channel":
        return F("origin_channel")
    if dimension == "visibility":
        return Coalesce(first_inbound("visibility"), Value(UNKNOWN))
    # The identity of the case's first customer message, then its band: a CASE over a
    # subquery would repeat the subquery in each of its branches, and a join inside it
    # would join every customer message of the case before taking the first.
    identity = ContactIdentity.objects.filter(pk=first_inbound("identity_id", outer="pk"))
    return Coalesce(
        Subquery(identity.annotate(tier=follower_tier("follower_count")).values("tier")),
        Value(UNKNOWN_TIER),
    )


def _log_seconds(done: Any) -> Ln:
    """ln of the wait in seconds; a wait under one second (or negative) counts as one."""
    return Ln(Greatest(Seconds(done, F("first_inbound_at")), Value(1.0), output_field=FloatField()))


def _compensation() -> Exists:
    return Exists(
        WorkOrder.objects.filter(case=OuterRef("pk"), kind__in=COMPENSATION_KINDS).exclude(
            status=WorkOrder.Status.CANCELLED
        )
    )


def _cases(workspace: Workspace, within: Q, *, by: str) -> QuerySet[Case]:
    """The cases first raised ``within``, each with its period (``by``: ``"week"`` or
    ``"day"``) and what the sums need."""
    period = TruncWeek if by == "week" else TruncDate
    return (
        Case.objects.filter(workspace=workspace)
        .filter(within)
        .exclude(status=CaseStatus.MERGED)  # counted once, in the case it joined
        .annotate(
            period=period("first_inbound_at", tzinfo=UTC),
            done_at=resolved_at(),
            has_proposal=Exists(Resolution.objects.filter(case=OuterRef("pk"))),
            was_made_whole=Exists(
                Resolution.objects.filter(case=OuterRef("pk"), outcome=Resolution.Outcome.CONFIRMED)
            ),
            has_compensation=_compensation(),
        )
    )


def _aggregates() -> dict[str, Any]:
    """The sums (:data:`SUMS`) of a group of cases from :func:`_cases`."""
    aggregates: dict[str, Any] = {"cases": Count("id")}
    for metric, field in (("first_response", "first_response_at"), ("resolution", "done_at")):
        measured = Q(**{f"{field}__isnull": False})
        log = _log_seconds(F(field))
        aggregates[f"{metric}_n"] = Count("id", filter=measured)
        aggregates[f"{metric}_sum"] = Sum(log, filter=measured)
        aggregates[f"{metric}_squares"] = Sum(Power(log, 2), filter=measured)
    aggregates["proposed"] = Count("id", filter=Q(has_proposal=True))
    aggregates["made_whole"] = Count("id", filter=Q(was_made_whole=True))
    aggregates["compensated"] = Count("id", filter=Q(has_compensation=True))
    return aggregates


def moment_rows(workspace: Workspace, within: Q, dimension: str, *, by: str) -> Any:
    """Counts and moments of the cases first raised ``within``, per period (``by``:
    ``"week"`` or ``"day"``), group, severity and entitlement: one query."""
    return (
        _cases(workspace, within, by=by)
        .annotate(bucket=_group_expression(dimension))
        .values("period", "bucket", "severity", "entitlement")
        .annotate(**_aggregates())
        .order_by()
    )


def every_moment_row(
    workspace: Workspace, within: Q, *, by: str
) -> dict[str, list[dict[str, Any]]]:
    """:func:`moment_rows` of every dimension from one query grouped by all three groups
    at once (each case read once, not once per dimension), added up here per dimension,
    rows in the order met."""
    buckets = {f"bucket_{d}": _group_expression(d) for d in DIMENSIONS}
    rows = _fetch(
        _cases(workspace, within, by=by)
        .annotate(**buckets)
        .values("period", *buckets, "severity", "entitlement")
        .annotate(**_aggregates())
        .order_by()
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for dimension in DIMENSIONS:
        name = f"bucket_{dimension}"
        into: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = (row["period"], row[name], row["severity"], row["entitlement"])
            summed = into.get(key)
            if summed is None:
                into[key] = {
                    "period": key[0],
                    "bucket": key[1],
                    "severity": key[2],
                    "entitlement": key[3],
                    **{sum_: row[sum_] for sum_ in SUMS},
                }
                continue
            for sum_ in SUMS:  # a float sum is None where no case was measured
                value = row[sum_]
                if value is not None:
                    before = summed[sum_]
                    summed[sum_] = value if before is None else before + value
        found[dimension] = list(into.values())
    return found


def _whole_weeks(runs: tuple[tuple[date, date], ...]) -> list[date]:
    """The Mondays of the weeks lying wholly inside one of the runs."""
    weeks = []
    for first, last in runs:
        week = first + timedelta(days=-first.weekday() % 7)
        while week + timedelta(days=6) <= last:
            weeks.append(week)
            week += timedelta(days=7)
    return weeks


def _weeks_and_days(
    workspace: Workspace, runs: tuple[tuple[date, date], ...]
) -> tuple[list[date], tuple[tuple[date, date], ...]]:
    """The whole weeks read from ``ParityWeekCell``, and the runs of days left over."""
    return coverage.spans_and_days(
        workspace, RollupDay.Figure.PARITY_WEEKS, runs, _whole_weeks(runs), lambda week: 7
    )


def _week_rows(workspace: Workspace, weeks: list[date], dimension: str) -> Any:
    """The sums of whole weeks, as :func:`_cell_rows` gives them (runs of consecutive
    weeks read as one range of Mondays)."""
    ranges: list[tuple[date, date]] = []
    for week in weeks:
        if ranges and ranges[-1][1] + timedelta(days=7) == week:
            ranges[-1] = (ranges[-1][0], week)
        else:
            ranges.append((week, week))
    within = Q()
    for first, last in ranges:
        within |= Q(day__gte=first, day__lte=last)
    return (
        ParityWeekCell.objects.filter(workspace=workspace, dimension=dimension)
        .filter(within)
        .values("bucket", "severity", "entitlement", *SUMS, period=F("day"))
        .order_by()
    )


def _cell_rows(workspace: Workspace, cells: Q, dimension: str) -> Any:
    """The same sums from the rolled-up days, per (week, group, severity, entitlement)."""
    return (
        ParityCell.objects.filter(workspace=workspace, dimension=dimension)
        .filter(cells)
        # A date, not the timestamp DATE_TRUNC makes of one: loading ~2,000 time-zone-aware
        # timestamps per dimension and year, then truncating each back to a date, cost more
        # than the query.
        .annotate(period=Cast(TruncWeek("day"), DateField()))
        .values("period", "bucket", "severity", "entitlement")
        .annotate(**{name: Sum(name) for name in SUMS})
        .order_by()
    )


def _fetch(rows: QuerySet[Any]) -> list[dict[str, Any]]:
    """The rows of a ``values()`` query as the database returns them: counts and sums are
    already ``int`` and ``float`` on both backends, so Django's per-value converters (ten a
    row, some 5,600 rows a year) are skipped; the week is left to :func:`_week`."""
    query = rows.query
    names = (
        list(query.selected)
        if query.selected
        else [*query.extra_select, *query.values_select, *query.annotation_select]
    )
    sql, params = query.get_compiler(using=rows.db).as_sql()
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class _Cut:
    """Where a period's parity rows come from: the split, and its rolled-up days cut into
    whole weeks and the runs of days left over (read once for every dimension)."""

    split: coverage.Split
    weeks: list[date]
    runs: tuple[tuple[date, date], ...]


def _cut(workspace: Workspace, start: datetime, end: datetime) -> _Cut:
    split = coverage.split(workspace, RollupDay.Figure.PARITY, start, end)
    return _Cut(split, *_weeks_and_days(workspace, split.days))


def _rows(
    workspace: Workspace,
    cut: _Cut,
    dimension: str,
    *,
    live_rows: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The dimension's rows: live (``live_rows`` when already read), whole weeks, days."""
    rows: list[dict[str, Any]] = []
    live = cut.split.live_rows("first_inbound_at")
    if live_rows is not None:
        rows += live_rows
    elif live is not None:
        rows += _fetch(moment_rows(workspace, live, dimension, by="week"))
    weeks, runs = cut.weeks, cut.runs
    if weeks:
        rows += _fetch(_week_rows(workspace, weeks, dimension))
    cells = coverage.Split(runs, ()).cells()
    if cells is not None:
        rows += _fetch(_cell_rows(workspace, cells, dimension))
    return rows


def _week(value: date | datetime | str) -> date:
    """The Monday of a row's week: a date, an aware datetime (PostgreSQL's ``DATE_TRUNC``
    of a timestamp) or, from SQLite's raw rows, an ISO string."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _by_week(rows: list[dict[str, Any]]) -> dict[date, list[dict[str, Any]]]:
    """The rows per week, weeks in the order first met and rows in the order they came (a
    week read both live and from the cells has two rows per key)."""
    weeks: dict[date, list[dict[str, Any]]] = {}
    for row in rows:
        week = _week(row["period"])
        found = weeks.get(week)
        if found is None:
            weeks[week] = [row]
        else:
            found.append(row)
    return weeks


def _tally(rows: list[dict[str, Any]]) -> _Tally:
    """One week's rows added up per group and stratum, metric by metric (each cell's sums
    still add in the order the rows came)."""
    tally = _new_tally()
    keys = [(row["bucket"], (row["severity"], row["entitlement"])) for row in rows]
    cases = [row["cases"] for row in rows]
    counts_of = tally.cases
    for (bucket, stratum), n in zip(keys, cases, strict=True):
        counts = counts_of.get(bucket)
        if counts is None:
            counts = counts_of[bucket] = {}
        counts[stratum] = counts.get(stratum, 0) + n
    made_whole = [float(row["made_whole"]) for row in rows]
    compensated = [float(row["compensated"]) for row in rows]
    for metric, ns, totals, squares in (
        (
            "first_response",
            [row["first_response_n"] for row in rows],
            [row["first_response_sum"] or 0.0 for row in rows],
            [row["first_response_squares"] or 0.0 for row in rows],
        ),
        (
            "resolution",
            [row["resolution_n"] for row in rows],
            [row["resolution_sum"] or 0.0 for row in rows],
            [row["resolution_squares"] or 0.0 for row in rows],
        ),
        # Rates as occurrences (comparison.occurrences): Σy = Σy² = the count.
        ("made_whole", [row["proposed"] for row in rows], made_whole, made_whole),
        ("compensation", cases, compensated, compensated),
    ):
        groups = tally.sums[metric]
        for (bucket, stratum), n, total, sq in zip(keys, ns, totals, squares, strict=True):
            cells = groups.get(bucket)
            if cells is None:
                cells = groups[bucket] = {}
            found = cells.get(stratum)  # added in place (see _Tally)
            if found is None:
                cells[stratum] = (0 + n, 0.0 + total, 0.0 + sq)
            else:
                cells[stratum] = (found[0] + n, found[1] + total, found[2] + sq)
    return tally


class _Week:
    """A week's tally and its figures for each list of groups they were read for."""

    __slots__ = ("figures", "tally")

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally
        self.figures: dict[tuple[str, ...], WeekFigures] = {}


# A week's figures are a pure function of its rows, so a week seen before with the very
# same rows (in the same order: the sums add in it) is taken from here, tally and figures
# computed once. Whole past weeks read from the cells repeat from request to request
# until a refresh re-sums one of their days; a live week's rows change and miss. Bounded,
# least recently used out: a year of the three dimensions is ~160 weeks, ~70 KB each
# once all four figures were read (measured at 1M cases), plus ~9 KB of API JSON once
# rendered (``WeekFigures.kept``), so ~25 MB at most.
_WEEKS: OrderedDict[tuple[Any, ...], _Week] = OrderedDict()
_WEEKS_MAX = 320
_WEEKS_LOCK = threading.Lock()


def _week_of(dimension: str, week: date, rows: list[dict[str, Any]]) -> _Week:
    key = (dimension, week, *(tuple(row.values()) for row in rows))
    with _WEEKS_LOCK:
        found = _WEEKS.get(key)
        if found is not None:
            _WEEKS.move_to_end(key)
            return found
    found = _Week(_tally(rows))
    with _WEEKS_LOCK:
        _WEEKS[key] = found
        while len(_WEEKS) > _WEEKS_MAX:
            _WEEKS.popitem(last=False)
    return found


def _period_tally(weeks: dict[date, _Week]) -> _Tally:
    total = _new_tally()
    for week in weeks.values():
        tally = week.tally
        for group, counts in tally.cases.items():
            into = total.cases.setdefault(group, {})
            for stratum, cases in counts.items():
                into[stratum] = into.get(stratum, 0) + cases
        for metric, groups in tally.sums.items():
            into_groups = total.sums[metric]
            for group, cells in groups.items():
                into_sums = into_groups.get(group)
                if into_sums is None:
                    into_sums = into_groups[group] = {}
                for stratum, sums in cells.items():  # added in place (see _Tally)
                    found = into_sums.get(stratum)
                    if found is None:
                        into_sums[stratum] = (0 + sums[0], 0.0 + sums[1], 0.0 + sums[2])
                    else:
                        into_sums[stratum] = (
                            found[0] + sums[0],
                            found[1] + sums[1],
                            found[2] + sums[2],
                        )
    return total


def _everyone(cells: dict[str, dict[Stratum, Sums]]) -> dict[Stratum, Sums]:
    everyone: dict[Stratum, Sums] = {}
    for group_cells in cells.values():
        for stratum, sums in group_cells.items():  # added in place (see _Tally)
            found = everyone.get(stratum)
            if found is None:
                everyone[stratum] = (0 + sums[0], 0.0 + sums[1], 0.0 + sums[2])
            else:
                everyone[stratum] = (found[0] + sums[0], found[1] + sums[1], found[2] + sums[2])
    return everyone


def _totals(cells: dict[Stratum, Sums]) -> tuple[list[Any], dict[str, list[Any]]]:
    """The group's sums over every stratum, and per severity (each in stratum order)."""
    total: list[Any] = [0, 0.0, 0.0]
    by_severity: dict[str, list[Any]] = {}
    for (severity, _), (n, t, sq) in cells.items():
        total[0] += n
        total[1] += t
        total[2] += sq
        sums = by_severity.get(severity)
        if sums is None:
            by_severity[severity] = [0 + n, 0.0 + t, 0.0 + sq]
        else:
            sums[0] += n
            sums[1] += t
            sums[2] += sq
    return total, by_severity


_NONE: Sums = (0, 0.0, 0.0)


def _minutes(sums: Sums | list[Any]) -> float | None:
    """``geometric_mean_of(sums).minutes`` without the interval a severity does not show."""
    n = sums[0]
    return round(math.exp(sums[1] / n) / 60, 1) if n else None


def _percent(sums: Sums | list[Any]) -> float | None:
    """``rate_of(sums).percent`` without the interval a severity does not show."""
    n = sums[0]
    return round(100 * (sums[1] / n), 1) if n else None


def _figures(tally: _Tally, metric: str, groups: tuple[str, ...]) -> tuple[GroupFigure, ...]:
    cells = tally.sums[metric]
    everyone = _everyone(cells)
    figures = []
    for group in groups:
        mine = cells.get(group, {})
        total, by_severity = _totals(mine)
        severities = tuple(
            SeverityFigure(severity, sums[0], _minutes(sums))
            for severity in SEVERITIES
            for sums in (by_severity.get(severity, _NONE),)
        )
        figures.append(
            GroupFigure(
                group,
                sum(tally.cases.get(group, {}).values()),
                total[0],
                geometric_mean_of(total),
                severities,
                compare_sums(mine, everyone),
            )
        )
    return tuple(figures)


def _rate_figures(tally: _Tally, metric: str, groups: tuple[str, ...]) -> tuple[RateFigure, ...]:
    cells = tally.sums[metric]
    everyone = _everyone(cells)
    figures = []
    for group in groups:
        mine = cells.get(group, {})
        total, by_severity = _totals(mine)
        severities = tuple(
            SeverityRate(severity, sums[0], _percent(sums))
            for severity in SEVERITIES
            for sums in (by_severity.get(severity, _NONE),)
        )
        figures.append(
            RateFigure(
                group,
                total[0],
                round(total[1]),
                rate_of(total),
                severities,
                compare_rate_sums(mine, everyone),
            )
        )
    return tuple(figures)


def _groups(dimension: str, tally: _Tally) -> tuple[str, ...]:
    if dimension == "visibility":
        return VISIBILITIES + tuple(sorted(set(tally.cases) - set(VISIBILITIES)))
    if dimension == "tier":
        return FOLLOWER_TIERS
    return tuple(sorted(tally.cases))


def _week_figures(day: date, week: _Week, groups: tuple[str, ...]) -> WeekFigures:
    found = week.figures.get(groups)
    if found is None:
        tally = week.tally

        def compute(metric: str) -> tuple[Any, ...]:
            if metric in METRICS:
                return _figures(tally, metric, groups)
            return _rate_figures(tally, metric, groups)

        found = week.figures.setdefault(groups, WeekFigures.computed_on_read(day, compute))
    return found


def dimension_parity(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    dimension: str,
    *,
    cut: _Cut | None = None,
) -> DimensionParity:
    """Parity of one dimension (``channel``, ``visibility`` or ``tier``)."""
    if cut is None:
        cut = _cut(workspace, start, end)
    return figures_of(dimension, _rows(workspace, cut, dimension))


def figures_of(dimension: str, rows: list[dict[str, Any]]) -> DimensionParity:
    """The figures of one dimension from its rows (``moment_rows`` by week, cells summed
    by week): in Python, since the comparison needs every stratum of every group."""
    weeks = {week: _week_of(dimension, week, found) for week, found in _by_week(rows).items()}
    period = _period_tally(weeks)
    groups = _groups(dimension, period)
    return DimensionParity(
        dimension=dimension,
        groups=groups,
        first_response=_figures(period, "first_response", groups),
        resolution=_figures(period, "resolution", groups),
        made_whole=_rate_figures(period, "made_whole", groups),
        compensation=_rate_figures(period, "compensation", groups),
        weeks=tuple(_week_figures(week, weeks[week], groups) for week in sorted(weeks)),
    )


def parity(workspace: Workspace, start: datetime, end: datetime) -> tuple[DimensionParity, ...]:
    """Every dimension: where the period is cut (``coverage.split``), one query of the
    live days for all three (:func:`every_moment_row`), then per dimension the rolled-up
    weeks and days."""
    cut = _cut(workspace, start, end)
    with coverage.without_jit():
        live = cut.split.live_rows("first_inbound_at")
        every = {} if live is None else every_moment_row(workspace, live, by="week")
        return tuple(
            figures_of(d, _rows(workspace, cut, d, live_rows=every.get(d, []))) for d in DIMENSIONS
        )
