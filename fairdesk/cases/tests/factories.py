"""Cases built straight through the ORM, for tests that need one without the pipeline."""

from datetime import datetime, timedelta

from django.utils import timezone

from fairdesk.cases.lifecycle import refresh_deadlines
from fairdesk.cases.models import Case, DeliveryStatus, Direction, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Workspace


def make_case(
    workspace: Workspace,
    *,
    text: str = "My heater stopped working",
    handle: str = "@dana",
    name: str = "Dana",
    channel: str = "x",
    external_id: str = "m-1",
    visibility: str = "public",
    severity: str = "normal",
    followers: int | None = 120,
    at: datetime | None = None,
    subject: str = "",
) -> Case:
    """A contact with one identity, one inbound message and an open case with deadlines."""
    at = at or timezone.now() - timedelta(minutes=30)
    contact = Contact.objects.create(workspace=workspace, display_name=name)
    identity = ContactIdentity.objects.create(
        workspace=workspace,
        contact=contact,
        channel=channel,
        external_id=f"u-{external_id}",
        handle=handle,
        display_name=name,
        follower_count=followers,
    )
    case = Case(
        workspace=workspace,
        contact=contact,
        team=workspace.teams.get(is_default=True),
        severity=severity,
        subject=subject or text[:80],
        origin_channel=channel,
        first_inbound_at=at,
        last_inbound_at=at,
        awaiting_since=at,
    )
    refresh_deadlines(case, targets_table(workspace))
    case.save()
    add_inbound(case, identity, text=text, external_id=external_id, visibility=visibility, at=at)
    return case


def add_inbound(
    case: Case,
    identity: ContactIdentity,
    *,
    text: str,
    external_id: str,
    visibility: str = "public",
    at: datetime | None = None,
    channel: str | None = None,
) -> Message:
    return Message.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        channel=channel or identity.channel,
        direction=Direction.INBOUND,
        visibility=visibility,
        identity=identity,
        external_id=external_id,
        text=text,
        sent_at=at or timezone.now(),
        delivery_status=DeliveryStatus.RECEIVED,
        sentiment="negative",
        triage={"signals": ["service_down"], "praise": False},
    )
