"""Writes for work orders: create (idempotent, duplicates refused with a pointer to the
first), move through their states (dependencies respected), and keep the case's
customer-visible expectations — status, next step, ETA — in step with them (a change
the customer can see schedules an update to them: ``updates.note_change``).

Every write records a case event in the same transaction. Orders the system creates
itself (a callback the customer asked for) have no actor.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from fairdesk.cases.lifecycle import refresh_deadlines
from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.followthrough.models import WorkOrder, WorkOrderKind
from fairdesk.followthrough.updates import note_change, visible_state
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Agent, Team

MAX_DETAILS_CHARS = 5_000
DEADLINE_COLUMNS = [
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "escalation_at",
]
FINAL = (WorkOrder.Status.DONE, WorkOrder.Status.CANCELLED)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    WorkOrder.Status.OPEN: (
        WorkOrder.Status.IN_PROGRESS,
        WorkOrder.Status.DONE,
        WorkOrder.Status.CANCELLED,
    ),
    WorkOrder.Status.IN_PROGRESS: (
        WorkOrder.Status.DONE,
        WorkOrder.Status.CANCELLED,
        WorkOrder.Status.OPEN,
    ),
    WorkOrder.Status.DONE: (),
    WorkOrder.Status.CANCELLED: (),
}
WORKED_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING_CUSTOMER)
EXPECTATION_FIELDS = ["status", "next_step", "eta", "updated_at"]


class WorkOrderInvalid(ValueError):
    """The order cannot be created or changed as asked; nothing was written."""


class DuplicateWorkOrder(Exception):
    """The same order exists already (same key, or same kind and label still open)."""

    def __init__(self, existing: WorkOrder, reason: str) -> None:
        super().__init__(reason)
        self.existing = existing


@dataclass(frozen=True, slots=True)
class NewWorkOrder:
    kind: str
    team: Team
    title: str
    customer_label: str
    due_at: datetime
    idempotency_key: str
    owner: Agent | None = None
    depends_on: tuple[WorkOrder, ...] = ()
    details: dict[str, Any] | None = None


def create_work_order(*, case: Case, actor: Agent | None, order: NewWorkOrder) -> WorkOrder:
    """The new order, or the existing one for a retry with the same key and content.

    Raises ``DuplicateWorkOrder`` (key reused for something else, or an identical open
    order on the case — a second part must not ship), ``WorkOrderInvalid`` or
    ``PermissionDenied``.
    """
    _check_new(case=case, actor=actor, order=order)
    existing = WorkOrder.objects.filter(
        workspace_id=case.workspace_id, idempotency_key=order.idempotency_key
    ).first()
    if existing is not None:
        return _same_or_refuse(existing, case=case, order=order)
    twin = _open_twin(case=case, order=order)
    if twin is not None:
        raise DuplicateWorkOrder(twin, "An identical work order is already open on this case.")
    try:
        with transaction.atomic():
            return _write_new(case=case, actor=actor, order=order)
    except IntegrityError:  # a racing retry with the same key won
        existing = WorkOrder.objects.filter(
            workspace_id=case.workspace_id, idempotency_key=order.idempotency_key
        ).first()
        if existing is None:
            raise
        return _same_or_refuse(existing, case=case, order=order)


def update_work_order(
    *,
    work_order: WorkOrder,
    actor: Agent,
    status: str | None = None,
    owner: Agent | None = None,
    due_at: datetime | None = None,
    customer_label: str | None = None,
    external_ref: str | None = None,
) -> WorkOrder:
    """Apply the given changes (None = unchanged) in one transaction with one event."""
    if actor.workspace_id != work_order.workspace_id:
        raise PermissionDenied("This work order belongs to another workspace.")
    with transaction.atomic():
        order = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
        changes = _apply_changes(
            order,
            status=status,
            owner=owner,
            due_at=in_utc(due_at) if due_at is not None else None,
            customer_label=customer_label,
            external_ref=external_ref,
        )
        if changes:
            order.save()
            case = Case.objects.select_for_update().get(pk=order.case_id)
            _event(case, CaseEvent.Type.WORK_ORDER_UPDATED, actor, order, changes=changes)
            refresh_expectations(case)
    return order


def refresh_expectations(case: Case) -> None:
    """Status, next step and ETA the customer sees, from the case's open orders."""
    before = visible_state(case)
    open_orders = list(
        case.work_orders.filter(
            status__in=[WorkOrder.Status.OPEN, WorkOrder.Status.IN_PROGRESS]
        ).order_by("due_at", "id")
    )
    fields = EXPECTATION_FIELDS
    if open_orders:
        if case.status in WORKED_STATUSES:
            case.status = CaseStatus.PENDING_INTERNAL
        elif case.status == CaseStatus.RESOLVED:
            fields = EXPECTATION_FIELDS + _unresolve(case)
        case.next_step = open_orders[0].customer_label
        case.eta = max(order.due_at for order in open_orders)
    elif case.status == CaseStatus.PENDING_INTERNAL:
        # All work is done: back to the agent, who checks with the customer.
        case.status = CaseStatus.OPEN
        case.next_step = "We will check with you that everything is fixed."
        case.eta = None
    case.save(update_fields=fields)
    if visible_state(case) != before:
        note_change(case)


def _unresolve(case: Case) -> list[str]:
    """New work on a resolved case undoes the resolution: it is pending internal work
    again, with its deadlines back (the waiting proposal is then marked reopened by
    ``resolution.decide_resolutions``)."""
    case.status = CaseStatus.PENDING_INTERNAL
    case.resolved_at = None
    refresh_deadlines(case, targets_table(case.workspace))
    return ["resolved_at", *DEADLINE_COLUMNS]


