"""The Social Promoter Score read from the monthly sets of people (``PromoterPeople`` with
``month``) equals the score computed from the raw messages alone — over periods made of whole
months, partial months and partial days, after changes to days of old months (before and
after the refresh), and never counting another workspace's rows.

The oracle is ``test_promoter_rollup.live_score``: every public message of the period,
grouped by person, with a per-message conversion check.
"""

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fairdesk.cases.models import Case, CaseStatus, Message
from fairdesk.contacts.merge import merge_contacts
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.insights import people
from fairdesk.insights.models import PromoterPeople, RollupDay
from fairdesk.insights.queries.promoters import (
    DETRACTS,
    PROMOTES,
    SETS,
    _Period,
    _whole_months,
    social_promoter_score,
    sps_messages,
)
from fairdesk.insights.rollups import month_end, refresh
from fairdesk.insights.tests.rows import case, message
from fairdesk.insights.tests.test_promoter_rollup import (
    _supervisor,
    live_converted_messages,
    live_score,
)
from fairdesk.insights.tests.test_promoter_rollup import seed as seed_people
from fairdesk.workspaces.models import Workspace

NOW = timezone.now()
_month = NOW.date().replace(day=1)
for _ in range(4):  # the first day of the month four months ago
    _month = (_month - timedelta(days=1)).replace(day=1)
T0 = datetime.combine(_month, time(), tzinfo=UTC)
DAYS = 110  # ends before the current month: four whole months of data, all past
STANCES = ("promotes", "detracts", "neutral", "")
MONTHS = RollupDay.Figure.PROMOTER_MONTHS


def _first_of_next(day: date) -> datetime:
    return datetime.combine(month_end(day) + timedelta(days=1), time(), tzinfo=UTC)


M1 = _first_of_next(T0.date())  # the second month of data
M3 = _first_of_next(_first_of_next(M1.date()).date())  # the fourth
PERIODS = [
    (T0 - timedelta(days=1), NOW),  # everything, today included
    (T0 + timedelta(days=9, hours=5), M3 + timedelta(days=3, hours=2)),  # partial days
    (M1, M3),  # two whole months only
    (T0, M1),  # one whole month
    (M1 + timedelta(days=3), M1 + timedelta(days=20)),  # inside one month: day cells
]


def seed(workspace: Workspace, rng: random.Random, people: int) -> None:
    """The daily rollup's test data over four whole months, and a message on the first
    day of data (the first of a month: that month is whole too)."""
    seed_people(workspace, rng, people, t0=T0, days=DAYS, cases_each=4, follow_up_days=8)
    first = ContactIdentity.objects.get(workspace=workspace, handle=f"@{workspace.slug}0")
    message(None, workspace=workspace, at=T0 + timedelta(hours=1), identity=first)


@pytest.fixture
def seeded(workspace: Workspace, other_workspace: Workspace) -> None:
    rng = random.Random(41)
    seed(workspace, rng, 45)
    seed(other_workspace, rng, 15)


def assert_exact(workspace: Workspace) -> None:
    for start, end in PERIODS:
        assert social_promoter_score(workspace, start, end) == live_score(workspace, start, end)
        expected = live_converted_messages(workspace, start, end)
        count, page = sps_messages(workspace, start, end, kind="converted", limit=500)
        assert (count, [m.message_id for m in page]) == (len(expected), expected)


def assert_months_are_their_days(workspace: Workspace) -> None:
    """Every month's sets are the unions of its days' sets, recomputed in Python."""
    months = RollupDay.objects.filter(workspace=workspace, figure=MONTHS)
    assert months.exists()
    for month in months.values_list("day", flat=True):
        last = month_end(month)
        days = RollupDay.objects.filter(
            workspace=workspace, figure=RollupDay.Figure.PROMOTERS, day__gte=month, day__lte=last
        )
        assert days.count() == last.day  # only a month whose every day is rolled up
        expected: dict[str, set[int]] = {name: set() for name in SETS}
        day_rows = PromoterPeople.objects.filter(
            workspace=workspace, month=False, day__gte=month, day__lte=last
        )
        for row in day_rows:
            for name in SETS:
                expected[name] |= {int(i) for i in people.decode(getattr(row, name))}
        found = PromoterPeople.objects.get(workspace=workspace, month=True, day=month)
        assert {n: {int(i) for i in people.decode(getattr(found, n))} for n in SETS} == expected
        assert expected["authors"] >= expected["promoted"] | expected["detracted"]


