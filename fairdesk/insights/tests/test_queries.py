"""Each figure is recomputed here from the raw rows, and the other workspace never leaks in."""

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from fairdesk.cases.models import Case, Direction, Message
from fairdesk.insights.queries import (
    FOLLOWER_TIERS,
    TIER_1K,
    TIER_10K,
    FirstResponseRow,
    crickets,
    first_response_parity,
    social_promoter_score,
)
from fairdesk.insights.tests.rows import case, identity, message
from fairdesk.workspaces.models import Workspace

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)


def tier_of(followers: int | None) -> str:
    if followers is None:
        return "unknown"
    for limit, name in ((1_000, "<1k"), (10_000, TIER_1K), (100_000, TIER_10K)):
        if followers < limit:
            return name
    return "≥100k"


def recompute(workspace: Workspace, key: str) -> dict[str, FirstResponseRow]:
    """The parity figure the slow way: Python over every case row of the period."""
    groups: dict[str, list[Case]] = {}
    for c in Case.objects.filter(workspace=workspace, first_inbound_at__gte=START):
        if c.first_inbound_at >= END:
            continue
        first = c.messages.filter(direction=Direction.INBOUND).order_by("sent_at", "id")[0]
        followers = first.identity.follower_count if first.identity else None
        name = c.origin_channel if key == "channel" else tier_of(followers)
        groups.setdefault(name, []).append(c)
    rows = {}
    for name, cases in groups.items():
        waits = [
            (c.first_response_at - c.first_inbound_at).total_seconds() / 60
            for c in cases
            if c.first_response_at
        ]
        rows[name] = FirstResponseRow(
            group=name,
            cases=len(cases),
            answered=len(waits),
            median_minutes=round(statistics.median(waits), 1) if waits else None,
            mean_minutes=round(statistics.mean(waits), 1) if waits else None,
        )
    return rows


@pytest.fixture
def parity_rows(workspace: Workspace, other_workspace: Workspace) -> None:
    small = identity(workspace, "@small", followers=50)
    case(small, at=T0, answered_after=10)
    case(identity(workspace, "@small2", followers=999), at=T0, answered_after=20)
    case(identity(workspace, "@celebrity", followers=500_000), at=T0, answered_after=30)
    case(identity(workspace, "@mid", followers=5_000), at=T0)  # never answered
    case(identity(workspace, "@mid2", followers=10_000), at=T0, answered_after=45)
    mail = identity(workspace, "ann@example.test", channel="email", followers=None)
    case(mail, at=T0 + timedelta(hours=1), answered_after=15)
    case(mail, at=T0 + timedelta(hours=2), answered_after=25)
    case(mail, at=T0 + timedelta(hours=3), answered_after=90)
    # Tier comes from the identity that wrote first, not a louder one of the same contact.
    loud = identity(workspace, "@loud", followers=250_000, contact=small.contact)
    first = case(small, at=T0 + timedelta(hours=4), answered_after=12)
    message(first, at=T0 + timedelta(hours=5), identity=loud)
    # Out of the period.
    case(
        identity(workspace, "@old", followers=50), at=START - timedelta(minutes=1), answered_after=1
    )
    # Another workspace: same channel and tier, absurd waits.
    case(identity(other_workspace, "@small", followers=50), at=T0, answered_after=9_999)
    case(identity(other_workspace, "@zed", followers=50), at=T0)


def test_first_response_by_channel_matches_raw_rows(
    workspace: Workspace, parity_rows: None
) -> None:
    report = first_response_parity(workspace, START, END)
    expected = recompute(workspace, "channel")
    assert {r.group: r for r in report.by_channel} == expected
    assert [r.group for r in report.by_channel] == ["email", "x"]
    x = report.by_channel[1]
    assert (x.cases, x.answered, x.median_minutes, x.mean_minutes) == (6, 5, 20.0, 23.4)
    email = report.by_channel[0]
    assert (email.cases, email.answered, email.median_minutes) == (3, 3, 25.0)


def test_first_response_by_tier_matches_raw_rows(workspace: Workspace, parity_rows: None) -> None:
    report = first_response_parity(workspace, START, END)
    assert [r.group for r in report.by_tier] == list(FOLLOWER_TIERS)
    expected = recompute(workspace, "tier")
    assert {r.group: r for r in report.by_tier} == expected
    small = report.by_tier[0]
    # 10, 20, 12 minutes: even the case a 250k identity joined later stays "<1k".
    assert (small.cases, small.answered, small.median_minutes, small.mean_minutes) == (
        3,
        3,
        12.0,
        14.0,
    )
    mid = report.by_tier[1]
    assert (mid.cases, mid.answered, mid.median_minutes) == (1, 0, None)
    assert report.by_tier[2].median_minutes == 45.0
    assert report.by_tier[4].cases == 3  # e-mail has no follower count


def test_median_of_an_even_group_is_the_mean_of_the_middle_two(workspace: Workspace) -> None:
    for minutes in (40, 10, 30, 20):
        case(
            identity(workspace, f"@p{minutes}", channel="mastodon", followers=1),
            at=T0,
            answered_after=minutes,
        )
    (row,) = first_response_parity(workspace, START, END).by_channel
    assert (row.cases, row.answered, row.median_minutes, row.mean_minutes) == (4, 4, 25.0, 25.0)