# -- helpers --------------------------------------------------------------------------


def _check_new(*, case: Case, actor: Agent | None, order: NewWorkOrder) -> None:
    workspace_id = case.workspace_id
    if actor is not None and actor.workspace_id != workspace_id:
        raise PermissionDenied("This case belongs to another workspace.")
    if order.team.workspace_id != workspace_id:
        raise WorkOrderInvalid("Choose one of this workspace's teams.")
    if order.owner is not None and order.owner.workspace_id != workspace_id:
        raise WorkOrderInvalid("The owner must work in this workspace.")
    if any(dep.case_id != case.pk for dep in order.depends_on):
        raise WorkOrderInvalid("A work order can only depend on orders of the same case.")
    if case.status == CaseStatus.CLOSED:
        raise WorkOrderInvalid("This case is closed; reopen it first.")
    if not valid_kind(workspace_id=workspace_id, kind=order.kind):
        raise WorkOrderInvalid(f"Unknown kind of work order {order.kind[:40]!r}.")
    for field, value in (("title", order.title), ("customer label", order.customer_label)):
        if not value.strip() or len(value) > 200:
            raise WorkOrderInvalid(f"The {field} must be 1 to 200 characters.")
    key = order.idempotency_key.strip()
    if not key or len(key) > 100:
        raise WorkOrderInvalid("An idempotency key of 1 to 100 characters is required.")
    if order.due_at.tzinfo is None:
        raise WorkOrderInvalid("The due date needs a time zone.")
    in_utc(order.due_at)
    if len(str(order.details or {})) > MAX_DETAILS_CHARS:
        raise WorkOrderInvalid("The details are too long.")


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC: PostgreSQL refuses offsets beyond ±15:59 that Python parses."""
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise WorkOrderInvalid("The due date is out of range.") from exc


def valid_kind(*, workspace_id: int, kind: str) -> bool:
    if kind in WorkOrder.Kind.values:
        return True
    return WorkOrderKind.objects.filter(workspace_id=workspace_id, slug=kind).exists()


def _same_or_refuse(existing: WorkOrder, *, case: Case, order: NewWorkOrder) -> WorkOrder:
    same = (
        existing.case_id == case.pk
        and existing.kind == order.kind
        and existing.team_id == order.team.pk
        and existing.title == order.title.strip()
        and existing.customer_label == order.customer_label.strip()
    )
    if not same:
        raise DuplicateWorkOrder(existing, "This idempotency key was used for another order.")
    return existing


def _open_twin(*, case: Case, order: NewWorkOrder) -> WorkOrder | None:
    label = order.customer_label.strip().casefold()
    for candidate in case.work_orders.filter(
        kind=order.kind, status__in=[WorkOrder.Status.OPEN, WorkOrder.Status.IN_PROGRESS]
    ):
        if candidate.customer_label.casefold() == label:
            return candidate
    return None


def _write_new(*, case: Case, actor: Agent | None, order: NewWorkOrder) -> WorkOrder:
    created = WorkOrder.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        kind=order.kind,
        team=order.team,
        owner=order.owner,
        title=order.title.strip(),
        customer_label=order.customer_label.strip(),
        due_at=in_utc(order.due_at),
        idempotency_key=order.idempotency_key.strip(),
        details=order.details or {},
        created_by=actor,
    )
    if order.depends_on:
        created.depends_on.set(order.depends_on)
    locked = Case.objects.select_for_update().get(pk=case.pk)
    _event(locked, CaseEvent.Type.WORK_ORDER_CREATED, actor, created)
    refresh_expectations(locked)
    return created


def _apply_changes(order: WorkOrder, **wanted: Any) -> dict[str, str]:
    changes: dict[str, str] = {}
    status = wanted.pop("status")
    if status is not None and status != order.status:
        _move(order, status)
        changes["status"] = status
    for field, value in wanted.items():
        if value is None or getattr(order, field) == value:
            continue
        if field == "owner" and value.workspace_id != order.workspace_id:
            raise WorkOrderInvalid("The owner must work in this workspace.")
        if field in ("customer_label", "external_ref") and len(value) > 200:
            raise WorkOrderInvalid(f"The {field.replace('_', ' ')} is too long.")
        setattr(order, field, value)
        changes[field] = str(value)
    return changes


def _move(order: WorkOrder, status: str) -> None:
    if status not in TRANSITIONS.get(order.status, ()):
        raise WorkOrderInvalid(
            f"A {order.get_status_display().lower()} order cannot become {status}."
        )
    if status in (WorkOrder.Status.IN_PROGRESS, WorkOrder.Status.DONE):
        waiting = [
            dep.title for dep in order.depends_on.all() if dep.status != WorkOrder.Status.DONE
        ]
        if waiting:
            raise WorkOrderInvalid("First finish: " + "; ".join(waiting))
    now = timezone.now()
    if status == WorkOrder.Status.IN_PROGRESS and order.started_at is None:
        order.started_at = now
    elif status == WorkOrder.Status.DONE:
        order.done_at = now
    elif status == WorkOrder.Status.CANCELLED:
        order.cancelled_at = now
    order.status = status


def _event(case: Case, type_: str, actor: Agent | None, order: WorkOrder, **params: Any) -> None:
    CaseEvent.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        type=type_,
        params={
            "work_order": str(order.public_id),
            "kind": order.kind,
            "title": order.title,
            "customer_label": order.customer_label,
            "status": order.status,
            "due_at": order.due_at.isoformat(),
            **params,
        },
        actor=actor,
        at=timezone.now(),
    )
