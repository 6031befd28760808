"""Fairness parity: recomputed here from the raw case and message rows, group by group."""

import math
import random
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q

from fairdesk.cases.models import Case, Direction
from fairdesk.followthrough.models import Resolution, WorkOrder
from fairdesk.insights.comparison import Comparison, GeometricMean, Rate, RateComparison
from fairdesk.insights.models import RollupDay
from fairdesk.insights.queries.expressions import FOLLOWER_TIERS
from fairdesk.insights.queries.parity import (
    DIMENSIONS,
    SUMS,
    DimensionParity,
    GroupFigure,
    RateFigure,
    SeverityFigure,
    SeverityRate,
    WeekFigures,
    _fetch,
    dimension_parity,
    every_moment_row,
    moment_rows,
    parity,
)
from fairdesk.insights.rollups import refresh
from fairdesk.insights.tests.rows import case, identity, message
from fairdesk.workspaces.models import Team, Workspace

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
START, END = T0 - timedelta(days=1), T0 + timedelta(days=21)
Z = 1.959963984540054
SEVERITIES = ("critical", "high", "normal", "low")


# -- the slow, independent way -----------------------------------------------------------


def tier_of(followers: int | None) -> str:
    if followers is None:
        return "unknown"
    for limit, name in zip((100, 1_000, 10_000, 100_000), FOLLOWER_TIERS, strict=False):
        if followers < limit:
            return name
    return "≥100k"


def group_of(c: Case, dimension: str) -> str:
    first = c.messages.filter(direction=Direction.INBOUND).order_by("sent_at", "id")[0]
    if dimension == "channel":
        return c.origin_channel
    if dimension == "visibility":
        return first.visibility
    return tier_of(first.identity.follower_count if first.identity else None)


def log_wait(c: Case, done: datetime | None) -> float | None:
    if done is None:
        return None
    return math.log(max((done - c.first_inbound_at).total_seconds(), 1.0))


def mean_of(logs: list[float]) -> GeometricMean | None:
    if not logs:
        return None
    centre = statistics.fmean(logs)
    if len(logs) < 2:
        return GeometricMean(round(math.exp(centre) / 60, 1), None, None)
    half = Z * statistics.stdev(logs) / math.sqrt(len(logs))
    return GeometricMean(
        round(math.exp(centre) / 60, 1),
        round(math.exp(centre - half) / 60, 1),
        round(math.exp(centre + half) / 60, 1),
    )


def versus(mine: dict[tuple, list[float]], rest: dict[tuple, list[float]]) -> Comparison | None:
    weighted, variance, n_mine, n_rest = 0.0, 0.0, 0, 0
    for stratum, values in mine.items():
        others = rest.get(stratum, [])
        if len(values) < 2 or len(others) < 2:
            continue
        delta = statistics.fmean(values) - statistics.fmean(others)
        v = statistics.variance(values) / len(values) + statistics.variance(others) / len(others)
        weighted += len(values) * delta
        variance += len(values) ** 2 * v
        n_mine += len(values)
        n_rest += len(others)
    if n_mine < 5 or n_rest < 5:
        return None
    delta, half = weighted / n_mine, Z * math.sqrt(variance) / n_mine
    flag = "faster" if delta + half < 0 else "slower" if delta - half > 0 else ""
    return Comparison(
        round(math.exp(delta), 3),
        round(math.exp(delta - half), 3),
        round(math.exp(delta + half), 3),
        flag,
        n_mine,
    )


def figures(
    rows: list[dict[str, Any]], groups: tuple[str, ...], metric: str
) -> tuple[GroupFigure, ...]:
    result = []
    for group in groups:
        mine = [r for r in rows if r["group"] == group]
        logs: dict[tuple, list[float]] = defaultdict(list)
        others: dict[tuple, list[float]] = defaultdict(list)
        for r in rows:
            if r[metric] is not None:
                (logs if r["group"] == group else others)[r["stratum"]].append(r[metric])
        every = [y for values in logs.values() for y in values]
        by_severity = []
        for severity in SEVERITIES:
            values = [y for (s, _), ys in logs.items() if s == severity for y in ys]
            mean = mean_of(values)
            by_severity.append(
                SeverityFigure(severity, len(values), mean.minutes if mean else None)
            )
        result.append(
            GroupFigure(
                group=group,
                cases=len(mine),
                measured=len(every),
                geometric_mean=mean_of(every),
                by_severity=tuple(by_severity),
                versus_rest=versus(logs, others),
            )
        )
    return tuple(result)


def rate_of(values: list[float]) -> Rate | None:
    if not values:
        return None
    p = statistics.fmean(values)
    if len(values) < 2:
        return Rate(round(100 * p, 1), None, None)
    half = Z * math.sqrt(statistics.variance(values) / len(values))
    return Rate(
        round(100 * p, 1), round(100 * max(0.0, p - half), 1), round(100 * min(1.0, p + half), 1)
    )


