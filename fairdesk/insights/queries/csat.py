"""CSAT: how satisfied customers said they were after closure, by channel and by team.

From ``portal.CsatResponse`` (one answer per closed case, 1 to 5) given in the period. The
channel is the case's channel of origin — where the customer first came to us — so the
figure sits beside the parity breakdowns; the team is the case's team. Satisfied means a
score of 4 or 5 (the usual "top two boxes"); the mean is over all answers. A group with no
answers is left out; no answers at all reads "no data", never a division error.

Whole UTC days that ``fairdesk insights rollup`` summed are read from ``CsatCell``
(index ``csat_cell_idx`` (workspace_id, day)); the rest is one live query grouped by
(origin channel, team) through ``csat_period_idx`` (workspace_id, created_at). Python
folds the rows into the two breakdowns and the total.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from fairdesk.insights import coverage
from fairdesk.insights.models import CsatCell, RollupDay
from fairdesk.portal.models import CsatResponse
from fairdesk.workspaces.models import Workspace

NO_TEAM = "no team"
SATISFIED = 4


@dataclass(frozen=True, slots=True)
class CsatGroup:
    group: str
    responses: int
    satisfied: int
    score_sum: int

    @property
    def satisfied_rate(self) -> float | None:
        return round(100 * self.satisfied / self.responses, 1) if self.responses else None

    @property
    def mean(self) -> float | None:
        return round(self.score_sum / self.responses, 2) if self.responses else None


@dataclass(frozen=True, slots=True)
class CsatReport:
    by_channel: list[CsatGroup]
    by_team: list[CsatGroup]
    total: CsatGroup

    @property
    def breakdowns(self) -> list[tuple[str, list[CsatGroup]]]:
        return [("By channel of origin", self.by_channel), ("By team", self.by_team)]


def _counts() -> dict[str, Any]:
    return {
        "n": Count("id"),
        "happy": Count("id", filter=Q(score__gte=SATISFIED)),
        "total": Sum("score"),
    }


def day_rows(workspace: Workspace, within: Q, **_: Any) -> Any:
    """The answers given ``within``, per (day, channel of origin, team)."""
    return (
        CsatResponse.objects.filter(workspace=workspace)
        .filter(within)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "case__origin_channel", "case__team_id")
        .annotate(**_counts())
        .order_by()
    )


def _rows(workspace: Workspace, split: coverage.Split) -> list[dict[str, Any]]:
    rows: list[Any] = []
    live = split.live_rows("created_at")
    if live is not None:
        rows += list(
            CsatResponse.objects.filter(workspace=workspace)
            .filter(live)
            .values(
                "case__team_id", origin=F("case__origin_channel"), team_name=F("case__team__name")
            )
            .annotate(**_counts())
            .order_by()
        )
    cells = split.cells()
    if cells is not None:
        rows += list(
            CsatCell.objects.filter(workspace=workspace)
            .filter(cells)
            .values("team_id", origin=F("origin_channel"), team_name=F("team__name"))
            .annotate(n=Sum("n"), happy=Sum("happy"), total=Sum("total"))
            .order_by()
        )
    return rows


def csat(workspace: Workspace, start: datetime, end: datetime) -> CsatReport:
    """The split, then one query of the live days and one of the rolled-up cells."""
    rows = _rows(workspace, coverage.split(workspace, RollupDay.Figure.CSAT, start, end))
    channels: dict[str, list[int]] = {}
    teams: dict[str, list[int]] = {}
    overall = [0, 0, 0]
    for row in rows:
        values = (row["n"], row["happy"], row["total"] or 0)
        for table, key in (
            (channels, row["origin"]),
            (teams, row["team_name"] or NO_TEAM),
        ):
            sums = table.setdefault(key, [0, 0, 0])
            for i, value in enumerate(values):
                sums[i] += value
        for i, value in enumerate(values):
            overall[i] += value
    return CsatReport(
        by_channel=_groups(channels),
        by_team=_groups(teams),
        total=CsatGroup("all", *overall),
    )


def _groups(table: dict[str, list[int]]) -> list[CsatGroup]:
    return [CsatGroup(name, *sums) for name, sums in sorted(table.items())]
