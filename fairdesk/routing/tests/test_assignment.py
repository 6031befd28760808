"""Take next, round-robin push, auto-unassign and escalation."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.routing.assignment import (
    AtCapacity,
    auto_assign,
    auto_unassign,
    take_next,
)
from fairdesk.routing.escalation import escalate_due
from fairdesk.routing.models import AssignmentPolicy, Escalation
from fairdesk.routing.tests.builders import colleague, queued
from fairdesk.workspaces.models import Agent, Team, Workspace


def policy(team: Team, **fields: object) -> AssignmentPolicy:
    return AssignmentPolicy.objects.create(workspace_id=team.workspace_id, team=team, **fields)


def team(workspace: Workspace, slug: str) -> Team:
    return workspace.teams.get(slug=slug)


# --- take next ---------------------------------------------------------------------------


def test_take_next_claims_the_earliest_deadline_of_my_team(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    billing = team(workspace, "billing")
    agent.team = billing
    agent.save()
    queued(other_workspace, "foreign", due_in=-100)
    queued(workspace, "other-team", due_in=-50)
    queued(workspace, "held", due_in=-40, team=billing, assignee=colleague(workspace, "mate"))
    queued(workspace, "waiting", due_in=-30, team=billing, status=CaseStatus.PENDING_CUSTOMER)
    later = queued(workspace, "later", due_in=60, team=billing, followers=9_000_000)
    first = queued(workspace, "first", due_in=5, team=billing, followers=0)
    assert take_next(agent=agent) == first
    assert take_next(agent=agent) == later
    assert take_next(agent=agent) is None
    assert list(Case.objects.filter(assignee=agent).order_by("escalation_at")) == [first, later]
    events = CaseEvent.objects.filter(type=CaseEvent.Type.ASSIGNED).order_by("id")
    assert [(e.case_id, e.params, e.actor_id) for e in events] == [
        (first.pk, {"assignee": "Jo Chen", "previous": None, "how": "take_next"}, agent.pk),
        (later.pk, {"assignee": "Jo Chen", "previous": None, "how": "take_next"}, agent.pk),
    ]
    agent.refresh_from_db()
    assert agent.last_assigned_at is not None


def test_an_agent_without_a_team_takes_from_every_team(workspace: Workspace, agent: Agent) -> None:
    billing_case = queued(workspace, "b", due_in=1, team=team(workspace, "billing"))
    queued(workspace, "f", due_in=2)
    assert take_next(agent=agent) == billing_case


def test_take_next_stops_at_the_cap(workspace: Workspace, agent: Agent) -> None:
    front = team(workspace, "front-line")
    agent.team = front
    agent.save()
    policy(front, max_open_per_agent=2)
    queued(workspace, "held-waiting", due_in=1, assignee=agent, status=CaseStatus.PENDING_CUSTOMER)
    queued(workspace, "a", due_in=2)
    queued(workspace, "b", due_in=3)
    assert take_next(agent=agent) is not None
    with pytest.raises(AtCapacity, match=r"You hold 2 open cases; the limit is 2\."):
        take_next(agent=agent)
    assert Case.objects.filter(assignee__isnull=True).count() == 1
    assert CaseEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_agents_never_take_the_same_case() -> None:
    """Eight agents press "Take next" at once, each on its own connection: six cases,
    six winners, two empty hands, every case assigned once with one event."""
    from fairdesk.workspaces.services import create_workspace

    workspace = create_workspace(name="Race", slug="race")
    agents = [colleague(workspace, f"agent{n}") for n in range(8)]
    cases = [queued(workspace, f"c{n}", due_in=n) for n in range(6)]
    barrier = threading.Barrier(len(agents))
    taken: list[int | None] = []
    errors: list[BaseException] = []

    def press(agent: Agent) -> None:
        try:
            barrier.wait()
            case = take_next(agent=agent)
            taken.append(case.pk if case else None)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(a,)) for a in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(pk for pk in taken if pk is not None) == sorted(c.pk for c in cases)
    assert taken.count(None) == 2
    assert Case.objects.filter(assignee__isnull=True).count() == 0
    assert len(set(Case.objects.values_list("assignee", flat=True))) == 6
    assert CaseEvent.objects.filter(type=CaseEvent.Type.ASSIGNED).count() == 6


# --- round robin -------------------------------------------------------------------------


def test_auto_assign_round_robin_fewest_cases_then_longest_wait(workspace: Workspace) -> None:
    billing = team(workspace, "billing")
    policy(billing, auto_assign=True, max_open_per_agent=3)
    now = timezone.now()
    ann = colleague(workspace, "ann", team=billing, is_available=True)
    bob = colleague(workspace, "bob", team=billing, is_available=True)
    cy = colleague(workspace, "cy", team=billing, is_available=True)
    colleague(workspace, "away", team=billing, is_available=False)
    Agent.objects.filter(pk=ann.pk).update(last_assigned_at=now - timedelta(minutes=5))
    Agent.objects.filter(pk=bob.pk).update(last_assigned_at=now - timedelta(minutes=50))
    queued(workspace, "cy-held", due_in=500, team=billing, assignee=cy)
    cases = [queued(workspace, f"b{n}", due_in=n, team=billing, followers=10**n) for n in range(6)]
    queued(workspace, "front", due_in=-5)
    assert auto_assign(workspace=workspace, now=now) == 6
    got = dict(Case.objects.values_list("pk", "assignee_id"))
    order = [got[c.pk] for c in cases]
    # bob waited longest, then ann; cy holds one already so comes after both.
    assert order == [bob.pk, ann.pk, cy.pk, bob.pk, ann.pk, cy.pk]
    assert Case.objects.get(contact__display_name="Front").assignee_id is None
    events = CaseEvent.objects.filter(type=CaseEvent.Type.ASSIGNED)
    assert {e.params["how"] for e in events} == {"auto"}
    assert {e.actor_id for e in events} == {None}


def test_auto_assign_respects_cap_availability_and_policy(workspace: Workspace) -> None:
    billing = team(workspace, "billing")
    front = team(workspace, "front-line")
    policy(billing, auto_assign=True, max_open_per_agent=1)
    colleague(workspace, "ann", team=billing, is_available=True)
    colleague(workspace, "fred", team=front, is_available=True)  # front line: no auto-assign
    for n in range(3):
        queued(workspace, f"b{n}", due_in=n, team=billing)
    queued(workspace, "f", due_in=0, team=front)
    assert auto_assign(workspace=workspace) == 1
    assert auto_assign(workspace=workspace) == 0
    assert list(
        Case.objects.filter(assignee__isnull=False).values_list("contact__display_name", flat=True)
    ) == ["B0"]


# --- auto-unassign -----------------------------------------------------------------------


def test_idle_cases_go_back_to_the_pool(workspace: Workspace, agent: Agent) -> None:
    front = team(workspace, "front-line")
    policy(front, unassign_after_minutes=30)
    now = timezone.now()
    idle = queued(workspace, "idle", due_in=100, assignee=agent)
    busy = queued(workspace, "busy", due_in=100, assignee=agent)
    waiting = queued(
        workspace, "waiting", due_in=100, assignee=agent, status=CaseStatus.PENDING_CUSTOMER
    )
    fresh = queued(workspace, "fresh", due_in=100, assignee=agent)
    old = now - timedelta(minutes=45)
    for case in (idle, busy, waiting):
        CaseEvent.objects.create(
            workspace=workspace, case=case, type=CaseEvent.Type.ASSIGNED, params={}, at=old
        )
    CaseEvent.objects.create(
        workspace=workspace,
        case=busy,
        type=CaseEvent.Type.REPLY_QUEUED,
        params={},
        actor=agent,
        at=now - timedelta(minutes=10),
    )
    CaseEvent.objects.create(
        workspace=workspace,
        case=fresh,
        type=CaseEvent.Type.ASSIGNED,
        params={},
        at=now - timedelta(minutes=29),
    )
    assert auto_unassign(workspace=workspace, now=now) == 1
    assert auto_unassign(workspace=workspace, now=now) == 0
    assert list(Case.objects.filter(assignee__isnull=True)) == [idle]
    event = CaseEvent.objects.get(type=CaseEvent.Type.UNASSIGNED)
    assert (event.case_id, event.actor_id, event.params) == (
        idle.pk,
        None,
        {"previous": "Jo Chen", "reason": "no action by the assignee for 30 min"},
    )


def test_no_timeout_means_never(workspace: Workspace, agent: Agent) -> None:
    policy(team(workspace, "front-line"), unassign_after_minutes=None)
    case = queued(workspace, "idle", due_in=100, assignee=agent)
    Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert auto_unassign(workspace=workspace) == 0


# --- escalation --------------------------------------------------------------------------


def test_escalation_once_per_deadline(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    now = timezone.now()
    billing = team(workspace, "billing")
    policy(billing, escalate_before_minutes=15)
    near = queued(workspace, "near", due_in=50, now=now)  # default lead: 60 minutes
    billing_near = queued(workspace, "billing-near", due_in=50, now=now, team=billing)
    billing_close = queued(workspace, "billing-close", due_in=10, now=now, team=billing)
    overdue = queued(workspace, "overdue", due_in=-5, now=now)
    queued(workspace, "far", due_in=61, now=now)
    queued(workspace, "waiting", due_in=1, now=now, status=CaseStatus.PENDING_CUSTOMER)
    foreign = queued(other_workspace, "foreign", due_in=1, now=now)
    assert escalate_due(workspace=workspace, now=now) == 3
    assert escalate_due(workspace=workspace, now=now) == 0
    escalated = CaseEvent.objects.filter(type=CaseEvent.Type.ESCALATED).order_by("case_id")
    assert [(e.case_id, e.params["minutes_left"]) for e in escalated] == [
        (near.pk, 50),
        (billing_close.pk, 10),
        (overdue.pk, -5),
    ]
    assert escalated[0].params == {
        "deadline": near.escalation_at.isoformat(),  # type: ignore[union-attr]
        "which": "deadline",
        "minutes_left": 50,
    }
    assert Escalation.objects.filter(case=billing_near).count() == 0
    assert Escalation.objects.filter(case=foreign).count() == 0
    # A new deadline (the customer wrote again) escalates again.
    Case.objects.filter(pk=near.pk).update(escalation_at=now + timedelta(minutes=20))
    assert escalate_due(workspace=workspace, now=now) == 1
    assert Escalation.objects.filter(case=near).count() == 2


def test_escalation_names_the_deadline(workspace: Workspace) -> None:
    case = queued(workspace, "named", due_in=None)
    Case.objects.filter(pk=case.pk).update(escalation_at=case.first_response_due_at)
    assert case.first_response_due_at is not None
    now = case.first_response_due_at - timedelta(minutes=30)
    assert escalate_due(workspace=workspace, now=now) == 1
    event = CaseEvent.objects.get(type=CaseEvent.Type.ESCALATED)
    assert (event.params["which"], event.params["minutes_left"]) == ("first response", 30)


def test_routing_command_runs_every_step_once(workspace: Workspace, agent: Agent) -> None:
    billing = team(workspace, "billing")
    policy(billing, auto_assign=True)
    colleague(workspace, "ann", team=billing, is_available=True)
    queued(workspace, "b", due_in=5, team=billing)
    out = StringIO()
    call_command("routing", "--once", stdout=out)
    assert out.getvalue() == "escalated 1, unassigned 0, assigned 1\n"
    out = StringIO()
    call_command("routing", "--once", stdout=out)
    assert out.getvalue() == "escalated 0, unassigned 0, assigned 0\n"


# --- load ----------------------------------------------------------------------------------


def test_load_per_agent_and_bounded_pool_counts(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairdesk.routing import queries

    now = timezone.now()
    mate = colleague(workspace, "mate", team=team(workspace, "billing"), is_available=True)
    queued(workspace, "a1", due_in=-5, now=now, assignee=agent)
    queued(workspace, "a2", due_in=30, now=now, assignee=agent, status=CaseStatus.PENDING_CUSTOMER)
    queued(workspace, "a3", due_in=None, now=now, assignee=agent, status=CaseStatus.RESOLVED)
    for n in range(3):
        queued(workspace, f"p{n}", due_in=-n - 1, now=now)
    queued(workspace, "p-soon", due_in=20, now=now)
    queued(other_workspace, "x", due_in=-100, now=now)
    rows = queries.agent_load(workspace, now=now)
    assert [
        (r.agent, r.open_assigned, r.overdue, r.breaching_soon, r.oldest_deadline) for r in rows
    ] == [
        (agent, 2, 1, 1, now - timedelta(minutes=5)),
        (mate, 0, 0, 0, None),
    ]
    monkeypatch.setattr(queries, "POOL_COUNT_CAP", 2)
    pool = queries.pool_load(workspace, now=now)
    assert pool == queries.PoolLoad(
        unassigned=2, overdue=2, breaching_soon=1, oldest_deadline=now - timedelta(minutes=3)
    )
