"""Saved views and bulk actions: validation, permissions, one event per changed case,
and ids of another workspace refused and untouched."""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.followthrough.models import WorkOrder
from fairdesk.routing.conditions import Conditions
from fairdesk.routing.models import SavedView
from fairdesk.routing.queries import view_choice, visible_views
from fairdesk.routing.services import (
    BulkInvalid,
    ViewInvalid,
    bulk_assign,
    bulk_route,
    bulk_set_status,
    delete_view,
    save_view,
)
from fairdesk.routing.tests.builders import colleague, queued
from fairdesk.workspaces.models import Agent, Workspace

# --- saved views -------------------------------------------------------------------------


def test_agent_saves_a_private_view(workspace: Workspace, agent: Agent) -> None:
    view = save_view(
        agent=agent,
        name="  My   urgent  ",
        conditions={"severity": ["critical"], "assignee": "me"},
    )
    stored = SavedView.objects.get()
    assert stored.pk == view.pk
    assert (stored.name, stored.shared, stored.owner, stored.workspace) == (
        "My urgent",
        False,
        agent,
        workspace,
    )
    assert stored.conditions == {"severity": ["critical"], "assignee": "me"}


def test_only_supervisors_share_views(agent: Agent, supervisor: Agent) -> None:
    with pytest.raises(PermissionDenied):
        save_view(agent=agent, name="Everyone", conditions={}, shared=True)
    assert SavedView.objects.count() == 0
    shared = save_view(
        agent=supervisor, name="Billing", conditions={"topic": ["billing"]}, shared=True
    )
    assert shared.shared is True


def test_views_visible_to_owner_and_shared_to_workspace_only(
    workspace: Workspace, agent: Agent, supervisor: Agent, outsider: Agent
) -> None:
    mate = colleague(workspace, "mate")
    mine = save_view(agent=agent, name="Mine", conditions={"assignee": "me"})
    private = save_view(agent=supervisor, name="Private", conditions={})
    shared = save_view(agent=supervisor, name="Shared", conditions={}, shared=True)
    theirs = save_view(agent=outsider, name="Theirs", conditions={})
    assert visible_views(agent) == [mine, shared]
    assert visible_views(mate) == [shared]
    assert visible_views(supervisor) == [private, shared]
    assert visible_views(outsider) == [theirs]
    saved = visible_views(agent)
    assert view_choice(agent, str(private.public_id), saved) is None
    chosen = view_choice(agent, str(mine.public_id), saved)
    assert chosen is not None
    assert (chosen.name, chosen.conditions, chosen.saved) == (
        "Mine",
        Conditions(assignee="me"),
        mine,
    )


@pytest.mark.parametrize(
    ("name", "conditions", "message"),
    [
        ("", {}, "Give the view a name"),
        ("x" * 81, {}, "Give the view a name"),
        ("Loud", {"followers_gt": 1000}, "Extra inputs are not permitted"),
        ("Sorted", {"order_by": "followers"}, "Extra inputs are not permitted"),
        ("Bad", {"status": ["sleeping"]}, "status.0"),
    ],
)
def test_invalid_views_are_refused(
    agent: Agent, name: str, conditions: dict[str, object], message: str
) -> None:
    with pytest.raises(ViewInvalid, match=message):
        save_view(agent=agent, name=name, conditions=conditions)
    assert SavedView.objects.count() == 0


def test_a_name_is_used_once_per_agent(agent: Agent, supervisor: Agent) -> None:
    save_view(agent=agent, name="Urgent", conditions={})
    with pytest.raises(ViewInvalid, match="already have a view named 'Urgent'"):
        save_view(agent=agent, name="Urgent", conditions={"severity": ["high"]})
    save_view(agent=supervisor, name="Urgent", conditions={})
    assert SavedView.objects.count() == 2


def test_who_may_delete_a_view(
    workspace: Workspace, agent: Agent, supervisor: Agent, outsider: Agent
) -> None:
    mate = colleague(workspace, "mate")
    private = save_view(agent=supervisor, name="Private", conditions={})
    shared = save_view(agent=supervisor, name="Shared", conditions={}, shared=True)
    mine = save_view(agent=agent, name="Mine", conditions={})
    for who, view in [(agent, shared), (mate, mine), (outsider, mine), (agent, private)]:
        with pytest.raises(PermissionDenied):
            delete_view(agent=who, view=view)
    assert SavedView.objects.count() == 3
    other_supervisor = colleague(workspace, "boss", role=Agent.Role.SUPERVISOR)
    delete_view(agent=other_supervisor, view=shared)
    delete_view(agent=agent, view=mine)
    assert list(SavedView.objects.all()) == [private]


