"""Work orders: idempotent creation, duplicates refused with a pointer, dependencies,
and the case's customer-visible expectations kept in step."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.cases.tests.factories import make_case
from fairdesk.followthrough.models import WorkOrder, WorkOrderKind
from fairdesk.followthrough.queries import team_queue
from fairdesk.followthrough.services import (
    DuplicateWorkOrder,
    NewWorkOrder,
    WorkOrderInvalid,
    create_work_order,
    update_work_order,
)
from fairdesk.workspaces.models import Agent, Team, Workspace


def team(workspace: Workspace) -> Team:
    return Team.objects.filter(workspace=workspace).order_by("id").first()  # type: ignore[return-value]


def draft(workspace: Workspace, key: str = "key-00001", **changes: object) -> NewWorkOrder:
    fields: dict[str, object] = {
        "kind": "part_shipment",
        "team": team(workspace),
        "title": "Ship heating element DR-550",
        "customer_label": "Replacement part on its way",
        "due_at": timezone.now() + timedelta(days=2),
        "idempotency_key": key,
    }
    fields.update(changes)
    return NewWorkOrder(**fields)  # type: ignore[arg-type]


def test_creating_an_order_sets_the_customers_expectations(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace)
    order = create_work_order(case=case, actor=agent, order=draft(workspace))
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDING_INTERNAL
    assert case.next_step == "Replacement part on its way"
    assert case.eta == order.due_at
    event = CaseEvent.objects.get(case=case, type=CaseEvent.Type.WORK_ORDER_CREATED)
    assert event.params["work_order"] == str(order.public_id)
    assert event.actor == agent


def test_a_retry_with_the_same_key_returns_the_same_order(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace)
    first = create_work_order(case=case, actor=agent, order=draft(workspace))
    again = create_work_order(case=case, actor=agent, order=draft(workspace))
    assert again.pk == first.pk
    assert WorkOrder.objects.count() == 1
    assert CaseEvent.objects.filter(type=CaseEvent.Type.WORK_ORDER_CREATED).count() == 1


def test_a_second_identical_order_is_refused_with_a_pointer_to_the_first(
    workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace)
    first = create_work_order(case=case, actor=agent, order=draft(workspace))
    twin = draft(workspace, key="key-00002", customer_label="REPLACEMENT PART on its way")
    with pytest.raises(DuplicateWorkOrder) as refused:
        create_work_order(case=case, actor=agent, order=twin)
    assert refused.value.existing.pk == first.pk
    other = draft(workspace, key="key-00001", title="Something else")
    with pytest.raises(DuplicateWorkOrder, match="used for another order"):
        create_work_order(case=case, actor=agent, order=other)
    assert WorkOrder.objects.count() == 1


def test_dependencies_must_be_done_first(workspace: Workspace, agent: Agent) -> None:
    case = make_case(workspace)
    part = create_work_order(case=case, actor=agent, order=draft(workspace))
    visit = create_work_order(
        case=case,
        actor=agent,
        order=draft(
            workspace,
            key="key-00002",
            kind="technician_visit",
            title="Fit the element",
            customer_label="Technician visit booked",
            due_at=timezone.now() + timedelta(days=4),
            depends_on=(part,),
        ),
    )
    with pytest.raises(WorkOrderInvalid, match="First finish: Ship heating element"):
        update_work_order(work_order=visit, actor=agent, status="done")
    visit.refresh_from_db()
    assert visit.status == WorkOrder.Status.OPEN
    case.refresh_from_db()
    assert case.eta == visit.due_at  # the ETA is when the last open step is due
    assert case.next_step == "Replacement part on its way"  # the earliest open step

    update_work_order(work_order=part, actor=agent, status="done")
    case.refresh_from_db()
    assert case.next_step == "Technician visit booked"
    update_work_order(work_order=visit, actor=agent, status="in_progress")
    update_work_order(work_order=visit, actor=agent, status="done")
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN  # back to the agent to check with the customer
    assert case.eta is None
    with pytest.raises(WorkOrderInvalid, match="cannot become"):
        update_work_order(work_order=visit, actor=agent, status="open")
    assert CaseEvent.objects.filter(type=CaseEvent.Type.WORK_ORDER_UPDATED).count() == 3


def test_custom_kinds_are_per_workspace(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    WorkOrderKind.objects.create(workspace=other_workspace, slug="goodwill", label="Goodwill")
    case = make_case(workspace)
    with pytest.raises(WorkOrderInvalid, match="Unknown kind"):
        create_work_order(case=case, actor=agent, order=draft(workspace, kind="goodwill"))
    WorkOrderKind.objects.create(workspace=workspace, slug="goodwill", label="Goodwill")
    order = create_work_order(case=case, actor=agent, order=draft(workspace, kind="goodwill"))
    assert order.kind_label == "Goodwill".capitalize()


def test_another_workspace_cannot_create_or_change_orders(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, outsider: Agent
) -> None:
    case = make_case(workspace)
    with pytest.raises(PermissionDenied):
        create_work_order(case=case, actor=outsider, order=draft(workspace))
    with pytest.raises(WorkOrderInvalid, match="teams"):
        create_work_order(
            case=case, actor=agent, order=draft(workspace, team=team(other_workspace))
        )
    order = create_work_order(case=case, actor=agent, order=draft(workspace))
    with pytest.raises(PermissionDenied):
        update_work_order(work_order=order, actor=outsider, status="done")
    with pytest.raises(WorkOrderInvalid, match="owner"):
        update_work_order(work_order=order, actor=agent, owner=outsider)
    order.refresh_from_db()
    assert (order.status, order.owner) == (WorkOrder.Status.OPEN, None)


def test_the_back_office_queue_is_earliest_due_first_whoever_the_customer_is(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    loud = make_case(workspace, handle="@celebrity", followers=2_000_000, external_id="m-1")
    quiet = make_case(
        workspace, channel="email", handle="q@example.com", followers=None, external_id="m-2"
    )
    now = timezone.now()
    late = create_work_order(
        case=loud, actor=agent, order=draft(workspace, due_at=now + timedelta(days=3))
    )
    soon = create_work_order(
        case=quiet,
        actor=agent,
        order=draft(workspace, key="key-00002", due_at=now + timedelta(hours=5)),
    )
    assert list(team_queue(workspace=workspace)) == [soon, late]
    assert list(team_queue(workspace=other_workspace)) == []
    assert Case.objects.get(pk=quiet.pk).status == CaseStatus.PENDING_INTERNAL
