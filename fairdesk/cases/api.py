"""API for the queue and cases: reads, views, search, bulk actions and assignment.

Every query is scoped to the caller's workspace; bodies reject unknown fields (422).
"""

import base64
import binascii
import json
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict, ValidationError

from fairdesk.api_auth import current_agent
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.cases.queries import QueueCursor, queue_page
from fairdesk.cases.search import MAX_QUERY_CHARS, SEARCH_PAGE_SIZE, SearchInvalid, search_cases
from fairdesk.contacts.models import ContactIdentity
from fairdesk.routing import assignment
from fairdesk.routing import services as routing_services
from fairdesk.routing.conditions import BUILT_IN, BUILT_IN_VIEWS, Conditions
from fairdesk.routing.models import SavedView
from fairdesk.routing.queries import agent_load, pool_load, saved_view_for, visible_views
from fairdesk.routing.services import (
    MAX_BULK,
    MAX_VIEW_NAME,
    BulkInvalid,
    BulkResult,
    ViewInvalid,
)
from fairdesk.workspaces.models import Agent, Team, Workspace
from fairdesk.workspaces.services import set_availability

router = Router()


class CaseItem(Schema):
    id: uuid.UUID = Field(description="The case's public id, used in every URL.")
    reference: str
    severity: str
    status: str
    team: str | None
    subject: str
    origin_channel: str
    contact_handle: str | None
    first_response_due_at: datetime | None
    next_response_due_at: datetime | None
    resolution_due_at: datetime | None
    escalation_at: datetime | None


class CasePage(Schema):
    items: list[CaseItem]
    next_cursor: str | None = Field(description="Pass as `after` for the next page.")


class IdentityOut(Schema):
    channel: str
    handle: str
    display_name: str
    follower_count: int | None
    verified: bool


class ContactOut(Schema):
    display_name: str
    email: str
    phone: str
    entitlement: str
    identities: list[IdentityOut]


class CaseDetail(CaseItem):
    entitlement: str
    reason: str
    topic: str
    assignee: str | None
    next_step: str
    eta: datetime | None
    first_inbound_at: datetime
    last_inbound_at: datetime
    first_response_at: datetime | None
    last_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    contact: ContactOut


class MessageOut(Schema):
    id: int
    direction: str
    visibility: str
    channel: str
    author: str | None = Field(description="Contact handle, or the agent's name and initials.")
    text: str
    sent_at: datetime
    delivery_status: str
    in_reply_to: str
    sentiment: str
    stance: str
    is_spam: bool


class EventOut(Schema):
    type: str
    params: dict[str, Any]
    actor: str | None
    at: datetime


# -- reads -------------------------------------------------------------------------------


def _cases(workspace: Workspace) -> QuerySet[Case]:
    return (
        Case.objects.filter(workspace=workspace)
        .select_related("team", "contact")
        .prefetch_related(
            Prefetch("contact__identities", queryset=ContactIdentity.objects.order_by("id"))
        )
    )


