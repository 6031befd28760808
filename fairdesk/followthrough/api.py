"""Work orders and resolutions over HTTP: agents and external back-office systems
(bearer tokens).

Unknown fields are refused (422). Creating with an idempotency key already used for the
same order returns it again (200); a duplicate is refused with a pointer (409).
Proposing resolution while work orders are open is refused with their ids (409);
proposing again while the customer has not answered returns the waiting proposal (200).
"""

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict

from fairdesk.api_auth import current_agent
from fairdesk.cases.queries import case_for
from fairdesk.followthrough.models import Resolution, WorkOrder
from fairdesk.followthrough.queries import (
    resolution_rates,
    resolutions_of,
    team_queue,
    work_order_for,
)
from fairdesk.followthrough.resolution import ResolutionRefused, propose_resolution
from fairdesk.followthrough.services import (
    DuplicateWorkOrder,
    NewWorkOrder,
    WorkOrderInvalid,
    create_work_order,
    update_work_order,
)
from fairdesk.insights.services import RootCauseInvalid
from fairdesk.workspaces.models import Agent, Team

router = Router()


class WorkOrderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    case: uuid.UUID
    kind: str = Field(max_length=40)
    team: str = Field(max_length=50, description="The team's slug.")
    title: str = Field(min_length=1, max_length=200)
    customer_label: str = Field(min_length=1, max_length=200)
    due_at: datetime
    idempotency_key: str = Field(min_length=8, max_length=100)
    owner: str | None = Field(default=None, description="The owner's username.")
    depends_on: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    details: dict[str, Any] = Field(default_factory=dict)


class WorkOrderPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "in_progress", "done", "cancelled"] | None = None
    owner: str | None = None
    due_at: datetime | None = None
    customer_label: str | None = Field(default=None, min_length=1, max_length=200)
    external_ref: str | None = Field(default=None, max_length=200)


class WorkOrderOut(Schema):
    id: uuid.UUID
    case: uuid.UUID
    case_reference: str
    kind: str
    team: str
    owner: str | None
    title: str
    customer_label: str
    status: str
    due_at: datetime
    depends_on: list[uuid.UUID]
    external_ref: str
    created_at: datetime
    done_at: datetime | None


class Refused(Schema):
    detail: str
    existing: uuid.UUID | None = None


def _out(order: WorkOrder) -> WorkOrderOut:
    return WorkOrderOut(
        id=order.public_id,
        case=order.case.public_id,
        case_reference=order.case.reference,
        kind=order.kind,
        team=order.team.slug,
        owner=order.owner.user.username if order.owner else None,
        title=order.title,
        customer_label=order.customer_label,
        status=order.status,
        due_at=order.due_at,
        depends_on=[dep.public_id for dep in order.depends_on.all()],
        external_ref=order.external_ref,
        created_at=order.created_at,
        done_at=order.done_at,
    )


def _team(agent: Agent, slug: str) -> Team:
    team = Team.objects.filter(workspace=agent.workspace, slug=slug).first()
    if team is None:
        raise HttpError(422, f"No team {slug[:50]!r} in this workspace.")
    return team


def _owner(agent: Agent, username: str | None) -> Agent | None:
    if username is None:
        return None
    owner = Agent.objects.filter(workspace=agent.workspace, user__username=username).first()
    if owner is None:
        raise HttpError(422, f"No agent {username[:50]!r} in this workspace.")
    return owner


@router.post("/work-orders", response={200: WorkOrderOut, 201: WorkOrderOut, 409: Refused})
def create(request: HttpRequest, body: WorkOrderIn) -> tuple[int, Any]:
    agent = current_agent(request)
    case = case_for(workspace=agent.workspace, public_id=body.case)
    deps = list(WorkOrder.objects.filter(workspace=agent.workspace, public_id__in=body.depends_on))
    if len(deps) != len(set(body.depends_on)):
        raise HttpError(422, "depends_on names an unknown work order.")
    before = WorkOrder.objects.filter(
        workspace=agent.workspace, idempotency_key=body.idempotency_key
    ).exists()
    order = NewWorkOrder(
        kind=body.kind,
        team=_team(agent, body.team),
        title=body.title,
        customer_label=body.customer_label,
        due_at=body.due_at,
        idempotency_key=body.idempotency_key,
        owner=_owner(agent, body.owner),
        depends_on=tuple(deps),
        details=body.details,
    )
    try:
        created = create_work_order(case=case, actor=agent, order=order)
    except DuplicateWorkOrder as refused:
        return 409, Refused(detail=str(refused), existing=refused.existing.public_id)
    except WorkOrderInvalid as error:
        raise HttpError(422, str(error)) from error
    return (200 if before else 201), _out(created)


@router.get("/work-orders", response=list[WorkOrderOut])
def queue(request: HttpRequest, team: str | None = None, limit: int = 100) -> list[WorkOrderOut]:
    """Open work orders earliest due first (optionally one team's)."""
    agent = current_agent(request)
    chosen = _team(agent, team) if team else None
    orders = team_queue(workspace=agent.workspace, team=chosen, limit=max(1, min(limit, 500)))
    return [_out(order) for order in orders.prefetch_related("depends_on")]