def rate_versus(
    mine: dict[tuple, list[float]], rest: dict[tuple, list[float]]
) -> RateComparison | None:
    weighted, variance, n_mine, n_rest = 0.0, 0.0, 0, 0
    for stratum, values in mine.items():
        others = rest.get(stratum, [])
        if len(values) < 2 or len(others) < 2:
            continue
        delta = statistics.fmean(values) - statistics.fmean(others)
        v = statistics.variance(values) / len(values) + statistics.variance(others) / len(others)
        weighted += len(values) * delta
        variance += len(values) ** 2 * v
        n_mine += len(values)
        n_rest += len(others)
    if n_mine < 5 or n_rest < 5:
        return None
    delta, half = weighted / n_mine, Z * math.sqrt(variance) / n_mine
    flag = "higher" if delta - half > 0 else "lower" if delta + half < 0 else ""
    return RateComparison(
        round(100 * delta, 1), round(100 * (delta - half), 1), round(100 * (delta + half), 1),
        flag, n_mine,
    )  # fmt: skip


def rate_figures(
    rows: list[dict[str, Any]], groups: tuple[str, ...], outcome: str
) -> tuple[RateFigure, ...]:
    """``outcome`` is 1.0 or 0.0 per case, or None when the case is not counted."""
    result = []
    for group in groups:
        ys: dict[tuple, list[float]] = defaultdict(list)
        others: dict[tuple, list[float]] = defaultdict(list)
        for r in rows:
            if r[outcome] is not None:
                (ys if r["group"] == group else others)[r["stratum"]].append(r[outcome])
        every = [y for values in ys.values() for y in values]
        by_severity = []
        for severity in SEVERITIES:
            values = [y for (s, _), v in ys.items() if s == severity for y in v]
            found = rate_of(values)
            percent = found.percent if found else None
            by_severity.append(SeverityRate(severity, len(values), percent))
        result.append(
            RateFigure(
                group=group,
                cases=len(every),
                count=int(sum(every)),
                rate=rate_of(every),
                by_severity=tuple(by_severity),
                versus_rest=rate_versus(ys, others),
            )
        )
    return tuple(result)


def made_whole(c: Case) -> float | None:
    outcomes = [r.outcome for r in Resolution.objects.filter(case=c)]
    return None if not outcomes else float(Resolution.Outcome.CONFIRMED in outcomes)


def compensated(c: Case) -> float:
    orders = WorkOrder.objects.filter(case=c, kind__in=["refund", "compensation", "goodwill"])
    return float(any(o.status != "cancelled" for o in orders))


def recompute(workspace: Workspace, dimension: str) -> DimensionParity:
    rows: list[dict[str, Any]] = []
    for c in Case.objects.filter(workspace=workspace):
        if not START <= c.first_inbound_at < END:
            continue
        day = c.first_inbound_at.date()
        rows.append(
            {
                "group": group_of(c, dimension),
                "stratum": (c.severity, c.entitlement),
                "week": day - timedelta(days=day.weekday()),
                "first_response": log_wait(c, c.first_response_at),
                "resolution": log_wait(c, c.resolved_at or c.closed_at),
                "made_whole": made_whole(c),
                "compensated": compensated(c),
            }
        )
    present: list[str] = sorted({r["group"] for r in rows})
    groups: tuple[str, ...] = {
        "channel": tuple(present),
        "visibility": ("public", "private"),
        "tier": FOLLOWER_TIERS,
    }[dimension]
    weeks: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        weeks[r["week"]].append(r)
    return DimensionParity(
        dimension=dimension,
        groups=groups,
        first_response=figures(rows, groups, "first_response"),
        resolution=figures(rows, groups, "resolution"),
        made_whole=rate_figures(rows, groups, "made_whole"),
        compensation=rate_figures(rows, groups, "compensated"),
        weeks=tuple(
            WeekFigures(
                week,
                figures(weeks[week], groups, "first_response"),
                figures(weeks[week], groups, "resolution"),
                rate_figures(weeks[week], groups, "made_whole"),
                rate_figures(weeks[week], groups, "compensated"),
            )
            for week in sorted(weeks)
        ),
    )


# -- rows --------------------------------------------------------------------------------


