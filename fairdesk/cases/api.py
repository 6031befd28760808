"""Read API for the queue and cases. Every query is scoped to the caller's workspace."""

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from fairdesk.api_auth import current_agent
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.cases.queries import QueueCursor, queue_page
from fairdesk.contacts.models import ContactIdentity
from fairdesk.workspaces.models import Workspace

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
) -> CasePage:
    """Open cases (new, open, pending internal), earliest escalation deadline first."""
    cursor = QueueCursor.decode(after) if after else None
    if after and cursor is None:
        raise HttpError(422, "Invalid cursor.")
    page = queue_page(workspace=current_agent(request).workspace, after=cursor, limit=limit)
    return CasePage(
        items=[CaseItem(**_item_fields(c)) for c in page.cases],
        next_cursor=page.next_cursor.encode() if page.next_cursor else None,
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