# --- bulk actions ------------------------------------------------------------------------


@pytest.fixture
def three(workspace: Workspace) -> list[Case]:
    return [queued(workspace, f"c{n}", due_in=10 * n) for n in range(3)]


@pytest.fixture
def foreign(other_workspace: Workspace) -> Case:
    return queued(other_workspace, "theirs", due_in=5)


def test_bulk_assign_to_me_one_event_per_changed_case(
    workspace: Workspace, agent: Agent, three: list[Case], foreign: Case
) -> None:
    mate = colleague(workspace, "mate")
    Case.objects.filter(pk=three[0].pk).update(assignee=agent)
    Case.objects.filter(pk=three[1].pk).update(assignee=mate)
    ids = [c.public_id for c in three] + [foreign.public_id, uuid.uuid4()]
    result = bulk_assign(agent=agent, case_ids=ids, assignee=agent)
    assert (result.changed, result.unchanged, result.refused, result.reasons) == (2, 1, 2, [])
    assert sorted(Case.objects.filter(assignee=agent).values_list("pk", flat=True)) == [
        c.pk for c in three
    ]
    foreign.refresh_from_db()
    assert foreign.assignee_id is None
    events = list(
        CaseEvent.objects.order_by("case_id").values_list("case_id", "type", "params", "actor")
    )
    assert events == [
        (
            three[1].pk,
            "assigned",
            {"assignee": "Jo Chen", "previous": "Mate", "how": "bulk"},
            agent.pk,
        ),
        (
            three[2].pk,
            "assigned",
            {"assignee": "Jo Chen", "previous": None, "how": "bulk"},
            agent.pk,
        ),
    ]


def test_bulk_assign_to_a_colleague_and_unassign(
    workspace: Workspace, agent: Agent, three: list[Case]
) -> None:
    mate = colleague(workspace, "mate")
    ids = [c.public_id for c in three]
    assert bulk_assign(agent=agent, case_ids=ids, assignee=mate).changed == 3
    result = bulk_assign(agent=agent, case_ids=ids[:2], assignee=None)
    assert (result.changed, result.unchanged, result.refused) == (2, 0, 0)
    assert list(Case.objects.order_by("id").values_list("assignee", flat=True)) == [
        None,
        None,
        mate.pk,
    ]
    unassigned = CaseEvent.objects.filter(type=CaseEvent.Type.UNASSIGNED).order_by("case_id")
    assert [(e.case_id, e.params) for e in unassigned] == [
        (three[0].pk, {"previous": "Mate", "reason": "bulk"}),
        (three[1].pk, {"previous": "Mate", "reason": "bulk"}),
    ]


def test_bulk_refuses_an_agent_or_team_of_another_workspace(
    agent: Agent, outsider: Agent, other_workspace: Workspace, three: list[Case]
) -> None:
    ids = [c.public_id for c in three]
    with pytest.raises(BulkInvalid, match="agent of this workspace"):
        bulk_assign(agent=agent, case_ids=ids, assignee=outsider)
    with pytest.raises(BulkInvalid, match="team of this workspace"):
        bulk_route(agent=agent, case_ids=ids, team=other_workspace.teams.get(slug="billing"))
    assert Case.objects.filter(assignee__isnull=False).count() == 0
    assert set(Case.objects.values_list("team__slug", flat=True)) == {"front-line"}
    assert CaseEvent.objects.count() == 0


def test_outsider_cannot_touch_our_cases(
    workspace: Workspace, outsider: Agent, three: list[Case]
) -> None:
    ids = [c.public_id for c in three]
    result = bulk_assign(agent=outsider, case_ids=ids, assignee=outsider)
    assert (result.changed, result.unchanged, result.refused) == (0, 0, 3)
    result = bulk_set_status(agent=outsider, case_ids=ids, status=CaseStatus.CLOSED)
    assert (result.changed, result.unchanged, result.refused) == (0, 0, 3)
    assert set(Case.objects.values_list("status", "assignee")) == {(CaseStatus.NEW, None)}
    assert CaseEvent.objects.count() == 0


