"""CSAT: how satisfied customers said they were after closure, by channel and by team.

From ``portal.CsatResponse`` (one answer per closed case, 1 to 5) given in the period. The
channel is the case's channel of origin — where the customer first came to us — so the
figure sits beside the parity breakdowns; the team is the case's team. Satisfied means a
score of 4 or 5 (the usual "top two boxes"); the mean is over all answers. A group with no
answers is left out; no answers at all reads "no data", never a division error.

One query grouped by (origin channel, team); Python folds the rows into the two
breakdowns and the total. Index: ``csat_period_idx`` (workspace_id, created_at).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, Sum

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


def csat(workspace: Workspace, start: datetime, end: datetime) -> CsatReport:
    rows = (
        CsatResponse.objects.filter(workspace=workspace, created_at__gte=start, created_at__lt=end)
        .values("case__origin_channel", "case__team__name")
        .annotate(
            n=Count("id"),
            happy=Count("id", filter=Q(score__gte=SATISFIED)),
            total=Sum("score"),
        )
    )
    channels: dict[str, list[int]] = {}
    teams: dict[str, list[int]] = {}
    overall = [0, 0, 0]
    for row in rows:
        values = (row["n"], row["happy"], row["total"] or 0)
        for table, key in (
            (channels, row["case__origin_channel"]),
            (teams, row["case__team__name"] or NO_TEAM),
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
