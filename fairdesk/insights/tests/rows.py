"""Raw-row builders for figure tests: cases, messages and events created directly with the ORM."""

import itertools
from datetime import datetime, timedelta
from typing import Any

from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Direction, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.workspaces.models import Employee, Team, Workspace

_ids = itertools.count(1)


def identity(
    workspace: Workspace,
    handle: str,
    *,
    channel: str = "x",
    followers: int | None = None,
    contact: Contact | None = None,
) -> ContactIdentity:
    if contact is None:
        contact = Contact.objects.create(workspace=workspace, display_name=handle.lstrip("@"))
    return ContactIdentity.objects.create(
        workspace=workspace,
        contact=contact,
        channel=channel,
        external_id=f"id-{next(_ids)}",
        handle=handle,
        follower_count=followers,
    )


def message(
    case: Case | None,
    *,
    at: datetime,
    workspace: Workspace | None = None,
    direction: str = Direction.INBOUND,
    identity: ContactIdentity | None = None,
    visibility: str = "public",
    sentiment: str = "",
    stance: str = "",
    is_spam: bool = False,
    delivery_status: str = "received",
    text: str = "hello",
    praise: bool = False,
) -> Message:
    ws = workspace or (case.workspace if case else None)
    assert ws is not None
    channel = identity.channel if identity else (case.origin_channel if case else "x")
    return Message.objects.create(
        workspace=ws,
        case=case,
        channel=channel,
        direction=direction,
        visibility=visibility,
        identity=identity,
        external_id=f"m-{next(_ids)}",
        text=text,
        sent_at=at,
        sentiment=sentiment,
        stance=stance,
        is_spam=is_spam,
        delivery_status=delivery_status,
        triage={"praise": True, "intent": "praise"} if praise else {},
    )


def case(
    author: ContactIdentity,
    *,
    at: datetime,
    answered_after: float | None = None,
    status: str = CaseStatus.OPEN,
    escalation_at: datetime | None = None,
    subject: str = "",
    sentiment: str = "",
    severity: str = "normal",
    entitlement: str = "standard",
    team: Team | None = None,
    visibility: str = "public",
    resolved_after: float | None = None,
    text: str = "hello",
    **message_fields: Any,
) -> Case:
    """A case opened by ``author`` at ``at`` with its first message, answered if asked.

    ``answered_after`` and ``resolved_after`` are minutes after ``at``.
    """
    answered_at = None if answered_after is None else at + timedelta(minutes=answered_after)
    new = Case.objects.create(
        workspace=author.workspace,
        contact=author.contact,
        status=CaseStatus.RESOLVED if resolved_after is not None else status,
        subject=subject,
        severity=severity,
        entitlement=entitlement,
        team=team,
        origin_channel=author.channel,
        first_inbound_at=at,
        last_inbound_at=at,
        first_response_at=answered_at,
        last_response_at=answered_at,
        resolved_at=None if resolved_after is None else at + timedelta(minutes=resolved_after),
        escalation_at=escalation_at,
    )
    message(
        new,
        at=at,
        identity=author,
        sentiment=sentiment,
        visibility=visibility,
        text=text,
        **message_fields,
    )
    if answered_at is not None:
        message(
            new,
            at=answered_at,
            direction=Direction.OUTBOUND,
            visibility=visibility,
            text="Sorry to hear that ^JC",
        )
    return new


def praise_event(
    case: Case, employee: Employee, *, at: datetime, recipients: list[str] | None = None
) -> CaseEvent:
    """The event the pipeline writes when praise names ``employee`` (inbound/events.py)."""
    manager = employee.manager
    return CaseEvent.objects.create(
        workspace=case.workspace,
        case=case,
        type=CaseEvent.Type.PRAISE_FORWARDED,
        at=at,
        params={
            "employee_id": employee.pk,
            "employee": employee.name,
            "manager_id": manager.pk if manager else None,
            "manager": manager.name if manager else "",
            "recipients": recipients or [],
        },
    )