def _old_messages(ws: Workspace) -> _Period:
    """The public messages of the whole months of data (the month cells' days)."""
    return _Period(ws, T0, M3 + timedelta(days=31))


def stance_changed(ws: Workspace, rng: random.Random) -> None:
    """A pure promoter's praise in an old month re-read as a warning."""
    stances: dict[int, set[str]] = {}
    for contact, stance in (
        _Period(ws, *PERIODS[0]).messages().values_list("identity__contact", "stance")
    ):
        stances.setdefault(contact, set()).add(stance)
    pure = sorted(c for c, s in stances.items() if PROMOTES in s and DETRACTS not in s)
    candidates = (
        _old_messages(ws)
        .messages()
        .filter(identity__contact__in=pure, stance=PROMOTES, case__isnull=False)
        .order_by("id")
    )
    m = rng.choice(list(candidates))
    Message.objects.filter(pk=m.pk).update(stance=DETRACTS)
    assert m.case is not None
    m.case.save()


def resolved_late(ws: Workspace, rng: random.Random) -> None:
    """A detraction of an old month on an open case is resolved, then praised a day on."""
    candidates = (
        _old_messages(ws)
        .messages()
        .filter(
            stance=DETRACTS,
            case__isnull=False,
            case__resolved_at__isnull=True,
            case__closed_at__isnull=True,
        )
        .order_by("id")
    )
    m = rng.choice(list(candidates))
    assert m.case is not None and m.identity is not None
    c = m.case
    c.status, c.resolved_at = CaseStatus.RESOLVED, m.sent_at + timedelta(hours=1)
    c.save()
    case(m.identity, at=m.sent_at + timedelta(days=1), stance=PROMOTES)


def reopened(ws: Workspace, rng: random.Random) -> None:
    """The cases a converted person detracted on, in old months, are reopened."""
    found = list(_old_messages(ws).detractions_resolved_then_promoted().order_by("id"))
    contact = rng.choice(sorted({m.identity.contact_id for m in found if m.identity}))
    for m in found:
        if m.identity and m.identity.contact_id == contact and m.case_id is not None:
            c = Case.objects.get(pk=m.case_id)
            c.status, c.resolved_at, c.closed_at = CaseStatus.OPEN, None, None
            c.save()


def contacts_merged(ws: Workspace, rng: random.Random) -> None:
    """A pure promoter merged into a detractor: both people's months change."""
    stances: dict[int, set[str]] = {}
    for contact, stance in _old_messages(ws).messages().values_list("identity__contact", "stance"):
        stances.setdefault(contact, set()).add(stance)
    detractor = rng.choice(sorted(c for c, s in stances.items() if DETRACTS in s))
    promoter = rng.choice(
        sorted(c for c, s in stances.items() if PROMOTES in s and DETRACTS not in s)
    )
    merge_contacts(
        source=Contact.objects.get(pk=promoter),
        target=Contact.objects.get(pk=detractor),
        actor=_supervisor(ws),
    )


Change = Callable[[Workspace, random.Random], None]
CHANGES: list[Change] = [stance_changed, resolved_late, reopened, contacts_merged]


def test_whole_months_of_day_runs() -> None:
    d = date
    assert _whole_months(((d(2026, 1, 1), d(2026, 3, 31)),)) == [
        d(2026, 1, 1),
        d(2026, 2, 1),
        d(2026, 3, 1),
    ]
    assert _whole_months(((d(2026, 1, 2), d(2026, 3, 30)),)) == [d(2026, 2, 1)]
    assert _whole_months(((d(2024, 2, 1), d(2024, 2, 28)),)) == []  # a leap year
    assert _whole_months(((d(2024, 2, 1), d(2024, 2, 29)), (d(2024, 4, 1), d(2024, 4, 30)))) == [
        d(2024, 2, 1),
        d(2024, 4, 1),
    ]
    assert _whole_months(((d(2026, 12, 1), d(2027, 1, 31)),)) == [d(2026, 12, 1), d(2027, 1, 1)]


