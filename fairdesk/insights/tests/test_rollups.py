"""Rollups: after any change, with or without a refresh, every figure is what the raw rows
say — the figures read from the cells and the live query together equal the figures
computed live from the raw rows alone (which the figure tests recompute the slow way)."""

import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Direction
from fairdesk.followthrough.models import Resolution, WorkOrder
from fairdesk.insights import coverage, rollups
from fairdesk.insights.models import (
    CricketCell,
    ParityCell,
    ParityWeekCell,
    RollupDay,
    RollupState,
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
from fairdesk.insights.rollups import forget_all, refresh
from fairdesk.insights.tests.rows import case, identity, message, praise_event
from fairdesk.portal.models import CsatResponse
from fairdesk.routing.models import SlaPolicy
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Team, Workspace
from fairdesk.workspaces.services import add_employee

NOW = timezone.now()
T0 = datetime.combine((NOW - timedelta(days=40)).date(), time(), tzinfo=UTC)
DAYS = 20
CHANNELS = ("x", "email", "mastodon", "phone")
FOLLOWERS = (None, 40, 400, 4_000, 40_000, 400_000)
Figures = tuple[Any, ...]


def figures(workspace: Workspace, start: datetime, end: datetime) -> Figures:
    return (
        parity.parity(workspace, start, end),
        service_levels.service_levels(workspace, start, end, now=NOW),
        crickets.crickets(workspace, start, end, now=NOW),
        csat.csat(workspace, start, end),
        root_causes.driver_counts(workspace, start, end),
        root_causes.cause_counts(workspace, start, end),
        promoters.social_promoter_score(workspace, start, end),
        praise.praise(workspace, start, end),
    )


def raw_figures(workspace: Workspace, start: datetime, end: datetime) -> Figures:
    """The same figures with every rollup forgotten: all live, from the raw rows."""
    with transaction.atomic():
        forget_all(workspace)
        found = figures(workspace, start, end)
        transaction.set_rollback(True)
    return found


def event(c: Case, type_: str) -> None:
    CaseEvent.objects.create(workspace=c.workspace, case=c, type=type_, at=timezone.now())


def seed(workspace: Workspace, rng: random.Random, cases: int) -> None:
    teams = [
        Team.objects.create(workspace=workspace, name=f"Team {n}", slug=f"team-{n}")
        for n in range(2)
    ]
    boss = add_employee(workspace=workspace, name=f"Boss {workspace.slug}")
    staff = [
        add_employee(workspace=workspace, name=f"Staff {n} {workspace.slug}", manager=manager)
        for n, manager in enumerate([boss, boss, None])
    ]
    for n in range(cases):
        at = T0 + timedelta(minutes=rng.randrange(DAYS * 24 * 60))
        author = identity(
            workspace,
            f"@{workspace.slug}{n}",
            channel=rng.choice(CHANNELS),
            followers=rng.choice(FOLLOWERS),
        )
        answered = rng.choice([None, rng.uniform(1, 3000)])
        c = case(
            author,
            at=at,
            answered_after=answered,
            resolved_after=rng.choice([None, (answered or 0) + rng.uniform(10, 20000)]),
            severity=rng.choice(["critical", "high", "normal", "low"]),
            entitlement=rng.choice(["standard", "premium"]),
            team=rng.choice([None, *teams]),
            visibility=rng.choice(["public", "private"]),
            sentiment=rng.choice(["", "negative", "positive"]),
            praise=rng.random() < 0.1,
        )
        Case.objects.filter(pk=c.pk).update(
            topic=rng.choice(["", "billing", "outage"]), root_cause=rng.choice(["", "late-part"])
        )
        if rng.random() < 0.25:  # kudos for one or two of the staff, maybe answered
            for employee in rng.sample(staff, rng.randint(1, 2)):
                praise_event(c, employee, at=at)
        if rng.random() < 0.4:  # a later message on the same case, maybe never answered
            message(c, at=at + timedelta(hours=rng.uniform(1, 30)), identity=author)
        if rng.random() < 0.5:
            Resolution.objects.create(
                workspace=workspace,
                case=c,
                proposed_at=at + timedelta(hours=1),
                outcome=rng.choice(list(Resolution.Outcome)),
            )
        if rng.random() < 0.3:
            work_order(c, teams[0], rng.choice(["refund", "goodwill", "callback"]))
        if c.status == CaseStatus.RESOLVED and rng.random() < 0.5:
            answer = CsatResponse.objects.create(
                workspace=workspace, case=c, contact=author.contact, score=rng.randint(1, 5)
            )
            CsatResponse.objects.filter(pk=answer.pk).update(created_at=at + timedelta(days=1))
    # Written long before the refresh: a refresh looks again only at what changed since.
    Case.objects.filter(workspace=workspace).update(updated_at=NOW - timedelta(hours=1))


def work_order(c: Case, team: Team, kind: str) -> WorkOrder:
    return WorkOrder.objects.create(
        workspace=c.workspace,
        case=c,
        kind=kind,
        team=team,
        title="Make it right",
        customer_label="On its way",
        due_at=c.first_inbound_at + timedelta(days=3),
        idempotency_key=f"wo-{c.pk}-{kind}-{WorkOrder.objects.count()}",
    )


# -- changes, each as the product makes it (a saved case, or an event on its timeline) ----


def _pick(workspace: Workspace, rng: random.Random, **filters: Any) -> Case:
    cases = list(Case.objects.filter(workspace=workspace, **filters).order_by("id"))
    return rng.choice(cases)


def answer_late(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, first_response_at__isnull=True, status=CaseStatus.OPEN)
    message(c, at=c.first_inbound_at + timedelta(days=3), direction=Direction.OUTBOUND)
    c.first_response_at = c.first_inbound_at + timedelta(days=3)
    c.save()


def resolve(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, resolved_at__isnull=True, status=CaseStatus.OPEN)
    c.status, c.resolved_at = CaseStatus.RESOLVED, c.first_inbound_at + timedelta(days=2)
    c.save()


def raise_severity(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, severity="low")
    c.severity = "critical"
    c.save()


def move_team(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, team__isnull=True)
    c.team = Team.objects.filter(workspace=ws).order_by("id").last()
    c.save()


def confirm_fixed(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, resolutions__isnull=True)
    Resolution.objects.create(
        workspace=ws, case=c, proposed_at=timezone.now(), outcome=Resolution.Outcome.CONFIRMED
    )
    event(c, CaseEvent.Type.STATUS_CHANGED)


def refund(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, work_orders__isnull=True)
    work_order(c, Team.objects.filter(workspace=ws).order_by("id")[0], "refund")
    event(c, CaseEvent.Type.WORK_ORDER_CREATED)


def cancel_refund(ws: Workspace, rng: random.Random) -> None:
    order = WorkOrder.objects.filter(workspace=ws, kind="refund").order_by("id").first()
    assert order is not None
    order.status = WorkOrder.Status.CANCELLED
    order.save()
    event(order.case, CaseEvent.Type.WORK_ORDER_UPDATED)


def tag_cause(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, root_cause="")
    c.root_cause = "late-part"
    c.save()


def merge(ws: Workspace, rng: random.Random) -> None:
    """Merging moves rows with ``QuerySet.update`` (no ``updated_at``), and records events."""
    c = _pick(ws, rng, status=CaseStatus.OPEN)
    Case.objects.filter(pk=c.pk).update(status=CaseStatus.MERGED)
    event(c, CaseEvent.Type.MERGED)


def import_history(ws: Workspace, rng: random.Random) -> None:
    author = identity(ws, f"@history{rng.randrange(10**6)}", followers=50)
    case(author, at=T0 + timedelta(days=3, hours=5), answered_after=30, team=None)


def answer_a_cricket(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, first_response_at__isnull=True, status=CaseStatus.OPEN)
    message(c, at=c.first_inbound_at + timedelta(days=4), direction=Direction.OUTBOUND)
    c.last_response_at = c.first_inbound_at + timedelta(days=4)
    c.save()


def rate_later(ws: Workspace, rng: random.Random) -> None:
    c = _pick(ws, rng, status=CaseStatus.RESOLVED, csat__isnull=True)
    CsatResponse.objects.create(workspace=ws, case=c, contact=c.contact, score=2)
    event(c, CaseEvent.Type.SATISFACTION_RATED)


def answer_a_kudos(ws: Workspace, rng: random.Random) -> None:
    """A reply written days later answers the kudos of its case."""
    praised = CaseEvent.objects.filter(workspace=ws, type=CaseEvent.Type.PRAISE_FORWARDED)
    c = _pick(ws, rng, id__in=praised.values("case_id"), first_response_at__isnull=True)
    message(c, at=c.first_inbound_at + timedelta(days=2), direction=Direction.OUTBOUND)
    event(c, CaseEvent.Type.REPLY_QUEUED)


CHANGES: list[Callable[[Workspace, random.Random], None]] = [
    answer_late,
    resolve,
    raise_severity,
    move_team,
    confirm_fixed,
    refund,
    cancel_refund,
    tag_cause,
    merge,
    import_history,
    answer_a_cricket,
    rate_later,
    answer_a_kudos,
]


@pytest.fixture
def seeded(workspace: Workspace, other_workspace: Workspace) -> None:
    rng = random.Random(7)
    seed(workspace, rng, 120)
    seed(other_workspace, rng, 30)


PERIODS = [
    (T0 - timedelta(days=2), NOW),  # everything, today included
    (T0 + timedelta(days=2, hours=13), T0 + timedelta(days=15, hours=7)),  # partial days
]


def assert_exact(workspace: Workspace) -> None:
    for start, end in PERIODS:
        assert figures(workspace, start, end) == raw_figures(workspace, start, end)


def test_figures_read_the_cells_and_equal_the_raw_rows(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    assert_exact(workspace)  # nothing rolled up: all live
    done = refresh(workspace=workspace)
    assert done.forgotten == 0
    # Every finished day is summed, for the two months since the first case... and no more.
    assert done.summed[RollupDay.Figure.PARITY] == (NOW.date() - T0.date()).days
    assert ParityCell.objects.filter(workspace=other_workspace).count() == 0
    split = coverage.split(workspace, RollupDay.Figure.PARITY, *PERIODS[1])
    assert split.days == ((T0.date() + timedelta(days=3), T0.date() + timedelta(days=14)),)
    assert split.live == (
        (PERIODS[1][0], T0 + timedelta(days=3)),
        (T0 + timedelta(days=15), PERIODS[1][1]),
    )
    assert_exact(workspace)
    refresh(workspace=other_workspace)
    assert_exact(other_workspace)


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_after_a_change_figures_stay_exact_before_and_after_the_refresh(
    workspace: Workspace, other_workspace: Workspace, seeded: None, change: Callable[..., None]
) -> None:
    refresh(workspace=workspace)
    refresh(workspace=other_workspace)
    before = figures(other_workspace, *PERIODS[0])
    change(workspace, random.Random(change.__name__))
    assert_exact(workspace)  # the changed days are read live until the refresh
    done = refresh(workspace=workspace)
    assert done.forgotten > 0  # the changed days were dropped and summed again
    assert_exact(workspace)
    assert figures(other_workspace, *PERIODS[0]) == before


def test_many_changes_then_one_refresh(workspace: Workspace, seeded: None) -> None:
    refresh(workspace=workspace)
    rng = random.Random(11)
    for change in rng.sample(CHANGES, len(CHANGES)):
        change(workspace, rng)
    refresh(workspace=workspace)
    assert_exact(workspace)
    again = refresh(workspace=workspace)
    # Nothing changed since: only the overlap with the last refresh is summed again.
    assert again.summed == {figure: 0 for figure in again.summed} or again.forgotten > 0
    assert_exact(workspace)


def test_a_new_sla_table_drops_the_days_measured_against_the_old_one(
    workspace: Workspace, seeded: None
) -> None:
    refresh(workspace=workspace)
    SlaPolicy.objects.update_or_create(
        workspace=workspace,
        severity="low",
        entitlement="standard",
        defaults={
            "first_response_minutes": 5,
            "next_response_minutes": 5,
            "resolution_minutes": 60,
        },
    )
    assert_exact(workspace)  # measured against the new table, live
    done = refresh(workspace=workspace)
    assert done.forgotten > 0
    assert_exact(workspace)


def test_a_period_with_no_data_has_no_figures(workspace: Workspace, seeded: None) -> None:
    refresh(workspace=workspace)
    start = T0 - timedelta(days=300)
    empty = figures(workspace, start, start + timedelta(days=30))
    assert all(d.groups in ((), parity.VISIBILITIES, parity.FOLLOWER_TIERS) for d in empty[0])
    assert all(f.cases == 0 and f.rate is None for d in empty[0] for f in d.made_whole)
    assert empty[1].total.cases == 0 and empty[1].total.first_response.rate is None
    assert empty[2].total.messages == 0 and empty[2].total.rate is None
    assert empty[3].total.responses == 0 and empty[3].total.mean is None


def test_the_command_refreshes_one_or_every_workspace(
    workspace: Workspace, other_workspace: Workspace, seeded: None, capsys: Any
) -> None:
    call_command("insights", "rollup", "--workspace", "globex")
    assert list(RollupState.objects.values_list("workspace__slug", flat=True)) == ["globex"]
    call_command("insights", "rollup")
    assert RollupState.objects.count() == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert '"workspace": "acme"' in out[-1] and '"workspace": "globex"' in out[-1]


def test_one_read_reads_the_changes_once_for_every_figure_and_stays_exact(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    refresh(workspace=workspace)
    refresh(workspace=other_workspace)
    rng = random.Random(5)
    for change in (resolve, rate_later, answer_a_cricket, merge):
        change(workspace, rng)
    expected = [raw_figures(workspace, start, end) for start, end in PERIODS]
    with coverage.one_read(), CaptureQueriesContext(connection) as read:
        found = [figures(workspace, start, end) for start, end in PERIODS]
    assert found == expected
    sql = [q["sql"] for q in read.captured_queries]
    # The rollup state and the changed cases (one UNION of the two indexed halves) once
    # for the figures and two periods, where each figure used to read them.
    assert sum("UNION" in s.upper() and '"cases_case"."updated_at" >=' in s for s in sql) == 1
    assert sum('"insights_rollupstate"' in s for s in sql) == 1
    # Outside, nothing is remembered: a change made after is seen at once.
    resolve(workspace, rng)
    assert_exact(workspace)


def test_many_changed_cases_are_read_in_chunks_and_stay_exact(
    workspace: Workspace, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(workspace=workspace)
    monkeypatch.setattr(coverage, "CHUNK", 2)
    rng = random.Random(3)
    for change in (resolve, raise_severity, move_team, tag_cause, rate_later, refund):
        change(workspace, rng)
    state = RollupState.objects.get(workspace=workspace)
    assert len(coverage.changed_case_ids(workspace, state)) > 2  # more than one chunk
    assert_exact(workspace)
    refresh(workspace=workspace)
    assert_exact(workspace)


def test_a_csat_answer_given_since_the_refresh_makes_its_day_live(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    refresh(workspace=workspace)
    c = _pick(workspace, random.Random(1), status=CaseStatus.RESOLVED, csat__isnull=True)
    answer = CsatResponse.objects.create(
        workspace=workspace, case=c, contact=c.contact, score=5
    )  # no event and no case save: only ``created_at`` since the refresh shows it
    day = (T0 + timedelta(days=5)).date()
    CsatResponse.objects.filter(pk=answer.pk).update(created_at=coverage.day_start(day))
    since = coverage.day_start(day) - timedelta(hours=1)
    RollupState.objects.filter(workspace=workspace).update(changed_since=since)
    Case.objects.filter(workspace=workspace).update(updated_at=since - timedelta(hours=1))
    state = RollupState.objects.get(workspace=workspace)
    assert coverage.changed_case_ids(workspace, state) == []  # no case shows it
    assert day in coverage.stale_days(workspace, RollupDay.Figure.CSAT, state)
    assert_exact(workspace)


def test_a_backfill_gives_the_planner_statistics_of_the_cells(
    workspace: Workspace, seeded: None
) -> None:
    """Forty days summed at once: on PostgreSQL each cell table filled with a month or
    more is analysed (with autovacuum off, or before it runs, the planner would take its
    thousands of cells for one row); a refresh of a day or two leaves that to autovacuum."""
    with CaptureQueriesContext(connection) as first:
        done = refresh(workspace=workspace)
    analysed = {q["sql"] for q in first.captured_queries if q["sql"].startswith("ANALYZE")}
    backfilled = {
        f'ANALYZE "{model._meta.db_table}"'
        for spec in rollups.SPECS
        for model in spec.models
        if done.summed[spec.figure] >= rollups.ANALYZE_AFTER_DAYS
    }
    if done.summed[RollupDay.Figure.PARITY_WEEKS] * 7 >= rollups.ANALYZE_AFTER_DAYS:
        backfilled.add(f'ANALYZE "{ParityWeekCell._meta.db_table}"')
    assert f'ANALYZE "{ParityCell._meta.db_table}"' in backfilled
    assert analysed == (backfilled if connection.vendor == "postgresql" else set())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'insights_paritycell'")
            assert cursor.fetchone()[0] > 0
    with CaptureQueriesContext(connection) as again:
        refresh(workspace=workspace)
    assert not [q for q in again.captured_queries if q["sql"].startswith("ANALYZE")]


def test_crickets_of_days_still_inside_their_deadlines_fall_due_by_the_clock(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    """A day is summed for crickets as soon as it ends. Its messages still inside their
    deadline are kept apart and counted due by the reader's clock, so the figures equal
    the raw rows' at any later time; once every deadline has passed, the refresh sums the
    day again into settled cells."""
    rolled_at = coverage.day_start(NOW.date()) + timedelta(hours=9)
    rng = random.Random(13)
    for ws in (workspace, other_workspace):
        for n in range(80):
            at = rolled_at - timedelta(minutes=rng.uniform(5, 4 * 24 * 60))
            author = identity(ws, f"@{ws.slug}-late-{n}", channel=rng.choice(CHANNELS))
            c = case(
                author,
                at=at,
                answered_after=rng.choice(
                    [None, rng.uniform(1, (rolled_at - at).total_seconds() / 60)]
                ),
                severity=rng.choice(["critical", "high", "normal", "low"]),
                entitlement=rng.choice(["standard", "premium"]),
                sentiment=rng.choice(["", "negative", "positive"]),
                praise=rng.random() < 0.2,
            )
            if rng.random() < 0.4 and at + timedelta(hours=2) < rolled_at:
                message(c, at=at + timedelta(hours=rng.uniform(1, 2)), identity=author)
    Case.objects.update(updated_at=rolled_at - timedelta(hours=1))

    def exact(ws: Workspace, now: datetime) -> None:
        start = rolled_at - timedelta(days=5)
        with transaction.atomic():
            forget_all(ws)
            raw = crickets.crickets(ws, start, now, now=now)
            transaction.set_rollback(True)
        assert crickets.crickets(ws, start, now, now=now) == raw

    refresh(workspace=workspace, now=rolled_at)
    days = RollupDay.objects.filter(workspace=workspace, figure=RollupDay.Figure.CRICKETS)
    yesterday = rolled_at.date() - timedelta(days=1)
    assert set(days.filter(pending=True).values_list("day", flat=True)) == {
        yesterday - timedelta(days=1),
        yesterday,
    }
    cells = CricketCell.objects.filter(workspace=workspace)
    assert cells.filter(sent_at__isnull=False).exists()
    assert not CricketCell.objects.filter(workspace=other_workspace).exists()
    split = coverage.split(
        workspace,
        RollupDay.Figure.CRICKETS,
        rolled_at - timedelta(days=5),
        rolled_at,
        targets=targets_table(workspace),
    )
    assert split.days[-1][1] == yesterday  # read from the cells, not live
    for later in (0, 0.5, 1, 3, 7, 20, 30, 47, 49, 72):
        exact(workspace, rolled_at + timedelta(hours=later))

    settled_at = rolled_at + timedelta(days=3)
    done = refresh(workspace=workspace, now=settled_at)
    assert done.forgotten == 2 and done.summed[RollupDay.Figure.CRICKETS] == 5
    assert not days.filter(pending=True, day__lte=yesterday).exists()
    assert not cells.filter(sent_at__isnull=False, day__lte=yesterday).exists()
    exact(workspace, settled_at + timedelta(minutes=1))
