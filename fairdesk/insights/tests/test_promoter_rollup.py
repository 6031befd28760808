"""The Social Promoter Score read from its rollup cells equals the score computed from the
raw messages alone — with random data over several days, after changes to old days,
before and after the refresh, and never counting another workspace's rows.

The oracle is the score as it was computed before the rollup (one query over every
public message of the period, grouped by person, with a per-message conversion check).
"""

import random
import re
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Direction, Message
from fairdesk.contacts.merge import merge_contacts, unmerge_contacts
from fairdesk.contacts.models import Contact
from fairdesk.insights import coverage
from fairdesk.insights.models import PromoterEvent, PromoterPeople, RollupDay
from fairdesk.insights.queries import promoters
from fairdesk.insights.queries.promoters import (
    DETRACTS,
    PROMOTES,
    PromoterScore,
    _flag,
    _Period,
    every_sps_message,
    social_promoter_score,
    sps_messages,
)
from fairdesk.insights.rollups import refresh
from fairdesk.insights.tests.rows import case, identity, message
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent

NOW = timezone.now()
T0 = datetime.combine((NOW - timedelta(days=20)).date(), time(), tzinfo=UTC)
DAYS = 12
STANCES = ("promotes", "detracts", "neutral", "")
FIGURE = RollupDay.Figure.PROMOTERS
PERIODS = [
    (T0 - timedelta(days=1), NOW),  # everything, today included
    (T0 + timedelta(days=2, hours=7), T0 + timedelta(days=9, hours=15)),  # partial days
    (T0 + timedelta(days=4), T0 + timedelta(days=6)),  # whole days only
]


def live_score(workspace: Workspace, start: datetime, end: datetime) -> PromoterScore:
    """The score as computed before the rollup: every public message of the period."""
    period = _Period(workspace, start, end)
    converting = period.detractions_resolved_then_promoted().filter(pk=OuterRef("pk"))
    people = (
        period.messages()
        .values("identity__contact")
        .annotate(
            promoted=Max(_flag(Q(stance=PROMOTES))),
            detracted=Max(_flag(Q(stance="detracts"))),
            converted=Max(_flag(Q(Exists(converting)))),
        )
        .order_by()
    )
    totals = people.aggregate(
        authors=Count("identity__contact"),
        promoters=Sum(_flag(Q(promoted=1, detracted=0))),
        detractors=Sum("detracted"),
        converted_people=Sum("converted"),
    )
    authors = totals["authors"]
    promoters_, detractors = totals["promoters"] or 0, totals["detractors"] or 0
    sps = round(100 * (promoters_ - detractors) / authors, 1) if authors else None
    first_promotion = period.promoted_after_resolution().order_by("sent_at").values("sent_at")
    rows = (
        period.detractions_resolved_then_promoted()
        .annotate(promoted_at=Subquery(first_promotion[:1]))
        .values_list("identity__contact", "done_at", "promoted_at")
    )
    shortest: dict[int, float] = {}
    for contact, done_at, promoted_at in rows:
        hours = (promoted_at - done_at).total_seconds() / 3600
        shortest[contact] = min(hours, shortest.get(contact, hours))
    hours = round(statistics.median(shortest.values()), 1) if shortest else None
    converted = totals["converted_people"] or 0
    return PromoterScore(authors, promoters_, detractors, converted, sps, hours)


def at(rng: random.Random, *, t0: datetime = T0, days: int = DAYS) -> datetime:
    return t0 + timedelta(minutes=rng.randrange(days * 24 * 60))


