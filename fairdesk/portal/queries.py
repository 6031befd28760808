"""Reads for the portal. Everything a customer sees is scoped to the workspace AND the
verified contact, and built into small records that carry only customer-visible fields:
templates never receive a Message, a Case's triage or an agent.

Customer-visible means (see ``customer_messages``): public or private (never internal)
messages of the case, written by this contact's own identities, or sent by us (queued,
held or failed replies were never seen by the customer). A private reply of ours that
answers someone else's message on the case is left out too.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from fairdesk.cases.models import Attachment, Case, CaseStatus, DeliveryStatus, Direction, Message
from fairdesk.cases.queries import attachments_of
from fairdesk.contacts.models import ContactIdentity
from fairdesk.followthrough.models import WorkOrder
from fairdesk.portal import credentials
from fairdesk.portal.models import CsatResponse, PortalLink, PortalSession
from fairdesk.replies.services import private_channels
from fairdesk.workspaces.models import Workspace

CUSTOMER_VISIBLE = ("public", "private")
STATUS_LABELS: dict[str, str] = {
    CaseStatus.NEW: "Received — we are looking at it",
    CaseStatus.OPEN: "We are working on it",
    CaseStatus.PENDING_CUSTOMER: "Waiting for your reply",
    CaseStatus.PENDING_INTERNAL: "Work in progress",
    CaseStatus.RESOLVED: "Resolved — tell us if anything is still wrong",
    CaseStatus.CLOSED: "Closed",
}
CHANNEL_NAMES = {
    "x": "X",
    "facebook": "Facebook",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "email": "e-mail",
    "webform": "our web form",
    "phone": "phone",
    "portal": "this portal",
}


# --- verification routes ---------------------------------------------------------------


def verification_routes(case: Case) -> list[ContactIdentity]:
    """Where a link or a code may go: the contact's own accounts on channels with
    private messages (one per channel, the one a private message is addressed to),
    including an e-mail address they wrote to us from. Never ``Contact.email`` alone: a
    web form or a quoted case reference can set it, so it proves nothing."""
    return [identity for _, identity in private_channels(case) if identity.pk is not None]


def route_choices(case: Case) -> list[tuple[str, str]]:
    """The agent's choice of channel for a link: (channel, label) per route."""
    return [(i.channel, route_label(i)) for i in verification_routes(case)]


def route_label(identity: ContactIdentity) -> str:
    """How a route is shown to whoever holds the link (perhaps not the customer):
    handles are public, e-mail addresses are masked."""
    name = CHANNEL_NAMES.get(identity.channel, identity.channel)
    if identity.channel == "email":
        return f"E-mail to {mask_email(identity.external_id)}"
    return f"Direct message on {name} to {identity.handle or identity.external_id}"


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


# --- sessions and links ----------------------------------------------------------------


def session_for(*, workspace: Workspace, secret: str) -> PortalSession | None:
    """The live session of this cookie in this workspace: not ended, not expired, and
    its link not revoked. Anything else is no session."""
    if not secret or len(secret) > 100:
        return None
    now = timezone.now()
    return (
        PortalSession.objects.filter(
            workspace=workspace,
            digest=credentials.digest(secret),
            ended_at__isnull=True,
            expires_at__gt=now,
            link__revoked_at__isnull=True,
        )
        .select_related("contact", "identity", "workspace")
        .first()
    )