def test_first_response_empty_period_has_no_figures(
    workspace: Workspace, parity_rows: None
) -> None:
    report = first_response_parity(workspace, END + timedelta(days=1), END + timedelta(days=2))
    assert report.by_channel == []
    assert all(
        (r.cases, r.answered, r.median_minutes, r.mean_minutes) == (0, 0, None, None)
        for r in report.by_tier
    )


def recompute_crickets(workspace: Workspace) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    inbound = Message.objects.filter(
        workspace=workspace, direction=Direction.INBOUND, is_spam=False, case__isnull=False
    )
    for m in inbound:
        if not START <= m.sent_at < END:
            continue
        answered = any(
            o.sent_at > m.sent_at and o.delivery_status not in ("held", "failed")
            for o in Message.objects.filter(case=m.case, direction=Direction.OUTBOUND)
        )
        n, unanswered = counts.get(m.sentiment, (0, 0))
        counts[m.sentiment] = (n + 1, unanswered + (not answered))
    return counts


def test_crickets_by_sentiment_matches_raw_rows(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    dana = identity(workspace, "@dana")
    answered = case(dana, at=T0, answered_after=5, sentiment="negative")
    message(answered, at=T0 + timedelta(minutes=10), identity=dana, sentiment="negative")  # after
    ignored = case(identity(workspace, "@eve"), at=T0, sentiment="negative")
    fay = identity(workspace, "@fay")
    praise = case(fay, at=T0, answered_after=60, sentiment="positive")
    message(praise, at=T0 + timedelta(minutes=1), identity=fay, sentiment="positive")
    neutral = case(identity(workspace, "@gus"), at=T0, sentiment="neutral")
    # A reply held by the tone guard answers nobody.
    message(
        neutral, at=T0 + timedelta(minutes=3), direction=Direction.OUTBOUND, delivery_status="held"
    )
    # Not counted: spam, messages outside any case, outside the period.
    message(ignored, at=T0, identity=dana, sentiment="negative", is_spam=True)
    message(None, workspace=workspace, at=T0, identity=dana, sentiment="negative")
    message(ignored, at=END, identity=dana, sentiment="negative")
    # Another workspace's unanswered complaints.
    for n in range(3):
        case(identity(other_workspace, f"@o{n}"), at=T0, sentiment="negative")

    rows = {r.sentiment: r for r in crickets(workspace, START, END)}
    assert [*rows] == ["negative", "neutral", "positive"]
    expected = recompute_crickets(workspace)
    assert {s: (r.messages, r.unanswered) for s, r in rows.items()} == expected
    assert (rows["negative"].messages, rows["negative"].unanswered) == (3, 2)
    assert rows["negative"].rate == 66.7
    assert (rows["neutral"].messages, rows["neutral"].unanswered, rows["neutral"].rate) == (
        1,
        1,
        100.0,
    )
    assert (rows["positive"].messages, rows["positive"].unanswered, rows["positive"].rate) == (
        2,
        0,
        0.0,
    )


def test_crickets_empty_period_has_no_rate(workspace: Workspace) -> None:
    rows = crickets(workspace, START, END)
    assert [(r.sentiment, r.messages, r.unanswered, r.rate) for r in rows] == [
        ("negative", 0, 0, None),
        ("neutral", 0, 0, None),
        ("positive", 0, 0, None),
    ]


def recompute_sps(workspace: Workspace) -> tuple[int, int, int]:
    stances: dict[int, set[str]] = {}
    for m in Message.objects.filter(
        workspace=workspace, direction=Direction.INBOUND, visibility="public", is_spam=False
    ).select_related("identity"):
        if m.identity and START <= m.sent_at < END:
            stances.setdefault(m.identity.contact_id, set()).add(m.stance)
    promoters = sum(1 for s in stances.values() if "promotes" in s and "detracts" not in s)
    detractors = sum(1 for s in stances.values() if "detracts" in s)
    return len(stances), promoters, detractors


def test_social_promoter_score_matches_raw_rows(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    def say(handle: str, *stances: str, ws: Workspace = workspace, **kw: object) -> None:
        who = identity(ws, handle)
        for stance in stances:
            message(None, workspace=ws, at=T0, identity=who, stance=stance, **kw)  # type: ignore[arg-type]

    say("@fan", "promotes", "promotes")
    say("@fan2", "promotes", "neutral")
    say("@torn", "promotes", "detracts")  # any detraction makes a detractor
    say("@meh", "neutral")
    say("@dm", "promotes", visibility="private")  # not public: not an author
    say("@bot", "detracts", is_spam=True)
    late = identity(workspace, "@late")
    message(None, workspace=workspace, at=END, identity=late, stance="detracts")
    # The same person on two channels counts once.
    on_x = identity(workspace, "@fan3")
    on_mastodon = identity(workspace, "@fan3@social", channel="mastodon", contact=on_x.contact)
    message(None, workspace=workspace, at=T0, identity=on_x, stance="promotes")
    message(None, workspace=workspace, at=T0, identity=on_mastodon, stance="promotes")
    for n in range(4):
        say(f"@hater{n}", "detracts", ws=other_workspace)

    score = social_promoter_score(workspace, START, END)
    assert (score.authors, score.promoters, score.detractors) == recompute_sps(workspace)
    assert (score.authors, score.promoters, score.detractors, score.sps) == (5, 3, 1, 40.0)


def test_social_promoter_score_without_authors_is_none(workspace: Workspace) -> None:
    score = social_promoter_score(workspace, START, END)
    assert (score.authors, score.promoters, score.detractors, score.sps) == (0, 0, 0, None)
