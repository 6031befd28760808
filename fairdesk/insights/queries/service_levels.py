"""Service levels: were first responses and resolutions on time, by severity, team, channel?

For the cases first raised in the period, each deadline is recomputed from the SLA table
of the workspace for the case's current severity and entitlement, exactly as
``cases.lifecycle.refresh_deadlines`` does (first inbound + target), because the stored
deadlines are cleared once a case is resolved. Per deadline a case is:

* **met**: answered (or resolved/closed) no later than the deadline;
* **breached**: answered after it, or still not answered when it passed (at ``now``);
* **pending**: not answered and not yet due — left out of the compliance rate.

Compliance = met / (met + breached), ``None`` when nothing was due. CSAT has its own
module (``queries.csat``).

Whole UTC days that ``fairdesk insights rollup`` summed — once every deadline of the day
passed, so no case of it is still pending, measured against the same SLA table — are read
from ``ServiceLevelCell`` (index ``service_level_cell_idx`` (workspace_id, day)); the rest
is one live query grouped by (severity, team, channel) through ``case_period_idx``
(workspace_id, first_inbound_at). Python folds the rows into the three breakdowns.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate

from fairdesk.cases.models import Case, CaseStatus
from fairdesk.insights import coverage
from fairdesk.insights.models import RollupDay, ServiceLevelCell
from fairdesk.insights.queries.expressions import (
    Seconds,
    TargetsTable,
    resolved_at,
    target_seconds,
)
from fairdesk.routing.models import Severity
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Workspace

SEVERITIES = tuple(s.value for s in Severity)
NO_TEAM = "no team"
DEADLINES = (("first_response", "first_response_at"), ("resolution", "done_at"))
KEYS = ("severity", "team_id", "origin_channel")
SUMS = tuple(
    f"{deadline}_{count}" for deadline, _ in DEADLINES for count in ("met", "late", "overdue")
)


@dataclass(frozen=True, slots=True)
class Compliance:
    met: int
    breached: int
    pending: int
    rate: float | None  # percent met of those due


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    group: str
    cases: int
    first_response: Compliance
    resolution: Compliance


@dataclass(frozen=True, slots=True)
class ServiceLevels:
    by_severity: tuple[ServiceLevel, ...]
    by_team: tuple[ServiceLevel, ...]
    by_channel: tuple[ServiceLevel, ...]
    total: ServiceLevel

    @property
    def breakdowns(self) -> tuple[tuple[str, tuple[ServiceLevel, ...]], ...]:
        return (
            ("By severity", self.by_severity),
            ("By team", self.by_team),
            ("By channel", self.by_channel),
            ("All cases", (self.total,)),
        )


def _cases(workspace: Workspace, within: Q, now: datetime, targets: TargetsTable) -> QuerySet[Case]:
    return (
        Case.objects.filter(workspace=workspace)
        .filter(within)
        .exclude(status=CaseStatus.MERGED)  # counted once, in the case it joined
        .annotate(done_at=resolved_at())
        .annotate(
            waited=Seconds(Value(now), F("first_inbound_at")),
            first_response_took=Seconds(F("first_response_at"), F("first_inbound_at")),
            resolution_took=Seconds(F("done_at"), F("first_inbound_at")),
            first_response_target=target_seconds(targets, "first_response"),
            resolution_target=target_seconds(targets, "resolution"),
        )
    )


def _counts() -> dict[str, Count]:
    """Per deadline: met, answered late, and overdue (not answered, deadline passed)."""
    counts = {"cases": Count("id")}
    for deadline, field in DEADLINES:
        target = F(f"{deadline}_target")
        done = Q(**{f"{field}__isnull": False})
        counts[f"{deadline}_met"] = Count(
            "id", filter=done & Q(**{f"{deadline}_took__lte": target})
        )
        counts[f"{deadline}_late"] = Count(
            "id", filter=done & Q(**{f"{deadline}_took__gt": target})
        )
        counts[f"{deadline}_overdue"] = Count("id", filter=~done & Q(waited__gt=target))
    return counts


def _compliance(rows: list[dict[str, Any]], deadline: str) -> Compliance:
    met = sum(r[f"{deadline}_met"] for r in rows)
    breached = sum(r[f"{deadline}_late"] + r[f"{deadline}_overdue"] for r in rows)
    pending = sum(r["cases"] for r in rows) - met - breached
    return Compliance(
        met, breached, pending, round(100 * met / (met + breached), 1) if met + breached else None
    )


def _level(group: str, rows: list[dict[str, Any]]) -> ServiceLevel:
    return ServiceLevel(
        group=group,
        cases=sum(r["cases"] for r in rows),
        first_response=_compliance(rows, "first_response"),
        resolution=_compliance(rows, "resolution"),
    )


def _breakdown(
    rows: list[dict[str, Any]], key: str, first: tuple[str, ...] = ()
) -> tuple[ServiceLevel, ...]:
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in first}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    rest = sorted(name for name in groups if name not in first)
    return tuple(_level(name, groups[name]) for name in (*first, *rest))


def day_rows(workspace: Workspace, within: Q, *, now: datetime, targets: TargetsTable) -> Any:
    """The counts of the cases first raised ``within``, per (day, severity, team, channel)."""
    return (
        _cases(workspace, within, now, targets)
        .annotate(day=TruncDate("first_inbound_at", tzinfo=UTC))
        .values("day", *KEYS)
        .annotate(**_counts())
        .order_by()
    )


def _rows(
    workspace: Workspace, split: coverage.Split, now: datetime, targets: TargetsTable
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    live = split.live_rows("first_inbound_at")
    if live is not None:
        rows += (
            _cases(workspace, live, now, targets)
            .values(*KEYS, "team__name")
            .annotate(**_counts())
            .order_by()
        )
    cells = split.cells()
    if cells is not None:
        rows += (
            ServiceLevelCell.objects.filter(workspace=workspace)
            .filter(cells)
            .values(*KEYS, "team__name")
            .annotate(cases=Sum("cases"), **{name: Sum(name) for name in SUMS})
            .order_by()
        )
    return [{**row, "team": row["team__name"] or NO_TEAM} for row in rows]


def service_levels(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    targets: TargetsTable | None = None,
) -> ServiceLevels:
    """SLA compliance and breaches of the period's cases: the split, then one query of the
    live days and one of the rolled-up cells."""
    targets = targets or targets_table(workspace)
    figure = RollupDay.Figure.SERVICE_LEVELS
    split = coverage.split(workspace, figure, start, end, targets=targets)
    rows = _rows(workspace, split, now, targets)
    return ServiceLevels(
        by_severity=_breakdown(rows, "severity", SEVERITIES),
        by_team=_breakdown(rows, "team"),
        by_channel=_breakdown(rows, "origin_channel"),
        total=_level("all", rows),
    )
