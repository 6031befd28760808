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
``ParityCell`` (index ``parity_cell_idx`` (workspace_id, dimension, day)); the rest is one
live query per dimension grouped by (week, group, severity, entitlement) returning counts
and moments, which add up (:mod:`fairdesk.insights.coverage`). Live indexes: the cases
through ``case_period_idx`` (workspace_id, first_inbound_at); the first customer message of
each case through ``message_timeline_idx`` (case_id, sent_at); resolutions and work orders
through their ``case_id`` indexes.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Count, Exists, F, FloatField, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Ln, Power, TruncDate, TruncWeek

from fairdesk.cases.models import Case, CaseStatus, Visibility
from fairdesk.followthrough.models import Resolution, WorkOrder
from fairdesk.insights import coverage
from fairdesk.insights.comparison import (
    Comparison,
    GeometricMean,
    Moments,
    Rate,
    RateComparison,
    compare,
    compare_rates,
    geometric_mean,
    occurrences,
    rate,
)
from fairdesk.insights.models import ParityCell, RollupDay
from fairdesk.insights.queries.expressions import (
    FOLLOWER_TIERS,
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
Cells = dict[str, dict[Stratum, Moments]]  # group -> stratum -> moments


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


@dataclass(frozen=True, slots=True)
class WeekFigures:
    week: date  # the Monday the week starts on (UTC)
    first_response: tuple[GroupFigure, ...]
    resolution: tuple[GroupFigure, ...]
    made_whole: tuple[RateFigure, ...]
    compensation: tuple[RateFigure, ...]


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
    """What one week of one dimension adds up to: case counts, and moments per metric
    (waits in log-seconds, rates as occurrences)."""

    cases: dict[str, dict[Stratum, int]]
    moments: dict[str, Cells]


def _new_tally() -> _Tally:
    return _Tally(defaultdict(dict), {m: defaultdict(dict) for m in (*METRICS, *RATES)})


def _group_expression(dimension: str) -> Any:
    if dimension == "channel":
        return F("origin_channel")
    if dimension == "visibility":
        return Coalesce(first_inbound("visibility"), Value(UNKNOWN))
    return follower_tier("followers")


def _log_seconds(done: Any) -> Ln:
    """ln of the wait in seconds; a wait under one second (or negative) counts as one."""
    return Ln(Greatest(Seconds(done, F("first_inbound_at")), Value(1.0), output_field=FloatField()))


def _compensation() -> Exists:
    return Exists(
        WorkOrder.objects.filter(case=OuterRef("pk"), kind__in=COMPENSATION_KINDS).exclude(
            status=WorkOrder.Status.CANCELLED
        )
    )


def moment_rows(workspace: Workspace, within: Q, dimension: str, *, by: str) -> Any:
    """Counts and moments of the cases first raised ``within``, per period (``by``:
    ``"week"`` or ``"day"``), group, severity and entitlement: one query."""
    cases = (
        Case.objects.filter(workspace=workspace)
        .filter(within)
        .exclude(status=CaseStatus.MERGED)  # counted once, in the case it joined
    )
    if dimension == "tier":
        cases = cases.annotate(followers=first_inbound("identity__follower_count"))
    period = TruncWeek if by == "week" else TruncDate
    cases = cases.annotate(
        bucket=_group_expression(dimension),
        period=period("first_inbound_at", tzinfo=UTC),
        done_at=resolved_at(),
        has_proposal=Exists(Resolution.objects.filter(case=OuterRef("pk"))),
        was_made_whole=Exists(
            Resolution.objects.filter(case=OuterRef("pk"), outcome=Resolution.Outcome.CONFIRMED)
        ),
        has_compensation=_compensation(),
    )
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
    return (
        cases.values("period", "bucket", "severity", "entitlement")
        .annotate(**aggregates)
        .order_by()
    )


def _cell_rows(workspace: Workspace, cells: Q, dimension: str) -> Any:
    """The same sums from the rolled-up days, per (week, group, severity, entitlement)."""
    return (
        ParityCell.objects.filter(workspace=workspace, dimension=dimension)
        .filter(cells)
        .annotate(period=TruncWeek("day"))
        .values("period", "bucket", "severity", "entitlement")
        .annotate(**{name: Sum(name) for name in SUMS})
        .order_by()
    )


def _rows(workspace: Workspace, split: coverage.Split, dimension: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    live = split.live_rows("first_inbound_at")
    if live is not None:
        rows += moment_rows(workspace, live, dimension, by="week")
    cells = split.cells()
    if cells is not None:
        rows += _cell_rows(workspace, cells, dimension)
    return rows


def _week(value: date | datetime) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _add(into: dict[Any, Any], more: dict[Any, Any], zero: Any) -> None:
    for key, value in more.items():
        into[key] = into.get(key, zero) + value


def _tallies(rows: list[dict[str, Any]]) -> dict[date, _Tally]:
    weeks: dict[date, _Tally] = {}
    for row in rows:
        tally = weeks.setdefault(_week(row["period"]), _new_tally())
        stratum = (row["severity"], row["entitlement"])
        _add(tally.cases[row["bucket"]], {stratum: row["cases"]}, 0)
        found = {
            metric: Moments(
                row[f"{metric}_n"], row[f"{metric}_sum"] or 0.0, row[f"{metric}_squares"] or 0.0
            )
            for metric in METRICS
        }
        found["made_whole"] = occurrences(row["proposed"], row["made_whole"])
        found["compensation"] = occurrences(row["cases"], row["compensated"])
        for metric, moments in found.items():
            _add(tally.moments[metric][row["bucket"]], {stratum: moments}, Moments())
    return weeks


def _period_tally(weeks: dict[date, _Tally]) -> _Tally:
    total = _new_tally()
    for tally in weeks.values():
        for group, cells in tally.cases.items():
            _add(total.cases[group], cells, 0)
        for metric in (*METRICS, *RATES):
            for group, moments in tally.moments[metric].items():
                _add(total.moments[metric][group], moments, Moments())
    return total


def _by_severity(cells: dict[Stratum, Moments]) -> tuple[SeverityFigure, ...]:
    figures = []
    for severity in SEVERITIES:
        moments = sum((m for (s, _), m in cells.items() if s == severity), Moments())
        mean = geometric_mean(moments)
        figures.append(SeverityFigure(severity, moments.n, mean.minutes if mean else None))
    return tuple(figures)


def _everyone(cells: Cells) -> dict[Stratum, Moments]:
    everyone: dict[Stratum, Moments] = {}
    for group_cells in cells.values():
        _add(everyone, group_cells, Moments())
    return everyone


def _figures(tally: _Tally, metric: str, groups: tuple[str, ...]) -> tuple[GroupFigure, ...]:
    cells = tally.moments[metric]
    everyone = _everyone(cells)
    figures = []
    for group in groups:
        mine = cells.get(group, {})
        total = sum(mine.values(), Moments())
        figures.append(
            GroupFigure(
                group=group,
                cases=sum(tally.cases.get(group, {}).values()),
                measured=total.n,
                geometric_mean=geometric_mean(total),
                by_severity=_by_severity(mine),
                versus_rest=compare(mine, everyone),
            )
        )
    return tuple(figures)


def _severity_rates(cells: dict[Stratum, Moments]) -> tuple[SeverityRate, ...]:
    figures = []
    for severity in SEVERITIES:
        moments = sum((m for (s, _), m in cells.items() if s == severity), Moments())
        found = rate(moments)
        figures.append(SeverityRate(severity, moments.n, found.percent if found else None))
    return tuple(figures)


def _rate_figures(tally: _Tally, metric: str, groups: tuple[str, ...]) -> tuple[RateFigure, ...]:
    cells = tally.moments[metric]
    everyone = _everyone(cells)
    figures = []
    for group in groups:
        mine = cells.get(group, {})
        total = sum(mine.values(), Moments())
        figures.append(
            RateFigure(
                group=group,
                cases=total.n,
                count=round(total.total),
                rate=rate(total),
                by_severity=_severity_rates(mine),
                versus_rest=compare_rates(mine, everyone),
            )
        )
    return tuple(figures)


def _groups(dimension: str, tally: _Tally) -> tuple[str, ...]:
    if dimension == "visibility":
        return VISIBILITIES + tuple(sorted(set(tally.cases) - set(VISIBILITIES)))
    if dimension == "tier":
        return FOLLOWER_TIERS
    return tuple(sorted(tally.cases))


def _week_figures(week: date, tally: _Tally, groups: tuple[str, ...]) -> WeekFigures:
    return WeekFigures(
        week,
        _figures(tally, "first_response", groups),
        _figures(tally, "resolution", groups),
        _rate_figures(tally, "made_whole", groups),
        _rate_figures(tally, "compensation", groups),
    )


def dimension_parity(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    dimension: str,
    *,
    split: coverage.Split | None = None,
) -> DimensionParity:
    """Parity of one dimension (``channel``, ``visibility`` or ``tier``)."""
    if split is None:
        split = coverage.split(workspace, RollupDay.Figure.PARITY, start, end)
    weeks = _tallies(_rows(workspace, split, dimension))
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
    """Every dimension: where the period is cut (``coverage.split``), then per dimension
    one query of the live days and one of the rolled-up cells."""
    split = coverage.split(workspace, RollupDay.Figure.PARITY, start, end)
    return tuple(dimension_parity(workspace, start, end, d, split=split) for d in DIMENSIONS)
