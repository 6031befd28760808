"""Digital crickets: recomputed from raw messages, deadlines and replies."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Q

from fairdesk.cases.models import Case, Direction, Message, Visibility
from fairdesk.insights.queries.crickets import (
    Cricket,
    CricketCount,
    cricket_page,
    crickets,
    every_cricket,
)
from fairdesk.insights.queries.expressions import NOT_DELIVERED
from fairdesk.insights.tests.rows import case, identity, message
from fairdesk.routing.models import SlaPolicy
from fairdesk.workspaces.models import Team, Workspace

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)
NOW = T0 + timedelta(days=2, hours=12)


def deadline_of(m: Message) -> datetime:
    """The message's time plus its case's SLA cell: first response if it opened the case."""
    assert m.case is not None
    cell = SlaPolicy.objects.get(
        workspace=m.workspace, severity=m.case.severity, entitlement=m.case.entitlement
    )
    opened = m.sent_at == m.case.first_inbound_at
    minutes = cell.first_response_minutes if opened else cell.next_response_minutes
    return m.sent_at + timedelta(minutes=minutes)


def answered(m: Message) -> bool:
    return any(
        o.sent_at >= m.sent_at
        and o.delivery_status not in ("held", "failed")
        and o.visibility != "internal"
        for o in Message.objects.filter(case=m.case, direction=Direction.OUTBOUND)
    )


def recompute(workspace: Workspace, now: datetime = NOW) -> dict[str, dict[str, tuple]]:
    """(messages, due, crickets) per breakdown and group, the slow way."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for m in Message.objects.filter(workspace=workspace, direction=Direction.INBOUND):
        if m.is_spam or m.case is None or not START <= m.sent_at < END:
            continue
        due = deadline_of(m) < now
        keys = [
            ("sentiment", m.sentiment or "unknown"),
            ("channel", m.channel),
            ("team", m.case.team.name if m.case.team else "no team"),
            ("total", "all"),
        ]
        if m.triage.get("praise") is True:
            keys.append(("praise", "praise"))
        for breakdown, group in keys:
            cell = counts[breakdown][group]
            cell[0] += 1
            cell[1] += due
            cell[2] += due and not answered(m)
    return {b: {g: tuple(c) for g, c in groups.items()} for b, groups in counts.items()}


def as_dict(rows: tuple[CricketCount, ...]) -> dict[str, tuple]:
    return {r.group: (r.messages, r.due, r.crickets) for r in rows if r.messages}


@pytest.fixture
def cricket_rows(workspace: Workspace, other_workspace: Workspace) -> dict[str, Case]:
    billing = Team.objects.get(workspace=workspace, slug="billing")
    security = Team.objects.get(workspace=workspace, slug="security")
    dana = identity(workspace, "@dana")
    made: dict[str, Case] = {}
    # Answered within the deadline; then a follow-up nobody answered (next-response deadline).
    made["answered"] = case(dana, at=T0, answered_after=30, sentiment="negative", team=billing)
    message(made["answered"], at=T0 + timedelta(hours=2), identity=dana, sentiment="negative")
    # Nobody answered at all: a cricket since T0 + 4 h (high).
    made["ignored"] = case(
        identity(workspace, "@eve"), at=T0, severity="high", sentiment="negative", team=security
    )
    # Praise nobody answered, and praise that got a thank-you late (late is not a cricket).
    made["praise"] = case(
        identity(workspace, "@fay", channel="mastodon"),
        at=T0,
        sentiment="positive",
        praise=True,
        severity="low",
    )
    made["thanked"] = case(
        identity(workspace, "@gus", channel="mastodon"),
        at=T0,
        sentiment="positive",
        praise=True,
        severity="low",
        answered_after=60 * 50,
    )
    # A reply held by the tone guard, a failed one and an internal note answer nobody.
    made["held"] = case(
        identity(workspace, "@hal"), at=T0, sentiment="neutral", severity="critical"
    )
    for status, visibility in (("held", "public"), ("failed", "public"), ("sent", "internal")):
        message(
            made["held"],
            at=T0 + timedelta(minutes=5),
            direction=Direction.OUTBOUND,
            delivery_status=status,
            visibility=visibility,
        )
    # Not yet due at NOW: a low-severity message sent late in the period.
    made["fresh"] = case(identity(workspace, "@ivy"), at=END - timedelta(minutes=1), severity="low")
    # Left out: spam, messages on no case, outside the period; another workspace.
    message(made["ignored"], at=T0, identity=dana, is_spam=True, sentiment="negative")
    message(None, workspace=workspace, at=T0, identity=dana, sentiment="negative")
    message(made["ignored"], at=END, identity=dana, sentiment="negative")
    for n in range(3):
        case(identity(other_workspace, f"@o{n}"), at=T0, sentiment="negative")
    return made


