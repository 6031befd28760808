"""Service levels: were first responses and resolutions on time, by severity, team, channel?

For the cases first raised in the period, each deadline is recomputed from the SLA table
of the workspace for the case's current severity and entitlement, exactly as
``cases.lifecycle.refresh_deadlines`` does (first inbound + target), because the stored
deadlines are cleared once a case is resolved. Per deadline a case is:

* **met**: answered (or resolved/closed) no later than the deadline;
* **breached**: answered after it, or still not answered when it passed (at ``now``);
* **pending**: not answered and not yet due — left out of the compliance rate.

Compliance = met / (met + breached), ``None`` when nothing was due. CSAT is not here:
nothing records customer satisfaction yet.

One query groups by (severity, team, channel); Python folds the rows into the three
breakdowns. Index: ``case_period_idx`` (workspace_id, first_inbound_at).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Value

from fairdesk.cases.models import Case, CaseStatus
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


def _cases(
    workspace: Workspace, start: datetime, end: datetime, now: datetime, targets: TargetsTable
) -> QuerySet[Case]:
    return (
        Case.objects.filter(
            workspace=workspace, first_inbound_at__gte=start, first_inbound_at__lt=end
        )
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


def service_levels(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    targets: TargetsTable | None = None,
) -> ServiceLevels:
    """SLA compliance and breaches of the period's cases: one query."""
    cases = _cases(workspace, start, end, now, targets or targets_table(workspace))
    rows = [
        {**row, "team": row["team__name"] or NO_TEAM}
        for row in cases.values("severity", "team_id", "team__name", "origin_channel")
        .annotate(**_counts())
        .order_by()
    ]
    return ServiceLevels(
        by_severity=_breakdown(rows, "severity", SEVERITIES),
        by_team=_breakdown(rows, "team"),
        by_channel=_breakdown(rows, "origin_channel"),
        total=_level("all", rows),
    )