def seed(
    workspace: Workspace,
    rng: random.Random,
    people: int,
    *,
    t0: datetime = T0,
    days: int = DAYS,
    cases_each: int = 3,
    follow_up_days: int = 5,
) -> None:
    """``people`` people with 1..``cases_each`` cases from ``t0`` over ``days`` days, each
    case with follow-ups over ``follow_up_days``, some on a second channel."""
    for n in range(people):
        author = identity(workspace, f"@{workspace.slug}{n}")
        who = [author]
        if rng.random() < 0.2:  # the same person on a second channel
            who.append(
                identity(
                    workspace, f"@{workspace.slug}{n}@m", channel="mastodon", contact=author.contact
                )
            )
        for _ in range(rng.randint(1, cases_each)):
            start = at(rng, t0=t0, days=days)
            c = case(
                rng.choice(who),
                at=start,
                stance=rng.choice(STANCES),
                visibility=rng.choice(["public", "public", "private"]),
                resolved_after=rng.choice([None, None, rng.uniform(-30, 3 * 24 * 60)]),
            )
            if c.status == CaseStatus.OPEN and rng.random() < 0.2:  # closed, no resolution
                closed = start + timedelta(hours=rng.uniform(1, 50))
                Case.objects.filter(pk=c.pk).update(status=CaseStatus.CLOSED, closed_at=closed)
            for _ in range(rng.randint(0, 3)):
                message(
                    c,
                    at=start + timedelta(hours=rng.uniform(0, follow_up_days * 24)),
                    identity=rng.choice(who),
                    stance=rng.choice(STANCES),
                    visibility=rng.choice(["public", "public", "private"]),
                    is_spam=rng.random() < 0.1,
                )
        if rng.random() < 0.3:  # a public post on no case
            message(
                None,
                workspace=workspace,
                at=at(rng, t0=t0, days=days),
                identity=author,
                stance=PROMOTES,
            )
    # Written long before the refresh: a refresh looks again only at what changed since.
    Case.objects.filter(workspace=workspace).update(updated_at=NOW - timedelta(hours=1))


def event(c: Case, type_: str) -> None:
    CaseEvent.objects.create(workspace=c.workspace, case=c, type=type_, at=timezone.now())


def _detraction(ws: Workspace, rng: random.Random, **filters: object) -> Message:
    found = Message.objects.filter(
        workspace=ws,
        direction=Direction.INBOUND,
        visibility="public",
        is_spam=False,
        case__isnull=False,
        stance="detracts",
        **filters,
    ).order_by("id")
    return rng.choice(list(found))


# -- changes to old days, each as the product makes it (a saved case or a case event) ----


def praise_after_resolution(ws: Workspace, rng: random.Random) -> None:
    """A detractor (not converted yet) whose case was resolved: a public promotion on the
    case, written days ago, arrives now."""
    period = _Period(ws, *PERIODS[0])
    converted = set(
        period.detractions_resolved_then_promoted().values_list("identity__contact", flat=True)
    )
    m = rng.choice(
        [
            m
            for m in period.detractions_resolved().order_by("id").select_related("case", "identity")
            if m.identity is not None and m.identity.contact_id not in converted
        ]
    )
    assert m.case is not None
    done = m.case.resolved_at or m.case.closed_at
    assert done is not None
    message(m.case, at=done + timedelta(hours=5), identity=m.identity, stance=PROMOTES)
    event(m.case, CaseEvent.Type.MESSAGE_RECEIVED)


def _stances(ws: Workspace) -> dict[int, set[str]]:
    """Every contact's stances in public, over the whole data."""
    found: dict[int, set[str]] = {}
    for contact, stance in (
        _Period(ws, *PERIODS[0]).messages().values_list("identity__contact", "stance")
    ):
        found.setdefault(contact, set()).add(stance)
    return found


def _pure_promoter(ws: Workspace, rng: random.Random) -> int:
    stances = _stances(ws)
    return rng.choice(
        sorted(c for c, s in stances.items() if "promotes" in s and "detracts" not in s)
    )


def _converted(ws: Workspace, rng: random.Random) -> list[Message]:
    """Every resolved-then-promoted detraction of one converted person."""
    found = list(_Period(ws, *PERIODS[0]).detractions_resolved_then_promoted().order_by("id"))
    contact = rng.choice(sorted({m.identity.contact_id for m in found if m.identity}))
    return [m for m in found if m.identity and m.identity.contact_id == contact]