def test_the_score_from_month_cells_equals_the_raw_rows(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    assert_exact(workspace)  # nothing rolled up: all live
    whole = social_promoter_score(workspace, *PERIODS[0])
    assert whole.converted > 0 and whole.promoters > 0 and whole.detractors > 0  # a real test
    done = refresh(workspace=workspace)
    assert done.summed[MONTHS] == 4  # the four whole months of data, not the current one
    assert_months_are_their_days(workspace)
    assert not PromoterPeople.objects.filter(workspace=other_workspace).exists()
    # One row per month: what makes a year cheap.
    assert PromoterPeople.objects.filter(workspace=workspace, month=True).count() == 4
    with CaptureQueriesContext(connection) as read:
        assert social_promoter_score(workspace, *PERIODS[1]) == live_score(workspace, *PERIODS[1])
    sql = [q["sql"] for q in read.captured_queries]
    # Month and day sets in one query, the live partial days from the messages.
    assert len([q for q in sql if '"insights_promoterpeople"' in q]) == 1
    assert_exact(workspace)
    refresh(workspace=other_workspace)
    assert_exact(other_workspace)
    assert_exact(workspace)
    assert refresh(workspace=workspace).summed[MONTHS] == 0  # nothing changed: kept


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_after_a_change_in_an_old_month_the_score_stays_exact(
    workspace: Workspace, other_workspace: Workspace, seeded: None, change: Change
) -> None:
    refresh(workspace=workspace)
    refresh(workspace=other_workspace)
    before_other = [social_promoter_score(other_workspace, s, e) for s, e in PERIODS]
    months_before = dict(
        RollupDay.objects.filter(workspace=workspace, figure=MONTHS).values_list(
            "day", "computed_at"
        )
    )
    unchanged = [live_score(workspace, s, e) for s, e in PERIODS]
    change(workspace, random.Random(change.__name__))
    assert [live_score(workspace, s, e) for s, e in PERIODS] != unchanged  # it matters
    assert_exact(workspace)  # the changed months are read from their days and live rows
    later = timezone.now() + timedelta(seconds=1)
    done = refresh(workspace=workspace, now=later)
    assert done.forgotten > 0 and done.summed[MONTHS] > 0  # the months summed again
    months_after = dict(
        RollupDay.objects.filter(workspace=workspace, figure=MONTHS).values_list(
            "day", "computed_at"
        )
    )
    assert set(months_after) == set(months_before)
    assert any(months_after[m] != months_before[m] for m in months_before)
    assert_months_are_their_days(workspace)
    assert_exact(workspace)
    assert [social_promoter_score(other_workspace, s, e) for s, e in PERIODS] == before_other


def test_a_month_with_a_stale_day_is_read_from_its_days(workspace: Workspace, seeded: None) -> None:
    refresh(workspace=workspace)
    stance_changed(workspace, random.Random(5))
    # Before the refresh the changed day is live: its month's cells must not be read.
    for start, end in PERIODS:
        assert social_promoter_score(workspace, start, end) == live_score(workspace, start, end)
    # A month with a day not rolled up is never read from its month sets (here made
    # wrong, so that a read of them would show), and the refresh writes it again.
    RollupDay.objects.filter(
        workspace=workspace, figure=RollupDay.Figure.PROMOTERS, day=M1.date() + timedelta(days=4)
    ).delete()
    stranger = people.encode(people.ids_of([10**9]))
    PromoterPeople.objects.filter(workspace=workspace, month=True, day=M1.date()).update(
        **{name: stranger for name in SETS}
    )
    one_month = (M1, M1 + timedelta(days=month_end(M1.date()).day))
    assert social_promoter_score(workspace, *one_month) == live_score(workspace, *one_month)
    assert refresh(workspace=workspace).summed[MONTHS] >= 1
    assert_months_are_their_days(workspace)
    assert_exact(workspace)
