"""Root causes: why customers contact us, per week, with the share of repeat contacts.

The cases counted are those whose customer first wrote in the period (``first_inbound_at``,
index ``case_period_idx``), the same cases as the parity and service-level figures.

* **Contact drivers**: cases by triage topic (``Case.topic``; a case without one is
  "other").
* **Root causes**: cases by the cause an agent tagged (``Case.root_cause``, a slug of the
  workspace's ``RootCause`` catalogue), with the cause's owner. Every active cause is
  listed, with zero cases if need be; a retired or unknown slug only when it has cases.
* **Repeat contacts**: a case is a repeat when the same contact opened another case with
  the same driver (or cause) in the ``REPEAT_DAYS`` before it (ties at the same instant:
  the lower id came first). The share is repeats over cases, in percent.
* **Trend**: cases per week (weeks start on Monday, UTC), every week of the period listed.
* **Clusters**: groups of similar first messages among the latest ``CLUSTER_SAMPLE``
  untagged cases (``insights.clusters``), candidates for a new cause.

Queries: the counts of whole UTC days that ``fairdesk insights rollup`` summed come from
``RootCauseCell`` (index ``root_cause_cell_idx`` (workspace_id, day)), the rest from one
live grouped query; then one for the catalogue and one for the cluster sample. The repeat
checks are ``EXISTS`` lookups through the case's ``contact_id`` index, a handful of rows
per contact. A changed case makes its day and the ``REPEAT_DAYS`` after it live until the
next refresh (``insights.coverage``).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Left, TruncDate, TruncWeek

from fairdesk.cases.models import Case, CaseStatus
from fairdesk.insights import coverage
from fairdesk.insights.clusters import cluster_texts
from fairdesk.insights.models import RollupDay, RootCause, RootCauseCell
from fairdesk.insights.queries.expressions import first_inbound
from fairdesk.workspaces.models import Workspace

REPEAT_DAYS = coverage.REPEAT_DAYS
SUMS = ("cases", "topic_repeats", "cause_repeats")
OTHER = "other"
CLUSTER_SAMPLE = 500
CLUSTER_LIMIT = 10
CLUSTER_EXAMPLES = 5
EXCERPT = 280


@dataclass(frozen=True, slots=True)
class WeekCount:
    week: date  # the Monday the week starts on (UTC)
    cases: int


@dataclass(frozen=True, slots=True)
class CauseFigure:
    key: str  # the triage topic, or the cause's slug
    name: str
    owner: str  # the owner's display name; "" for drivers and unowned causes
    owner_email: str
    cases: int
    repeats: int
    weeks: tuple[WeekCount, ...]
    in_catalogue: bool = True  # False: a retired or deleted cause still on cases

    @property
    def repeat_share(self) -> float | None:
        return round(100.0 * self.repeats / self.cases, 1) if self.cases else None


@dataclass(frozen=True, slots=True)
class ClusterCase:
    case_id: UUID
    case_reference: str
    topic: str
    text: str


@dataclass(frozen=True, slots=True)
class CaseCluster:
    terms: tuple[str, ...]
    cases: int
    examples: tuple[ClusterCase, ...]


@dataclass(frozen=True, slots=True)
class RootCauseReport:
    cases: int
    tagged: int
    weeks: tuple[date, ...]
    drivers: tuple[CauseFigure, ...]
    causes: tuple[CauseFigure, ...]
    clusters: tuple[CaseCluster, ...]
    clustered: int  # how many untagged cases the clusters were drawn from

    @property
    def untagged(self) -> int:
        return self.cases - self.tagged

    @property
    def tagged_share(self) -> float | None:
        return round(100.0 * self.tagged / self.cases, 1) if self.cases else None


def _period_cases(workspace: Workspace, start: datetime, end: datetime) -> QuerySet[Case]:
    """The cases of the period (the cluster sample)."""
    return Case.objects.filter(
        workspace=workspace, first_inbound_at__gte=start, first_inbound_at__lt=end
    ).exclude(status=CaseStatus.MERGED)  # counted once, in the case it joined


def _earlier_case(field: str) -> Exists:
    """Another case of the same contact with the same ``field``, opened in the window before."""
    at = OuterRef("first_inbound_at")
    return Exists(
        Case.objects.filter(
            workspace=OuterRef("workspace"),
            contact=OuterRef("contact"),
            first_inbound_at__gte=at - timedelta(days=REPEAT_DAYS),
            **{field: OuterRef(field)},
        )
        .exclude(status=CaseStatus.MERGED)
        .filter(Q(first_inbound_at__lt=at) | Q(first_inbound_at=at, id__lt=OuterRef("id")))
    )


def count_rows(workspace: Workspace, within: Q, *, by: str = "week", **_: Any) -> Any:
    """Cases and repeats of the cases first raised ``within``, per (week or day, topic,
    root cause): one query."""
    period = TruncWeek if by == "week" else TruncDate
    return (
        Case.objects.filter(workspace=workspace)
        .filter(within)
        .exclude(status=CaseStatus.MERGED)  # counted once, in the case it joined
        .annotate(
            period=period("first_inbound_at", tzinfo=UTC),
            topic_repeat=_earlier_case("topic"),
            cause_repeat=_earlier_case("root_cause"),
        )
        .values("period", "topic", "root_cause")
        .annotate(
            cases=Count("id"),
            topic_repeats=Count("id", filter=Q(topic_repeat=True)),
            cause_repeats=Count("id", filter=Q(cause_repeat=True)),
        )
        .order_by()
    )


def _count_rows(workspace: Workspace, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The period's counts: rolled-up days from the cells, the rest live."""
    split = coverage.split(workspace, RollupDay.Figure.ROOT_CAUSES, start, end)
    rows: list[dict[str, Any]] = []
    live = split.live_rows("first_inbound_at")
    if live is not None:
        rows += count_rows(workspace, live)
    cells = split.cells()
    if cells is not None:
        rows += list(
            RootCauseCell.objects.filter(workspace=workspace)
            .filter(cells)
            .annotate(period=TruncWeek("day"))
            .values("period", "topic", "root_cause")
            .annotate(**{name: Sum(name) for name in SUMS})
            .order_by()
        )
    return rows