def _encode_cursor(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise HttpError(422, "Invalid cursor.") from exc
    if not isinstance(value, dict) or not isinstance(value.get("i"), int):
        raise HttpError(422, "Invalid cursor.")
    return value


def case_list_page(
    workspace: Workspace, *, status: str | None, limit: int, after: str | None
) -> tuple[list[Case], str]:
    """All cases, newest first, optionally of one status; keyset paged on the id."""
    qs = _cases(workspace)
    if status:
        qs = qs.filter(status=status)
    if after:
        qs = qs.filter(id__lt=_decode_cursor(after)["i"])
    rows = list(qs.order_by("-id")[: limit + 1])
    if len(rows) <= limit:
        return rows, ""
    return rows[:limit], _encode_cursor({"i": rows[limit - 1].pk})


def _case_or_404(workspace: Workspace, public_id: uuid.UUID) -> Case:
    return get_object_or_404(_cases(workspace).select_related("assignee"), public_id=public_id)


def _first_handle(case: Case) -> str | None:
    """The contact's first identity with a handle (identities are prefetched in id order)."""
    return next((i.handle for i in case.contact.identities.all() if i.handle), None)


# -- shaping -----------------------------------------------------------------------------


def _item_fields(case: Case) -> dict[str, Any]:
    return {
        "id": case.public_id,
        "reference": case.reference,
        "severity": case.severity,
        "status": case.status,
        "team": case.team.name if case.team else None,
        "subject": case.subject,
        "origin_channel": case.origin_channel,
        "contact_handle": _first_handle(case),
        "first_response_due_at": case.first_response_due_at,
        "next_response_due_at": case.next_response_due_at,
        "resolution_due_at": case.resolution_due_at,
        "escalation_at": case.escalation_at,
    }


def _detail(case: Case) -> CaseDetail:
    contact = case.contact
    identities = [
        IdentityOut(
            channel=i.channel,
            handle=i.handle,
            display_name=i.display_name,
            follower_count=i.follower_count,
            verified=i.verified,
        )
        for i in contact.identities.all()
    ]
    return CaseDetail(
        **_item_fields(case),
        entitlement=case.entitlement,
        reason=case.reason,
        topic=case.topic,
        assignee=str(case.assignee) if case.assignee else None,
        next_step=case.next_step,
        eta=case.eta,
        first_inbound_at=case.first_inbound_at,
        last_inbound_at=case.last_inbound_at,
        first_response_at=case.first_response_at,
        last_response_at=case.last_response_at,
        resolved_at=case.resolved_at,
        closed_at=case.closed_at,
        contact=ContactOut(
            display_name=contact.display_name,
            email=contact.email,
            phone=contact.phone,
            entitlement=contact.entitlement,
            identities=identities,
        ),
    )


def _message(message: Message) -> MessageOut:
    if message.agent is not None:
        author: str | None = str(message.agent)
    elif message.identity is not None:
        author = message.identity.handle or message.identity.external_id
    else:
        author = None
    return MessageOut(
        id=message.pk,
        direction=message.direction,
        visibility=message.visibility,
        channel=message.channel,
        author=author,
        text=message.text,
        sent_at=message.sent_at,
        delivery_status=message.delivery_status,
        in_reply_to=message.in_reply_to,
        sentiment=message.sentiment,
        stance=message.stance,
        is_spam=message.is_spam,
    )


# -- endpoints ---------------------------------------------------------------------------


@router.get("/queue", response=CasePage, summary="Open cases in queue order")
def queue(
    request: Any,
    limit: int = Query(50, ge=1, le=200),
    after: str | None = Query(None, max_length=500),
    view: str | None = Query(
        None, max_length=100, description="A built-in view key (see /views) or a saved view id."
    ),
    conditions: str | None = Query(
        None, max_length=4000, description="Ad-hoc view: a JSON object of the condition schema."
    ),
) -> CasePage:
    """Open cases (new, open, pending internal), earliest escalation deadline first.

    A view or conditions narrow the cases shown; the order is the deadline whatever
    they say. Unknown condition fields are rejected with 422."""
    agent = current_agent(request)
    cursor = QueueCursor.decode(after) if after else None
    if after and cursor is None:
        raise HttpError(422, "Invalid cursor.")
    chosen = _requested_view(agent, view=view, conditions=conditions)
    page = queue_page(
        workspace=agent.workspace, after=cursor, limit=limit, view=chosen, agent=agent
    )
    return CasePage(
        items=[CaseItem(**_item_fields(c)) for c in page.cases],
        next_cursor=page.next_cursor.encode() if page.next_cursor else None,
    )


def _requested_view(agent: Agent, *, view: str | None, conditions: str | None) -> Conditions | None:
    if view is not None and conditions is not None:
        raise HttpError(422, "Give either a view or conditions, not both.")
    if conditions is not None:
        try:
            return Conditions.model_validate_json(conditions)
        except ValidationError as error:
            raise HttpError(422, _problems(error)) from error
    if view is None:
        return None
    builtin = BUILT_IN.get(view)
    if builtin is not None:
        return builtin.conditions
    try:
        public_id = uuid.UUID(view)
    except ValueError:
        raise HttpError(422, "Unknown view.") from None
    saved = saved_view_for(agent, public_id)
    if saved is None:
        raise HttpError(404, "No such view.")
    return Conditions.model_validate(saved.conditions)


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'conditions'}: {e['msg']}" for e in error.errors()
    )


@router.get("/cases", response=CasePage, summary="Cases, newest first")
def list_cases(
    request: Any,
    status: CaseStatus | None = None,
    limit: int = Query(50, ge=1, le=200),
    after: str | None = Query(None, max_length=500),
) -> CasePage:
    rows, cursor = case_list_page(
        current_agent(request).workspace, status=status, limit=limit, after=after
    )
    return CasePage(items=[CaseItem(**_item_fields(c)) for c in rows], next_cursor=cursor or None)


@router.get("/cases/{public_id}", response=CaseDetail, summary="One case with its contact")
def case_detail(request: Any, public_id: uuid.UUID) -> CaseDetail:
    return _detail(_case_or_404(current_agent(request).workspace, public_id))