def outcomes(c: Case, n: int, team: Team) -> None:
    """Proposals (two on some cases: reopened, then confirmed) and refunds or goodwill."""
    if n % 2 == 0:
        for k, outcome in enumerate(["reopened", "confirmed"][: 1 + n % 3 % 2]):
            Resolution.objects.create(
                workspace=c.workspace,
                case=c,
                proposed_at=c.first_inbound_at + timedelta(hours=k + 1),
                outcome=(outcome if n % 6 else "quiet_closed") if k == 0 else outcome,
            )
    if n % 3 == 0:
        kind = ("refund", "goodwill", "callback")[n % 9 // 3]
        WorkOrder.objects.create(
            workspace=c.workspace,
            case=c,
            kind=kind,
            team=team,
            title="Refund",
            customer_label="Refund on its way",
            due_at=c.first_inbound_at + timedelta(days=2),
            idempotency_key=f"refund-{c.pk}",
            status="cancelled" if n % 12 == 0 else "open",
        )


@pytest.fixture
def mixed_rows(workspace: Workspace, other_workspace: Workspace) -> None:
    """Sixty cases over three weeks with seeded waits, and noise that must not count."""
    rng = random.Random(20261102)
    team = Team.objects.create(workspace=workspace, name="Back office", slug="back-office")
    channels = ("x", "email", "mastodon")
    followers = (None, 50, 500, 5_000, 50_000, 500_000)
    for n in range(60):
        author = identity(
            workspace,
            f"@c{n}",
            channel=channels[n % 3],
            followers=followers[(n // 3) % 6] if n % 3 != 1 else None,
        )
        answered = None if n % 7 == 0 else rng.uniform(1, 600)
        resolved = None if n % 4 == 0 else (answered or 0) + rng.uniform(60, 6000)
        c = case(
            author,
            at=T0 + timedelta(hours=8 * n),
            answered_after=answered,
            resolved_after=resolved,
            severity=("high", "normal")[n % 2],
            entitlement=("standard", "premium")[(n // 2) % 2 if n % 5 else 0],
            visibility=("public", "private")[(n // 3) % 2],
        )
        if n % 11 == 0:  # closed without a resolution time: closing ends the wait
            Case.objects.filter(pk=c.pk).update(closed_at=c.first_inbound_at + timedelta(days=2))
        outcomes(c, n, team)
    # A reply in the same second as the question counts as one second.
    case(identity(workspace, "@instant", followers=20), at=T0, answered_after=0)
    # The tier is the first writer's, not a louder identity of the same person later.
    small = identity(workspace, "@small", followers=10)
    joined = case(small, at=T0 + timedelta(hours=1), answered_after=30)
    loud = identity(workspace, "@loud", followers=900_000, contact=small.contact)
    message(joined, at=T0 + timedelta(hours=2), identity=loud)
    # Outside the period, and another workspace on the same channels.
    case(
        identity(workspace, "@old", followers=10), at=START - timedelta(seconds=1), answered_after=1
    )
    for n in range(12):
        case(identity(other_workspace, f"@o{n}", followers=10), at=T0, answered_after=5000)


# -- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("dimension", ["channel", "visibility", "tier"])
def test_parity_matches_raw_rows(workspace: Workspace, mixed_rows: None, dimension: str) -> None:
    assert dimension_parity(workspace, START, END, dimension) == recompute(workspace, dimension)


def test_every_dimension_at_once_matches_raw_rows(
    workspace: Workspace, other_workspace: Workspace, mixed_rows: None
) -> None:
    assert parity(workspace, START, END) == tuple(recompute(workspace, d) for d in DIMENSIONS)
    others = parity(other_workspace, START, END)
    assert [sum(g.cases for g in d.first_response) for d in others] == [12, 12, 12]


@pytest.mark.parametrize("by", ["week", "day"])
def test_one_query_of_every_dimension_adds_up_to_each_dimensions_own(
    workspace: Workspace, mixed_rows: None, by: str
) -> None:
    within = Q(first_inbound_at__gte=START - timedelta(days=1), first_inbound_at__lt=END)
    every = every_moment_row(workspace, within, by=by)
    for dimension in DIMENSIONS:
        own = _fetch(moment_rows(workspace, within, dimension, by=by))

        def keyed(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
            return {
                (str(r["period"]), r["bucket"], r["severity"], r["entitlement"]): r for r in rows
            }

        found, expected = keyed(every[dimension]), keyed(own)
        assert len(found) == len(every[dimension])  # one row per key
        assert found.keys() == expected.keys() and len(found) > 3
        for key, row in found.items():
            for name in SUMS:
                if expected[key][name] is None:
                    assert row[name] is None
                else:
                    assert row[name] == pytest.approx(expected[key][name], rel=1e-12, abs=1e-9)


def test_parity_has_comparisons_and_weeks(workspace: Workspace, mixed_rows: None) -> None:
    channel = dimension_parity(workspace, START, END, "channel")
    assert channel.groups == ("email", "mastodon", "x")
    assert [f.cases for f in channel.first_response] == [20, 20, 22]
    assert all(f.versus_rest is not None for f in channel.first_response)
    assert [w.week for w in channel.weeks] == [
        date(2026, 11, 2),
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    tier = dimension_parity(workspace, START, END, "tier")
    assert tier.groups == ("<100", "100–1k", "1k–10k", "10k–100k", "≥100k", "unknown")  # noqa: RUF001
    small = tier.first_response[0]
    assert small.cases == 10  # eight seeded, @instant, @small (not 900k), none from Globex


def test_equal_service_at_equal_severity_is_not_flagged(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    """Celebrities only raise critical problems, answered fast like everyone's critical ones.

    Their raw mean is far lower than the rest's (whose low-severity cases wait days),
    but at equal severity they wait just as long: no flag.
    """
    for n in range(6):
        celebrity = identity(workspace, f"@star{n}", followers=2_000_000)
        case(celebrity, at=T0, answered_after=10 + n, severity="critical")
        fan = identity(workspace, f"@fan{n}", followers=10)
        case(fan, at=T0, answered_after=10 + n, severity="critical")
        case(fan, at=T0, answered_after=2000 + n, severity="low")
    tier = dimension_parity(workspace, START, END, "tier")
    star = tier.first_response[FOLLOWER_TIERS.index("≥100k")]
    fans = tier.first_response[0]
    assert star.geometric_mean is not None and fans.geometric_mean is not None
    assert star.geometric_mean.minutes < fans.geometric_mean.minutes / 10
    assert star.versus_rest is not None
    assert (star.versus_rest.ratio, star.versus_rest.flag) == (1.0, "")
    assert tier == recompute(workspace, "tier")


def test_a_group_served_faster_at_equal_severity_is_flagged(workspace: Workspace) -> None:
    for n in range(6):
        case(identity(workspace, f"@star{n}", followers=2_000_000), at=T0, answered_after=5 + n)
        case(identity(workspace, f"@fan{n}", followers=10), at=T0, answered_after=300 + 10 * n)
    tier = dimension_parity(workspace, START, END, "tier")
    star = tier.first_response[FOLLOWER_TIERS.index("≥100k")].versus_rest
    fans = tier.first_response[0].versus_rest
    assert star is not None and fans is not None
    assert (star.flag, fans.flag) == ("faster", "slower")
    assert star.high < 1 < fans.low
    assert tier == recompute(workspace, "tier")


def test_empty_period_has_no_figures(workspace: Workspace, mixed_rows: None) -> None:
    later = END + timedelta(days=400)
    channel, visibility, tier = parity(workspace, later, later + timedelta(days=30))
    assert channel.groups == () and channel.first_response == () and channel.weeks == ()
    for dimension in (visibility, tier):
        assert dimension.weeks == ()
        for f in (*dimension.first_response, *dimension.resolution):
            assert (f.cases, f.measured, f.geometric_mean, f.versus_rest) == (0, 0, None, None)


def test_parity_is_a_fixed_number_of_queries(
    workspace: Workspace, mixed_rows: None, django_assert_num_queries: object
) -> None:
    jit = 1 if connection.vendor == "postgresql" else 0  # coverage.without_jit
    with django_assert_num_queries(2 + jit):  # type: ignore[operator]
        parity(workspace, START, END)  # no rollups yet: the state, then one for every dimension
    Case.objects.update(updated_at=T0)  # nothing changed since the refresh
    refresh(workspace=workspace)
    weeks = RollupDay.objects.filter(workspace=workspace, figure=RollupDay.Figure.PARITY_WEEKS)
    assert weeks.count() == 3
    with django_assert_num_queries(8 + jit):  # type: ignore[operator]
        # the state, rolled-up days, changes since, the weeks summed (Nov 2-22: three
        # whole weeks and no day left over); then live for all three, weeks per dimension
        parity(workspace, START - timedelta(hours=5), END)
    with django_assert_num_queries(11 + jit):  # type: ignore[operator]
        # Nov 3-22: two whole weeks and six days: live for all three, weeks and days
        # per dimension
        parity(workspace, START + timedelta(days=1, hours=17), END)


def test_a_group_compensated_more_at_equal_severity_is_flagged(workspace: Workspace) -> None:
    team = Team.objects.create(workspace=workspace, name="Refunds desk", slug="refunds-desk")
    for n in range(8):
        loud = case(identity(workspace, f"@star{n}", followers=2_000_000), at=T0)
        case(identity(workspace, f"@fan{n}", followers=10), at=T0)
        quiet = case(identity(workspace, f"@quiet{n}", followers=500), at=T0)
        for c in (loud, quiet) if n < 6 else (loud,):
            outcomes(c, 3, team)  # a refund
    tier = dimension_parity(workspace, START, END, "tier")
    star = tier.compensation[FOLLOWER_TIERS.index("≥100k")]
    assert (star.cases, star.count) == (8, 8)
    assert star.versus_rest is not None and star.versus_rest.flag == "higher"
    fans = tier.compensation[0]
    assert fans.versus_rest is not None and fans.versus_rest.flag == "lower"
    assert tier == recompute(workspace, "tier")