@router.get("/work-orders/{order_id}", response=WorkOrderOut)
def detail(request: HttpRequest, order_id: uuid.UUID) -> WorkOrderOut:
    agent = current_agent(request)
    return _out(work_order_for(workspace=agent.workspace, public_id=order_id))


@router.patch("/work-orders/{order_id}", response=WorkOrderOut)
def change(request: HttpRequest, order_id: uuid.UUID, body: WorkOrderPatch) -> WorkOrderOut:
    """For agents and external systems (status updates from a warehouse, a field-service
    tool, a payment system)."""
    agent = current_agent(request)
    order = work_order_for(workspace=agent.workspace, public_id=order_id)
    try:
        updated = update_work_order(
            work_order=order,
            actor=agent,
            status=body.status,
            owner=_owner(agent, body.owner),
            due_at=body.due_at,
            customer_label=body.customer_label,
            external_ref=body.external_ref,
        )
    except WorkOrderInvalid as error:
        raise HttpError(422, str(error)) from error
    except PermissionDenied as error:
        raise HttpError(404, "No such work order.") from error
    return _out(work_order_for(workspace=agent.workspace, public_id=updated.public_id))


# -- resolution -------------------------------------------------------------------------


class ResolutionOut(Schema):
    id: uuid.UUID
    case: uuid.UUID
    case_reference: str
    proposed_by: str | None
    proposed_at: datetime
    outcome: Literal["pending", "confirmed", "quiet_closed", "reopened"]
    decided_at: datetime | None
    question_channel: str | None


class ResolutionRefusedOut(Schema):
    detail: str
    open_work_orders: list[uuid.UUID]


class RatesOut(Schema):
    since: datetime | None
    until: datetime | None
    proposals: int
    confirmed: int
    quiet_closed: int
    reopened: int
    pending: int
    made_whole_rate: float | None = Field(description="Confirmed over proposals, percent.")
    reopen_rate: float | None = Field(description="Reopened over proposals, percent.")


RootCauseParam = Query("", max_length=100, description="A root cause's slug to tag the case with.")


def _resolution_out(resolution: Resolution) -> ResolutionOut:
    return ResolutionOut(
        id=resolution.public_id,
        case=resolution.case.public_id,
        case_reference=resolution.case.reference,
        proposed_by=resolution.proposed_by.user.username if resolution.proposed_by else None,
        proposed_at=resolution.proposed_at,
        outcome=resolution.outcome,  # type: ignore[arg-type]
        decided_at=resolution.decided_at,
        question_channel=resolution.question.channel if resolution.question else None,
    )


@router.post(
    "/cases/{case_id}/resolution",
    response={200: ResolutionOut, 201: ResolutionOut, 409: ResolutionRefusedOut},
    tags=["resolutions"],
)
def propose(
    request: HttpRequest, case_id: uuid.UUID, root_cause: str = RootCauseParam
) -> tuple[int, Any]:
    """Resolve the case pending the customer's confirmation: "Is this fixed for you?".
    An optional ``?root_cause=`` (a catalogue slug) tags the case; an unknown one is 422."""
    agent = current_agent(request)
    case = case_for(workspace=agent.workspace, public_id=case_id)
    before = Resolution.objects.filter(case=case, outcome=Resolution.Outcome.PENDING).exists()
    try:
        resolution = propose_resolution(case=case, agent=agent, root_cause=root_cause)
    except RootCauseInvalid as error:
        raise HttpError(422, str(error)) from error
    except ResolutionRefused as refused:
        ids = [order.public_id for order in refused.open_orders]
        return 409, ResolutionRefusedOut(detail=str(refused), open_work_orders=ids)
    return (200 if before else 201), _resolution_out(resolution)


@router.get("/cases/{case_id}/resolutions", response=list[ResolutionOut], tags=["resolutions"])
def case_resolutions(request: HttpRequest, case_id: uuid.UUID) -> list[ResolutionOut]:
    """Every proposal on the case, latest first."""
    agent = current_agent(request)
    case = case_for(workspace=agent.workspace, public_id=case_id)
    return [_resolution_out(resolution) for resolution in resolutions_of(case)]


@router.get("/resolutions/rates", response=RatesOut, tags=["resolutions"])
def rates(
    request: HttpRequest, since: datetime | None = None, until: datetime | None = None
) -> RatesOut:
    """Made-whole rate (confirmed / proposals) and reopen rate (reopened / proposals) of
    the proposals made in [since, until)."""
    agent = current_agent(request)
    if any(moment is not None and moment.tzinfo is None for moment in (since, until)):
        raise HttpError(422, "since and until need a time zone, e.g. 2026-11-01T00:00:00Z.")
    # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python happily parses.
    try:
        since, until = (m.astimezone(UTC) if m is not None else None for m in (since, until))
    except OverflowError as exc:
        raise HttpError(422, "since or until is out of range.") from exc
    figures = resolution_rates(workspace=agent.workspace, since=since, until=until)
    return RatesOut(
        since=since,
        until=until,
        proposals=figures.proposals,
        confirmed=figures.confirmed,
        quiet_closed=figures.quiet_closed,
        reopened=figures.reopened,
        pending=figures.pending,
        made_whole_rate=figures.made_whole_rate,
        reopen_rate=figures.reopen_rate,
    )
