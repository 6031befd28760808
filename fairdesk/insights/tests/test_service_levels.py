"""SLA compliance and breaches, recomputed from the case rows and the SLA table."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from fairdesk.cases.models import Case
from fairdesk.insights.queries.service_levels import (
    Compliance,
    ServiceLevel,
    service_levels,
)
from fairdesk.insights.tests.rows import case, identity
from fairdesk.routing.models import SlaPolicy
from fairdesk.workspaces.models import Team, Workspace

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)
NOW = T0 + timedelta(days=2, hours=12)


def verdict(c: Case, done: datetime | None, minutes: int, now: datetime) -> str:
    due = c.first_inbound_at + timedelta(minutes=minutes)
    if done is not None:
        return "met" if done <= due else "breached"
    return "breached" if due < now else "pending"


def recompute(workspace: Workspace, now: datetime = NOW) -> dict[str, dict[str, tuple]]:
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 7))
    slots = {"met": 0, "breached": 1, "pending": 2}
    for c in Case.objects.filter(workspace=workspace).select_related("team"):
        if not START <= c.first_inbound_at < END:
            continue
        cell = SlaPolicy.objects.get(
            workspace=workspace, severity=c.severity, entitlement=c.entitlement
        )
        first = verdict(c, c.first_response_at, cell.first_response_minutes, now)
        resolution = verdict(c, c.resolved_at or c.closed_at, cell.resolution_minutes, now)
        keys = (
            ("severity", c.severity),
            ("team", c.team.name if c.team else "no team"),
            ("channel", c.origin_channel),
        )
        for breakdown, group in keys:
            row = tally[breakdown][group]
            row[0] += 1
            row[1 + slots[first]] += 1
            row[4 + slots[resolution]] += 1
    return {b: {g: tuple(r) for g, r in groups.items()} for b, groups in tally.items()}


def flat(levels: tuple[ServiceLevel, ...]) -> dict[str, tuple]:
    return {
        s.group: (
            s.cases,
            s.first_response.met,
            s.first_response.breached,
            s.first_response.pending,
            s.resolution.met,
            s.resolution.breached,
            s.resolution.pending,
        )
        for s in levels
        if s.cases
    }


@pytest.fixture
def sla_rows(workspace: Workspace, other_workspace: Workspace) -> None:
    billing = Team.objects.get(workspace=workspace, slug="billing")
    # Critical (1 h / 24 h): answered on time and resolved on time; answered late.
    case(
        identity(workspace, "@a"), at=T0, severity="critical", answered_after=59, resolved_after=600
    )
    case(identity(workspace, "@b"), at=T0, severity="critical", answered_after=61, team=billing)
    # Exactly on the deadline is on time.
    case(identity(workspace, "@c", channel="email"), at=T0, severity="high", answered_after=240)
    # Never answered: breached once due, pending before.
    case(identity(workspace, "@d", channel="email"), at=T0, severity="normal", team=billing)
    case(identity(workspace, "@e"), at=END - timedelta(hours=1), severity="low")
    # Closed without a resolution time, after the 24-hour target of a critical case.
    closed = case(
        identity(workspace, "@f"), at=T0, severity="critical", answered_after=5, status="closed"
    )
    Case.objects.filter(pk=closed.pk).update(closed_at=T0 + timedelta(days=2))
    # Premium normal (8 h): answered after 9 h.
    case(identity(workspace, "@g"), at=T0, entitlement="premium", answered_after=9 * 60)
    # Outside the period; another workspace.
    case(identity(workspace, "@old"), at=START - timedelta(minutes=1), severity="critical")
    for n in range(3):
        case(identity(other_workspace, f"@o{n}"), at=T0, severity="critical")


def test_service_levels_match_raw_rows(workspace: Workspace, sla_rows: None) -> None:
    report = service_levels(workspace, START, END, now=NOW)
    expected = recompute(workspace)
    assert flat(report.by_severity) == expected["severity"]
    assert flat(report.by_team) == expected["team"]
    assert flat(report.by_channel) == expected["channel"]


def test_service_levels_exact_values(workspace: Workspace, sla_rows: None) -> None:
    report = service_levels(workspace, START, END, now=NOW)
    assert [s.group for s in report.by_severity] == ["critical", "high", "normal", "low"]
    critical, high, normal, low = report.by_severity
    # @a and @f answered in time, @b a minute late; @b's 24 h resolution passed unresolved
    # and @f was closed after it.
    assert critical.first_response == Compliance(met=2, breached=1, pending=0, rate=66.7)
    assert critical.resolution == Compliance(met=1, breached=2, pending=0, rate=33.3)
    # Answered exactly on the deadline is on time; the 3-day resolution is not due yet.
    assert high.first_response == Compliance(met=1, breached=0, pending=0, rate=100.0)
    assert high.resolution == Compliance(met=0, breached=0, pending=1, rate=None)
    # @d never answered; @g (premium: 8 h) answered after 9 h.
    assert normal.first_response == Compliance(met=0, breached=2, pending=0, rate=0.0)
    assert low.first_response == Compliance(met=0, breached=0, pending=1, rate=None)
    assert report.total == ServiceLevel(
        "all",
        7,
        Compliance(met=3, breached=3, pending=1, rate=50.0),
        Compliance(met=1, breached=2, pending=4, rate=33.3),
    )
    assert [s.group for s in report.by_team] == ["Billing", "no team"]
    assert [s.group for s in report.by_channel] == ["email", "x"]


def test_a_custom_sla_cell_is_used(workspace: Workspace) -> None:
    SlaPolicy.objects.filter(workspace=workspace, severity="low", entitlement="standard").update(
        first_response_minutes=10
    )
    case(identity(workspace, "@a"), at=T0, severity="low", answered_after=11)
    report = service_levels(workspace, START, END, now=NOW)
    assert report.by_severity[3].first_response == Compliance(0, 1, 0, 0.0)
    assert flat(report.by_severity) == recompute(workspace)["severity"]


def test_no_cases_no_rates(workspace: Workspace) -> None:
    report = service_levels(workspace, START, END, now=NOW)
    assert report.total == ServiceLevel(
        "all", 0, Compliance(0, 0, 0, None), Compliance(0, 0, 0, None)
    )
    assert all(s.first_response.rate is None for s in report.by_severity)
    assert report.by_team == () and report.by_channel == ()