@router.get("/cases/{public_id}/messages", response=list[MessageOut], summary="Case timeline")
def case_messages(request: Any, public_id: uuid.UUID) -> list[MessageOut]:
    """Every message on the case in platform-time order, with its triage summary."""
    case = _case_or_404(current_agent(request).workspace, public_id)
    messages = case.messages.select_related("identity", "agent").order_by("sent_at", "id")
    return [_message(m) for m in messages]


@router.get("/cases/{public_id}/events", response=list[EventOut], summary="Case event log")
def case_events(request: Any, public_id: uuid.UUID) -> list[EventOut]:
    case = _case_or_404(current_agent(request).workspace, public_id)
    events = CaseEvent.objects.filter(case=case).select_related("actor").order_by("at", "id")
    return [
        EventOut(type=e.type, params=e.params, actor=str(e.actor) if e.actor else None, at=e.at)
        for e in events
    ]


# -- views, search, bulk actions, assignment, load ----------------------------------------


class ViewOut(Schema):
    id: str = Field(description="A built-in key, or the saved view's id: pass as `view`.")
    name: str
    built_in: bool
    shared: bool
    owner: str | None
    conditions: dict[str, Any]


class ViewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_VIEW_NAME)
    shared: bool = Field(default=False, description="Visible to the whole workspace (supervisors).")
    conditions: Conditions


class BulkIn(Schema):
    model_config = ConfigDict(extra="forbid")

    case_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BULK)
    action: Literal["assign", "unassign", "route", "status"]
    assignee: str | None = Field(default=None, max_length=150, description='A username, or "me".')
    team: str | None = Field(default=None, max_length=50, description="A team slug.")
    status: Literal["open", "pending_customer", "pending_internal", "resolved", "closed"] | None = (
        None
    )


class BulkOut(Schema):
    changed: int
    unchanged: int
    refused: int = Field(description="Ids not in your workspace, or cases that may not change.")
    reasons: list[str]


class TakeNextOut(Schema):
    case: CaseItem | None = Field(description="The case now assigned to you; null if none.")


class AvailabilityIn(Schema):
    model_config = ConfigDict(extra="forbid")

    available: bool


class AgentLoadOut(Schema):
    agent: str
    team: str | None
    available: bool
    open_assigned: int
    overdue: int
    breaching_soon: int
    oldest_deadline: datetime | None


class PoolLoadOut(Schema):
    """Unassigned queued cases; counts stop at 1000 (a page never counts without bound)."""

    unassigned: int
    overdue: int
    breaching_soon: int
    oldest_deadline: datetime | None


class LoadOut(Schema):
    agents: list[AgentLoadOut]
    unassigned: PoolLoadOut


def _view_out(view: SavedView) -> ViewOut:
    return ViewOut(
        id=str(view.public_id),
        name=view.name,
        built_in=False,
        shared=view.shared,
        owner=str(view.owner),
        conditions=view.conditions,
    )


@router.get("/views", response=list[ViewOut], summary="Views of the queue")
def list_views(request: Any) -> list[ViewOut]:
    """The built-in views, then the caller's own and the workspace's shared ones."""
    agent = current_agent(request)
    built_in = [
        ViewOut(
            id=v.key,
            name=v.name,
            built_in=True,
            shared=True,
            owner=None,
            conditions=v.conditions.model_dump(mode="json", exclude_defaults=True),
        )
        for v in BUILT_IN_VIEWS
    ]
    return built_in + [_view_out(v) for v in visible_views(agent)]


@router.post("/views", response={201: ViewOut}, summary="Save a view")
def create_view(request: Any, body: ViewIn) -> Status[ViewOut]:
    agent = current_agent(request)
    try:
        view = routing_services.save_view(
            agent=agent, name=body.name, conditions=body.conditions, shared=body.shared
        )
    except ViewInvalid as error:
        raise HttpError(422, str(error)) from error
    except PermissionDenied as error:
        raise HttpError(403, str(error)) from error
    return Status(201, _view_out(view))


@router.delete("/views/{public_id}", response={204: None}, summary="Delete a saved view")
def remove_view(request: Any, public_id: uuid.UUID) -> Status[None]:
    agent = current_agent(request)
    view = saved_view_for(agent, public_id)
    if view is None:
        raise HttpError(404, "No such view.")
    try:
        routing_services.delete_view(agent=agent, view=view)
    except PermissionDenied as error:
        raise HttpError(403, str(error)) from error
    return Status(204, None)