def stance_changed(ws: Workspace, rng: random.Random) -> None:
    """A promoter's public praise re-read as a warning: a promoter becomes a detractor."""
    contact = _pure_promoter(ws, rng)
    m = (
        _Period(ws, *PERIODS[0])
        .messages()
        .filter(identity__contact=contact, stance=PROMOTES, case__isnull=False)
        .order_by("id")
        .first()
    )
    assert m is not None and m.case is not None
    Message.objects.filter(pk=m.pk).update(stance="detracts")
    m.case.save()


def resolved_late(ws: Workspace, rng: random.Random) -> None:
    m = _detraction(ws, rng, case__resolved_at__isnull=True, case__closed_at__isnull=True)
    c = m.case
    assert c is not None
    c.status, c.resolved_at = CaseStatus.RESOLVED, m.sent_at + timedelta(hours=1)
    c.save()
    assert m.identity is not None  # and the person recommended us a day later: a new case
    case(m.identity, at=m.sent_at + timedelta(days=1), stance=PROMOTES)


def reopened(ws: Workspace, rng: random.Random) -> None:
    """The cases a converted person detracted on are reopened: no conversion any more."""
    for m in _converted(ws, rng):
        assert m.case_id is not None
        c = Case.objects.get(pk=m.case_id)
        c.status, c.resolved_at, c.closed_at = CaseStatus.OPEN, None, None
        c.save()


def moved_by_a_merge(ws: Workspace, rng: random.Random) -> None:
    """A case merge moves messages with ``QuerySet.update`` and records events: a converted
    person's warnings move onto a case that was never resolved."""
    open_cases = Case.objects.filter(
        workspace=ws, resolved_at__isnull=True, closed_at__isnull=True
    ).order_by("id")
    target = rng.choice(list(open_cases))
    for m in _converted(ws, rng):
        assert m.case_id is not None
        source = Case.objects.get(pk=m.case_id)
        Message.objects.filter(case=source).update(case=target)
        event(source, CaseEvent.Type.MERGED)
    event(target, CaseEvent.Type.MERGED)


def _supervisor(ws: Workspace) -> Agent:
    found = Agent.objects.filter(workspace=ws, role=Agent.Role.SUPERVISOR).first()
    return found or create_agent(
        workspace=ws,
        username=f"sup-{ws.slug}",
        password="x-9f2c-long-enough",
        display_name="Sam",
        initials="S",
        role=Agent.Role.SUPERVISOR,
    )


def contacts_merged(ws: Workspace, rng: random.Random) -> None:
    """Two people found to be one: a promoter is merged into a detractor (their
    identities and cases move; the product writes contact and case events)."""
    stances = _stances(ws)
    detractor = rng.choice(sorted(c for c, s in stances.items() if "detracts" in s))
    merge_contacts(
        source=Contact.objects.get(pk=_pure_promoter(ws, rng)),
        target=Contact.objects.get(pk=detractor),
        actor=_supervisor(ws),
    )


Change = Callable[[Workspace, random.Random], None]
CHANGES: list[Change] = [
    praise_after_resolution,
    stance_changed,
    resolved_late,
    reopened,
    moved_by_a_merge,
    contacts_merged,
]


@pytest.fixture
def seeded(workspace: Workspace, other_workspace: Workspace) -> None:
    rng = random.Random(17)
    seed(workspace, rng, 60)
    seed(other_workspace, rng, 25)


def assert_exact(workspace: Workspace) -> None:
    for start, end in PERIODS:
        assert social_promoter_score(workspace, start, end) == live_score(workspace, start, end)