def test_bulk_route_records_both_teams(
    workspace: Workspace, agent: Agent, three: list[Case]
) -> None:
    billing = workspace.teams.get(slug="billing")
    Case.objects.filter(pk=three[2].pk).update(team=billing, topic="billing")
    result = bulk_route(agent=agent, case_ids=[c.public_id for c in three], team=billing)
    assert (result.changed, result.unchanged, result.refused) == (2, 1, 0)
    assert set(Case.objects.values_list("team__slug", flat=True)) == {"billing"}
    routed = CaseEvent.objects.filter(type=CaseEvent.Type.ROUTED).order_by("case_id")
    assert [(e.case_id, e.params, e.actor_id) for e in routed] == [
        (three[0].pk, {"team": "Billing", "previous": "Front line", "topic": ""}, agent.pk),
        (three[1].pk, {"team": "Billing", "previous": "Front line", "topic": ""}, agent.pk),
    ]


def test_bulk_resolve_clears_deadlines_and_reopen_restores_them(
    agent: Agent, three: list[Case]
) -> None:
    ids = [c.public_id for c in three]
    result = bulk_set_status(agent=agent, case_ids=ids, status=CaseStatus.RESOLVED)
    assert (result.changed, result.unchanged, result.refused) == (3, 0, 0)
    for case in Case.objects.all():
        assert case.status == CaseStatus.RESOLVED
        assert case.resolved_at is not None
        assert (case.escalation_at, case.first_response_due_at, case.resolution_due_at) == (
            None,
            None,
            None,
        )
    bulk_set_status(agent=agent, case_ids=ids[:1], status=CaseStatus.OPEN)
    reopened = Case.objects.get(pk=three[0].pk)
    assert reopened.resolved_at is None
    assert reopened.first_response_due_at == reopened.first_inbound_at + timedelta(hours=24)
    assert reopened.escalation_at == reopened.first_response_due_at
    changes = CaseEvent.objects.filter(case=three[0]).order_by("id")
    assert [e.params for e in changes] == [
        {"status": "resolved", "previous": "new"},
        {"status": "open", "previous": "resolved"},
    ]


def test_bulk_resolve_refuses_cases_with_open_work_orders(
    workspace: Workspace, agent: Agent, three: list[Case]
) -> None:
    WorkOrder.objects.create(
        workspace=workspace,
        case=three[1],
        kind="refund",
        team=workspace.teams.get(slug="billing"),
        title="Refund",
        customer_label="Refund on its way",
        due_at=timezone.now() + timedelta(days=1),
        idempotency_key="wo-1",
    )
    result = bulk_set_status(
        agent=agent, case_ids=[c.public_id for c in three], status=CaseStatus.CLOSED
    )
    assert (result.changed, result.unchanged, result.refused) == (2, 0, 1)
    assert result.reasons == [f"{three[1].reference} has open work orders."]
    assert Case.objects.get(pk=three[1].pk).status == CaseStatus.NEW
    assert CaseEvent.objects.filter(case=three[1]).count() == 0


@pytest.mark.parametrize("status", ["new", "deleted", ""])
def test_bulk_status_must_be_settable(agent: Agent, three: list[Case], status: str) -> None:
    with pytest.raises(BulkInvalid, match="Choose one of"):
        bulk_set_status(agent=agent, case_ids=[three[0].public_id], status=status)


def test_bulk_needs_one_to_two_hundred_ids(agent: Agent, three: list[Case]) -> None:
    with pytest.raises(BulkInvalid, match="at least one"):
        bulk_assign(agent=agent, case_ids=[], assignee=agent)
    with pytest.raises(BulkInvalid, match="at most 200"):
        bulk_assign(agent=agent, case_ids=[uuid.uuid4() for _ in range(201)], assignee=agent)


def test_bulk_query_count_does_not_grow_with_cases(workspace: Workspace, agent: Agent) -> None:
    few = [queued(workspace, f"f{n}", due_in=n) for n in range(2)]
    many = [queued(workspace, f"m{n}", due_in=n) for n in range(12)]
    counts = []
    for cases in (few, many):
        with CaptureQueriesContext(connection) as ctx:
            bulk_set_status(
                agent=agent, case_ids=[c.public_id for c in cases], status=CaseStatus.RESOLVED
            )
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
