"""Fairness parity: first-response time and time to resolution, group by group.

Cases first raised in the period are grouped by channel of origin, by public vs private
(the visibility of the case's first customer message) and by follower tier (the follower
count of the identity that wrote that message, as stored on it). Within each group the
waits are compared with everyone else's at equal severity and entitlement, with a 95 %
confidence interval and a flag: see :mod:`fairdesk.insights.comparison` for the method.
Fairness means no flag: neither channel, visibility nor reach buys a faster answer.

A case counts towards time to resolution once it is resolved (or closed); an unanswered
or unresolved case is counted in ``cases`` but has no wait yet, so a group that is often
left waiting also shows in the crickets and service-level figures. The made-whole rate
and compensation/goodwill need work orders, which do not exist yet: they are not here.

One query per dimension, grouped by (week, group, severity, entitlement), returns the
moments of the log-seconds; weeks add up to the period in Python. Indexes: the cases of
the period through ``case_period_idx`` (workspace_id, first_inbound_at); the first
customer message of each case through ``message_timeline_idx`` (case_id, sent_at).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Count, F, FloatField, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Ln, Power, TruncWeek

from fairdesk.cases.models import Case, CaseStatus, Visibility
from fairdesk.insights.comparison import (
    Comparison,
    GeometricMean,
    Moments,
    compare,
    geometric_mean,
)
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
class WeekFigures:
    week: date  # the Monday the week starts on (UTC)
    first_response: tuple[GroupFigure, ...]
    resolution: tuple[GroupFigure, ...]


@dataclass(frozen=True, slots=True)
class DimensionParity:
    dimension: str
    groups: tuple[str, ...]
    first_response: tuple[GroupFigure, ...]
    resolution: tuple[GroupFigure, ...]
    weeks: tuple[WeekFigures, ...]

    @property
    def by_group(self) -> tuple[tuple[GroupFigure, GroupFigure], ...]:
        """(first response, resolution) of each group, for tables that show both."""
        return tuple(zip(self.first_response, self.resolution, strict=True))


@dataclass(slots=True)
class _Tally:
    """What one week of one dimension adds up to: case counts and moments per metric."""

    cases: dict[str, dict[Stratum, int]]
    moments: dict[str, Cells]


def _group_expression(dimension: str) -> Any:
    if dimension == "channel":
        return F("origin_channel")
    if dimension == "visibility":
        return Coalesce(first_inbound("visibility"), Value(UNKNOWN))
    return follower_tier("followers")


def _log_seconds(done: Any) -> Ln:
    """ln of the wait in seconds; a wait under one second (or negative) counts as one."""
    return Ln(Greatest(Seconds(done, F("first_inbound_at")), Value(1.0), output_field=FloatField()))


def _moment_rows(workspace: Workspace, start: datetime, end: datetime, dimension: str) -> Any:
    cases = Case.objects.filter(
        workspace=workspace, first_inbound_at__gte=start, first_inbound_at__lt=end
    ).exclude(status=CaseStatus.MERGED)  # counted once, in the case it joined
    if dimension == "tier":
        cases = cases.annotate(followers=first_inbound("identity__follower_count"))
    cases = cases.annotate(
        bucket=_group_expression(dimension),
        week=TruncWeek("first_inbound_at", tzinfo=UTC),
        done_at=resolved_at(),
    )
    aggregates: dict[str, Any] = {"cases": Count("id")}
    for metric, field in (("first_response", "first_response_at"), ("resolution", "done_at")):
        measured = Q(**{f"{field}__isnull": False})
        log = _log_seconds(F(field))
        aggregates[f"{metric}_n"] = Count("id", filter=measured)
        aggregates[f"{metric}_sum"] = Sum(log, filter=measured)
        aggregates[f"{metric}_squares"] = Sum(Power(log, 2), filter=measured)
    return (
        cases.values("week", "bucket", "severity", "entitlement").annotate(**aggregates).order_by()
    )


def _tallies(rows: Any) -> dict[date, _Tally]:
    weeks: dict[date, _Tally] = {}
    for row in rows:
        week = row["week"].date()
        tally = weeks.setdefault(
            week, _Tally(defaultdict(dict), {m: defaultdict(dict) for m in METRICS})
        )
        stratum = (row["severity"], row["entitlement"])
        tally.cases[row["bucket"]][stratum] = row["cases"]
        for metric in METRICS:
            tally.moments[metric][row["bucket"]][stratum] = Moments(
                row[f"{metric}_n"], row[f"{metric}_sum"] or 0.0, row[f"{metric}_squares"] or 0.0
            )
    return weeks


def _add(into: dict[Any, Any], more: dict[Any, Any], zero: Any) -> None:
    for key, value in more.items():
        into[key] = into.get(key, zero) + value


def _period_tally(weeks: dict[date, _Tally]) -> _Tally:
    total = _Tally(defaultdict(dict), {m: defaultdict(dict) for m in METRICS})
    for tally in weeks.values():
        for group, cells in tally.cases.items():
            _add(total.cases[group], cells, 0)
        for metric in METRICS:
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


def _figures(tally: _Tally, metric: str, groups: tuple[str, ...]) -> tuple[GroupFigure, ...]:
    cells = tally.moments[metric]
    everyone: dict[Stratum, Moments] = {}
    for group_cells in cells.values():
        _add(everyone, group_cells, Moments())
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


def _groups(dimension: str, tally: _Tally) -> tuple[str, ...]:
    if dimension == "visibility":
        return VISIBILITIES + tuple(sorted(set(tally.cases) - set(VISIBILITIES)))
    if dimension == "tier":
        return FOLLOWER_TIERS
    return tuple(sorted(tally.cases))


def dimension_parity(
    workspace: Workspace, start: datetime, end: datetime, dimension: str
) -> DimensionParity:
    """Parity of one dimension (``channel``, ``visibility`` or ``tier``): one query."""
    weeks = _tallies(_moment_rows(workspace, start, end, dimension))
    period = _period_tally(weeks)
    groups = _groups(dimension, period)
    return DimensionParity(
        dimension=dimension,
        groups=groups,
        first_response=_figures(period, "first_response", groups),
        resolution=_figures(period, "resolution", groups),
        weeks=tuple(
            WeekFigures(
                week,
                _figures(weeks[week], "first_response", groups),
                _figures(weeks[week], "resolution", groups),
            )
            for week in sorted(weeks)
        ),
    )


def parity(workspace: Workspace, start: datetime, end: datetime) -> tuple[DimensionParity, ...]:
    """Every dimension: three queries."""
    return tuple(dimension_parity(workspace, start, end, d) for d in DIMENSIONS)