def test_crickets_match_raw_rows(workspace: Workspace, cricket_rows: dict[str, Case]) -> None:
    report = crickets(workspace, START, END, now=NOW)
    expected = recompute(workspace)
    assert as_dict(report.by_sentiment) == expected["sentiment"]
    assert as_dict(report.by_channel) == expected["channel"]
    assert as_dict(report.by_team) == expected["team"]
    assert as_dict((report.praise,)) == expected["praise"]
    assert as_dict((report.total,)) == expected["total"]


def test_crickets_exact_counts(workspace: Workspace, cricket_rows: dict[str, Case]) -> None:
    report = crickets(workspace, START, END, now=NOW)
    assert [(r.group, r.messages, r.due, r.crickets, r.rate) for r in report.by_sentiment] == [
        ("negative", 3, 3, 2, 66.7),
        ("neutral", 1, 1, 1, 100.0),
        ("positive", 2, 2, 1, 50.0),
        ("unknown", 1, 0, 0, None),
    ]
    assert report.praise == CricketCount("praise", 2, 2, 1, 50.0)
    assert [r.group for r in report.by_team] == ["Billing", "Security", "no team"]
    assert report.total == CricketCount("all", 7, 6, 4, 66.7)


def test_the_list_names_each_cricket_with_its_case(
    workspace: Workspace, cricket_rows: dict[str, Case]
) -> None:
    items = cricket_page(workspace, START, END, now=NOW, limit=10)
    expected = [
        m
        for m in Message.objects.filter(workspace=workspace, direction=Direction.INBOUND)
        .exclude(case=None)
        .filter(is_spam=False, sent_at__gte=START, sent_at__lt=END)
        .order_by("sent_at", "id")
        if deadline_of(m) < NOW and not answered(m)
    ]
    assert [c.message_id for c in items] == [m.pk for m in expected]
    first = items[0]
    ignored = cricket_rows["ignored"]
    assert first == Cricket(
        message_id=first.message_id,
        case_id=ignored.public_id,
        case_reference=ignored.reference,
        channel="x",
        handle="@eve",
        sentiment="negative",
        praise=False,
        team="Security",
        sent_at=T0,
        due_at=T0 + timedelta(hours=4),
        text="hello",
    )
    assert cricket_page(workspace, START, END, now=NOW, limit=2, offset=3) == items[3:5]
    assert list(every_cricket(workspace, START, END, now=NOW)) == items


def test_a_custom_sla_cell_moves_the_deadline(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    SlaPolicy.objects.filter(workspace=workspace, severity="normal", entitlement="premium").update(
        first_response_minutes=120, next_response_minutes=180
    )
    premium = case(identity(workspace, "@vip"), at=T0, entitlement="premium")
    standard = case(identity(workspace, "@std"), at=T0)
    case(identity(other_workspace, "@vip"), at=T0, entitlement="premium")
    at_three_hours = crickets(workspace, START, END, now=T0 + timedelta(hours=3))
    assert at_three_hours.total == CricketCount("all", 2, 1, 1, 100.0)
    (item,) = cricket_page(workspace, START, END, now=T0 + timedelta(hours=3), limit=5)
    assert (item.case_id, item.due_at) == (premium.public_id, T0 + timedelta(hours=2))
    assert standard.pk != premium.pk
    assert (
        as_dict((at_three_hours.total,)) == recompute(workspace, T0 + timedelta(hours=3))["total"]
    )


def test_no_messages_no_rates(workspace: Workspace) -> None:
    report = crickets(workspace, START, END, now=NOW)
    assert [(r.group, r.messages, r.rate) for r in report.by_sentiment] == [
        ("negative", 0, None),
        ("neutral", 0, None),
        ("positive", 0, None),
    ]
    assert report.by_channel == () and report.by_team == ()
    assert report.praise == CricketCount("praise", 0, 0, 0, None)
    assert cricket_page(workspace, START, END, now=NOW, limit=10) == []


def test_the_reply_index_holds_exactly_the_replies_the_check_counts() -> None:
    """``message_reply_idx`` serves ``replied()`` only while its condition is the check's:
    PostgreSQL uses a partial index only where the query implies its condition."""
    index = next(i for i in Message._meta.indexes if i.name == "message_reply_idx")
    assert index.fields == ["case", "sent_at"]
    assert index.condition == (
        Q(direction=Direction.OUTBOUND)
        & ~Q(delivery_status__in=list(NOT_DELIVERED))
        & ~Q(visibility=Visibility.INTERNAL)
    )