def period_weeks(start: datetime, end: datetime) -> tuple[date, ...]:
    """The Mondays of every week that overlaps ``[start, end)`` (UTC)."""
    first = start.astimezone(UTC).date()
    first -= timedelta(days=first.weekday())
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return tuple(first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1))


@dataclass
class _Tally:
    cases: int = 0
    repeats: int = 0
    weeks: dict[date, int] = field(default_factory=dict)

    def add(self, week: date, cases: int, repeats: int) -> None:
        self.cases += cases
        self.repeats += repeats
        self.weeks[week] = self.weeks.get(week, 0) + cases


def _tallies(rows: Iterable[dict[str, Any]]) -> tuple[dict[str, _Tally], dict[str, _Tally]]:
    drivers: dict[str, _Tally] = defaultdict(_Tally)
    causes: dict[str, _Tally] = defaultdict(_Tally)
    for row in rows:
        week = row["period"]
        if isinstance(week, datetime):
            week = week.astimezone(UTC).date()
        drivers[row["topic"] or OTHER].add(week, row["cases"], row["topic_repeats"])
        if row["root_cause"]:
            causes[row["root_cause"]].add(week, row["cases"], row["cause_repeats"])
    return drivers, causes


def _weeks(tally: _Tally, weeks: tuple[date, ...]) -> tuple[WeekCount, ...]:
    return tuple(WeekCount(week, tally.weeks.get(week, 0)) for week in weeks)


def _drivers(tallies: dict[str, _Tally], weeks: tuple[date, ...]) -> tuple[CauseFigure, ...]:
    figures = [
        CauseFigure(topic, topic, "", "", t.cases, t.repeats, _weeks(t, weeks))
        for topic, t in tallies.items()
    ]
    return tuple(sorted(figures, key=lambda f: (-f.cases, f.key)))