@router.get("/search", response=CasePage, summary="Search messages, handles and names")
def search(
    request: Any,
    q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS),
    limit: int = Query(SEARCH_PAGE_SIZE, ge=1, le=100),
    after: str | None = Query(None, max_length=30),
) -> CasePage:
    """Cases of your workspace with a message containing every word of ``q`` (the last
    as a prefix), or whose contact's name or handle contains ``q``; newest first."""
    try:
        page = search_cases(
            workspace=current_agent(request).workspace, query=q, after=after, limit=limit
        )
    except SearchInvalid as error:
        raise HttpError(422, str(error)) from error
    return CasePage(
        items=[CaseItem(**_item_fields(c)) for c in page.cases], next_cursor=page.next_cursor
    )


@router.post("/queue/bulk", response=BulkOut, summary="One action on many cases")
def bulk(request: Any, body: BulkIn) -> BulkOut:
    """Assign, unassign, move to a team or change the status of many cases in one
    transaction. Ids of other workspaces are not touched and are counted as refused."""
    agent = current_agent(request)
    try:
        result = _run_bulk(agent, body)
    except BulkInvalid as error:
        raise HttpError(422, str(error)) from error
    return BulkOut(
        changed=result.changed,
        unchanged=result.unchanged,
        refused=result.refused,
        reasons=result.reasons,
    )


def _run_bulk(agent: Agent, body: BulkIn) -> BulkResult:
    ids = body.case_ids
    if body.action == "assign":
        assignee = _agent_named(agent, body.assignee)
        return routing_services.bulk_assign(agent=agent, case_ids=ids, assignee=assignee)
    if body.action == "unassign":
        return routing_services.bulk_assign(agent=agent, case_ids=ids, assignee=None)
    if body.action == "route":
        team = Team.objects.filter(workspace_id=agent.workspace_id, slug=body.team or "").first()
        if team is None:
            raise HttpError(422, "Name a team of this workspace.")
        return routing_services.bulk_route(agent=agent, case_ids=ids, team=team)
    if body.status is None:
        raise HttpError(422, "Name the status to set.")
    return routing_services.bulk_set_status(agent=agent, case_ids=ids, status=body.status)


def _agent_named(agent: Agent, username: str | None) -> Agent:
    if username == "me":
        return agent
    found = Agent.objects.filter(
        workspace_id=agent.workspace_id, user__username=username or ""
    ).first()
    if found is None:
        raise HttpError(422, "Name an agent of this workspace.")
    return found


@router.post("/queue/take-next", response=TakeNextOut, summary="Claim the next case")
def take_next(request: Any) -> TakeNextOut:
    """Atomically assign yourself the earliest-deadline unassigned case of your team.
    409 when you already hold as many open cases as your team's policy allows."""
    try:
        case = assignment.take_next(agent=current_agent(request))
    except assignment.AtCapacity as error:
        raise HttpError(409, str(error)) from error
    if case is None:
        return TakeNextOut(case=None)
    return TakeNextOut(case=CaseItem(**_item_fields(_cases(case.workspace).get(pk=case.pk))))


@router.put("/me/availability", response=AvailabilityIn, summary="Start or end your shift")
def availability(request: Any, body: AvailabilityIn) -> AvailabilityIn:
    agent = set_availability(agent=current_agent(request), available=body.available)
    return AvailabilityIn(available=agent.is_available)


@router.get("/load", response=LoadOut, summary="Load per agent (supervisors)")
def load(request: Any) -> LoadOut:
    """Open assigned cases, overdue and breaching-soon counts and the earliest deadline
    per agent, and the same for unassigned cases. A constant number of queries."""
    agent = current_agent(request)
    if not agent.is_supervisor:
        raise HttpError(403, "Only supervisors see the load of every agent.")
    now = timezone.now()
    agents = [
        AgentLoadOut(
            agent=str(row.agent),
            team=row.agent.team.name if row.agent.team else None,
            available=row.agent.is_available,
            open_assigned=row.open_assigned,
            overdue=row.overdue,
            breaching_soon=row.breaching_soon,
            oldest_deadline=row.oldest_deadline,
        )
        for row in agent_load(agent.workspace, now=now)
    ]
    pool = pool_load(agent.workspace, now=now)
    return LoadOut(agents=agents, unassigned=PoolLoadOut(**asdict(pool)))


# Merge, split and undo live in their own module, on this router (same tag and prefix).
from fairdesk.cases.merge_api import router as merge_router  # noqa: E402

router.add_router("/", merge_router)