def usable_link(*, workspace: Workspace, link_id: int) -> PortalLink | None:
    """A link of this workspace that is neither expired nor revoked."""
    return (
        PortalLink.objects.filter(
            workspace=workspace, pk=link_id, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("case", "contact", "workspace")
        .first()
    )


def links_of(case: Case) -> list[PortalLink]:
    """The case's portal links for the agent panel, newest first."""
    return list(
        PortalLink.objects.filter(case=case)
        .select_related("created_by", "revoked_by")
        .prefetch_related("sessions")
        .order_by("-created_at", "-id")[:20]
    )


# --- the customer's cases --------------------------------------------------------------


def cases_of(session: PortalSession) -> QuerySet[Case]:
    return Case.objects.filter(
        workspace_id=session.workspace_id, contact_id=session.contact_id
    ).order_by("-updated_at", "-id")


def portal_case(*, session: PortalSession, public_id: uuid.UUID) -> Case:
    """One of the session contact's cases in the session's workspace, else 404 — the
    same answer whether the case does not exist or is someone else's."""
    case = cases_of(session).filter(public_id=public_id).first()
    if case is None:
        raise Http404("No such case.")
    return case


@dataclass(frozen=True, slots=True)
class FileLink:
    public_id: uuid.UUID
    filename: str
    size: int


@dataclass(frozen=True, slots=True)
class PortalEntry:
    at: datetime
    mine: bool
    channel: str
    text: str
    files: tuple[FileLink, ...] = ()


def customer_messages(case: Case) -> list[Message]:
    """The case's messages this customer may see, oldest first (see the module doc)."""
    others = (
        Message.objects.filter(case=case, direction=Direction.INBOUND)
        .exclude(identity__contact_id=case.contact_id)
        .exclude(external_id=None)
        .values("external_id")
    )
    visible = Q(direction=Direction.INBOUND, identity__contact_id=case.contact_id) | Q(
        direction=Direction.OUTBOUND, delivery_status=DeliveryStatus.SENT
    )
    return list(
        Message.objects.filter(case=case, visibility__in=CUSTOMER_VISIBLE)
        .filter(visible)
        .exclude(direction=Direction.OUTBOUND, visibility="private", in_reply_to__in=others)
        .only("id", "channel", "direction", "external_id", "text", "sent_at")
        .order_by("sent_at", "id")
    )


def customer_timeline(case: Case) -> list[PortalEntry]:
    messages = customer_messages(case)
    files = attachments_of(case, messages)
    return [
        PortalEntry(
            at=m.sent_at,
            mine=m.direction == Direction.INBOUND,
            channel=CHANNEL_NAMES.get(m.channel, m.channel),
            text=m.text,
            files=tuple(
                FileLink(a.public_id, a.filename, a.size)
                for a in files.get((m.channel, m.external_id or ""), ())
            ),
        )
        for m in messages
    ]


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    state: str
    done: bool


STEP_STATES: dict[str, str] = {
    WorkOrder.Status.OPEN: "Planned",
    WorkOrder.Status.IN_PROGRESS: "In progress",
    WorkOrder.Status.DONE: "Done",
}


def work_steps(case: Case) -> list[Step]:
    """The work orders as the customer sees them: their label and how far along they
    are. Cancelled orders, titles, teams and owners are not the customer's business."""
    orders = (
        WorkOrder.objects.filter(case=case)
        .exclude(status=WorkOrder.Status.CANCELLED)
        .order_by("due_at", "id")
        .values_list("customer_label", "status")
    )
    return [
        Step(label=label, state=STEP_STATES[status], done=status == WorkOrder.Status.DONE)
        for label, status in orders
    ]


def csat_of(case: Case) -> CsatResponse | None:
    return CsatResponse.objects.filter(case=case).first()


def downloadable(*, session: PortalSession, public_id: uuid.UUID) -> Attachment:
    """A file of a customer-visible message on one of the session contact's cases."""
    found = Attachment.objects.filter(
        workspace_id=session.workspace_id, public_id=public_id
    ).first()
    if found is None:
        raise Http404("No such file.")
    carriers = Message.objects.filter(
        case__in=cases_of(session),
        channel=found.channel,
        external_id=found.message_external_id,
    ).select_related("case")
    for message in carriers:
        assert message.case is not None
        if any(m.pk == message.pk for m in customer_messages(message.case)):
            return found
    raise Http404("No such file.")