def catalogue(workspace: Workspace) -> list[RootCause]:
    """The workspace's causes with their owners (one query), active first, by name."""
    causes = RootCause.objects.filter(workspace=workspace).select_related("owner__user")
    return sorted(causes, key=lambda c: (not c.active, c.name.casefold(), c.pk))


def _cause_figure(cause: RootCause, tally: _Tally, weeks: tuple[date, ...]) -> CauseFigure:
    owner = cause.owner
    return CauseFigure(
        key=cause.slug,
        name=cause.name,
        owner=owner.display_name if owner else "",
        owner_email=owner.user.email if owner else "",
        cases=tally.cases,
        repeats=tally.repeats,
        weeks=_weeks(tally, weeks),
    )


def _causes(
    tallies: dict[str, _Tally], causes: list[RootCause], weeks: tuple[date, ...]
) -> tuple[CauseFigure, ...]:
    known = {c.slug for c in causes}
    figures = [
        _cause_figure(c, tallies.get(c.slug, _Tally()), weeks)
        for c in causes
        if c.active or c.slug in tallies
    ]
    figures += [
        CauseFigure(slug, slug, "", "", t.cases, t.repeats, _weeks(t, weeks), in_catalogue=False)
        for slug, t in tallies.items()
        if slug not in known
    ]
    return tuple(sorted(figures, key=lambda f: (-f.cases, f.name.casefold(), f.key)))


def _clusters(
    workspace: Workspace, start: datetime, end: datetime
) -> tuple[tuple[CaseCluster, ...], int]:
    sample = list(
        _period_cases(workspace, start, end)
        .filter(root_cause="")
        .annotate(text=Left(first_inbound("text"), EXCERPT))
        .order_by("-first_inbound_at", "-id")
        .values("id", "public_id", "topic", "text")[:CLUSTER_SAMPLE]
    )
    found = cluster_texts([row["text"] or "" for row in sample], limit=CLUSTER_LIMIT)
    clusters = tuple(
        CaseCluster(
            terms=cluster.terms,
            cases=len(cluster.members),
            examples=tuple(_cluster_case(sample[i]) for i in cluster.members[:CLUSTER_EXAMPLES]),
        )
        for cluster in found
    )
    return clusters, len(sample)


def _cluster_case(row: Mapping[str, Any]) -> ClusterCase:
    return ClusterCase(
        case_id=row["public_id"],
        case_reference=Case(pk=row["id"]).reference,
        topic=row["topic"] or OTHER,
        text=row["text"] or "",
    )


def root_causes(workspace: Workspace, start: datetime, end: datetime) -> RootCauseReport:
    """Drivers, causes, trend, repeats and clusters of the period: three queries."""
    weeks = period_weeks(start, end)
    drivers, causes = _tallies(_count_rows(workspace, start, end))
    clusters, clustered = _clusters(workspace, start, end)
    return RootCauseReport(
        cases=sum(t.cases for t in drivers.values()),
        tagged=sum(t.cases for t in causes.values()),
        weeks=weeks,
        drivers=_drivers(drivers, weeks),
        causes=_causes(causes, catalogue(workspace), weeks),
        clusters=clusters,
        clustered=clustered,
    )


def driver_counts(workspace: Workspace, start: datetime, end: datetime) -> tuple[CauseFigure, ...]:
    """The contact drivers alone: one query (the CSV export)."""
    drivers, _ = _tallies(_count_rows(workspace, start, end))
    return _drivers(drivers, period_weeks(start, end))


def cause_counts(workspace: Workspace, start: datetime, end: datetime) -> tuple[CauseFigure, ...]:
    """The causes alone, no clusters: two queries (the CSV export, the weekly digest)."""
    _, causes = _tallies(_count_rows(workspace, start, end))
    return _causes(causes, catalogue(workspace), period_weeks(start, end))
