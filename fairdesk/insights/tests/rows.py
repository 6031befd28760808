"""Raw-row builders for figure tests: cases and messages created directly with the ORM."""

import itertools
from datetime import datetime, timedelta

from fairdesk.cases.models import Case, CaseStatus, Direction, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.workspaces.models import Workspace

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
) -> Case:
    """A case opened by ``author`` at ``at`` with its first message, answered if asked."""
    answered_at = None if answered_after is None else at + timedelta(minutes=answered_after)
    new = Case.objects.create(
        workspace=author.workspace,
        contact=author.contact,
        status=status,
        subject=subject,
        origin_channel=author.channel,
        first_inbound_at=at,
        last_inbound_at=at,
        first_response_at=answered_at,
        last_response_at=answered_at,
        escalation_at=escalation_at,
    )
    message(new, at=at, identity=author, sentiment=sentiment)
    if answered_at is not None:
        message(new, at=answered_at, direction=Direction.OUTBOUND, text="Sorry to hear that ^JC")
    return new