def test_the_rolled_up_score_equals_the_raw_rows(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    assert_exact(workspace)  # nothing rolled up: all live
    whole = social_promoter_score(workspace, *PERIODS[0])
    assert whole.converted > 0 and whole.promoters > 0 and whole.detractors > 0  # a real test
    done = refresh(workspace=workspace)
    assert done.summed[FIGURE] == (NOW.date() - T0.date()).days
    for model in (PromoterPeople, PromoterEvent):
        assert model.objects.filter(workspace=workspace).exists()
        assert not model.objects.filter(workspace=other_workspace).exists()
    split = coverage.split(workspace, FIGURE, *PERIODS[1])
    assert split.days == ((T0.date() + timedelta(days=3), T0.date() + timedelta(days=8)),)
    assert_exact(workspace)
    refresh(workspace=other_workspace)
    assert_exact(other_workspace)
    assert_exact(workspace)


def test_rolled_up_days_read_no_message(workspace: Workspace, seeded: None) -> None:
    refresh(workspace=workspace)
    start, end = T0, T0 + timedelta(days=DAYS + 3)  # whole days, all rolled up
    expected = live_score(workspace, start, end)
    assert expected.converted > 0
    with CaptureQueriesContext(connection) as read:
        assert social_promoter_score(workspace, start, end) == expected
    sql = [q["sql"] for q in read.captured_queries]
    assert not [q for q in sql if '"cases_message"' in q]
    assert any('"insights_promoterpeople"' in q for q in sql)
    # The times to conversion are read for the candidates only, by person.
    events = [q for q in sql if '"insights_promoterevent"' in q]
    assert events and all(re.search(r'"person" (IN \(|= ANY\()', q) for q in events)


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_after_a_change_to_an_old_day_the_score_stays_exact(
    workspace: Workspace, other_workspace: Workspace, seeded: None, change: Change
) -> None:
    refresh(workspace=workspace)
    refresh(workspace=other_workspace)
    before = [social_promoter_score(other_workspace, s, e) for s, e in PERIODS]
    unchanged = live_score(workspace, *PERIODS[0])
    change(workspace, random.Random(change.__name__))
    assert live_score(workspace, *PERIODS[0]) != unchanged  # the change matters
    assert_exact(workspace)  # the changed days are read live until the refresh
    done = refresh(workspace=workspace)
    assert done.forgotten > 0  # the changed days were dropped and summed again
    assert_exact(workspace)
    assert [social_promoter_score(other_workspace, s, e) for s, e in PERIODS] == before


def test_many_changes_then_one_refresh(workspace: Workspace, seeded: None) -> None:
    refresh(workspace=workspace)
    rng = random.Random(23)
    for change in rng.sample(CHANGES, len(CHANGES)):
        change(workspace, rng)
    assert_exact(workspace)
    refresh(workspace=workspace)
    assert_exact(workspace)


def test_conversion_times_are_read_in_chunks(
    workspace: Workspace, seeded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh(workspace=workspace)
    monkeypatch.setattr(promoters, "CHUNK", 1)
    score = social_promoter_score(workspace, *PERIODS[0])
    assert score.converted > 1
    assert score == live_score(workspace, *PERIODS[0])


def test_another_workspaces_identity_is_never_counted(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    refresh(workspace=workspace)
    before = [social_promoter_score(workspace, s, e) for s, e in PERIODS]
    stranger = identity(other_workspace, "@stranger")
    for day in range(DAYS):
        message(
            None,
            workspace=other_workspace,
            at=T0 + timedelta(days=day, hours=3),
            identity=stranger,
            stance="detracts",
        )
    refresh(workspace=other_workspace)
    assert [social_promoter_score(workspace, s, e) for s, e in PERIODS] == before
    assert_exact(other_workspace)


def test_a_contact_merge_and_its_undo_keep_the_score_exact(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    """Only contact events show a merge of two people with no case between them."""
    fan = identity(workspace, "@fan-on-no-case")
    for day in (2, 5, 9):  # public praise on no case (none of the person's cases moves)
        message(
            None, workspace=workspace, at=T0 + timedelta(days=day), identity=fan, stance=PROMOTES
        )
    refresh(workspace=workspace)
    stances = _stances(workspace)
    rng = random.Random(29)
    target = Contact.objects.get(
        pk=rng.choice(sorted(c for c, s in stances.items() if "detracts" in s))
    )
    before = live_score(workspace, *PERIODS[0])
    event = merge_contacts(source=fan.contact, target=target, actor=_supervisor(workspace))
    assert live_score(workspace, *PERIODS[0]) != before  # one promoter fewer
    assert_exact(workspace)
    assert refresh(workspace=workspace).forgotten > 0
    assert_exact(workspace)
    unmerge_contacts(event=event, actor=_supervisor(workspace))
    assert live_score(workspace, *PERIODS[0]) == before
    assert_exact(workspace)
    assert refresh(workspace=workspace).forgotten > 0
    assert_exact(workspace)


# -- the converted drill-down ------------------------------------------------------------


def live_converted_messages(ws: Workspace, start: datetime, end: datetime) -> list[int]:
    """The drill-down as it was: each promoting or detracting message of the period whose
    writer has a detraction resolved, then a promotion after the resolution (a correlated
    search of the period per message)."""
    period = _Period(ws, start, end)
    converted = Exists(
        period.detractions_resolved_then_promoted().filter(
            identity__contact=OuterRef("identity__contact")
        )
    )
    return list(
        period.messages()
        .filter(stance__in=[PROMOTES, DETRACTS])
        .filter(converted)
        .order_by("sent_at", "id")
        .values_list("id", flat=True)
    )


def assert_converted_exact(workspace: Workspace) -> None:
    for start, end in PERIODS:
        expected = live_converted_messages(workspace, start, end)
        count, page = sps_messages(workspace, start, end, kind="converted", limit=500)
        assert (count, [m.message_id for m in page]) == (len(expected), expected)
        streamed = every_sps_message(workspace, start, end, kind="converted")
        assert [m.message_id for m in streamed] == expected


def test_the_converted_drill_down_equals_the_raw_rows_after_every_change(
    workspace: Workspace, other_workspace: Workspace, seeded: None
) -> None:
    assert live_converted_messages(workspace, *PERIODS[0])  # a real test
    assert_converted_exact(workspace)  # nothing rolled up: all live
    refresh(workspace=workspace)
    refresh(workspace=other_workspace)
    assert_converted_exact(workspace)
    rng = random.Random(31)
    for change in CHANGES:
        change(workspace, rng)
        assert_converted_exact(workspace)  # the changed days are read live
    refresh(workspace=workspace)
    assert_converted_exact(workspace)
    assert_converted_exact(other_workspace)


def test_the_converted_drill_down_reads_only_the_converted_peoples_messages(
    workspace: Workspace, seeded: None
) -> None:
    refresh(workspace=workspace)
    start, end = T0, T0 + timedelta(days=DAYS + 3)  # whole days, all rolled up
    expected = live_converted_messages(workspace, start, end)
    assert expected
    with CaptureQueriesContext(connection) as read:
        count, page = sps_messages(workspace, start, end, kind="converted", limit=100)
    assert (count, [m.message_id for m in page]) == (len(expected), expected)
    sql = [q["sql"] for q in read.captured_queries]
    on_messages = [q for q in sql if '"cases_message"' in q]
    # The people from the sets and events, their identities by contact id, then the page
    # and its count by those identities: no correlated search of the period per message.
    assert any(re.search(r'"contact_id" (IN \(|= ANY\()', q) for q in sql)
    assert len(on_messages) == 2
    by_identity = re.compile(r'"identity_id" (IN \(|= ANY\()')
    assert all(by_identity.search(q) and "EXISTS" not in q for q in on_messages)
    # Paged: the page's ids are picked in order first, then those messages read whole.
    for offset in (0, 3, len(expected) - 1):
        _, paged = sps_messages(workspace, start, end, kind="converted", limit=3, offset=offset)
        assert [m.message_id for m in paged] == expected[offset : offset + 3]
