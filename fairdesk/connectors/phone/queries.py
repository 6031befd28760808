"""Reads for phone calls, each scoped to one workspace."""

from django.db.models import Q

from fairdesk.cases.models import OPEN_STATUSES, Case, Message
from fairdesk.connectors.models import Channel
from fairdesk.connectors.phone.adapter import CHANNEL
from fairdesk.contacts.models import ContactIdentity
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace


def phone_channel(*, workspace: Workspace) -> Channel | None:
    """The workspace's phone channel (the oldest, if it has several): its health shows
    when the telephony system last reported a call."""
    return (
        Channel.objects.filter(workspace=workspace, kind=Channel.Kind.PHONE).order_by("id").first()
    )


def case_by_reference(*, workspace: Workspace, reference: str) -> Case | None:
    """The case ``FD-<id>`` of this workspace (another workspace's id finds nothing)."""
    return Case.objects.filter(workspace=workspace, pk=int(reference.removeprefix("FD-"))).first()


def open_case_for_number(*, workspace: Workspace, number: str) -> Case | None:
    """The newest open case of the contact with this E.164 number (by their phone
    identity or the number on the contact), as the pipeline would thread it."""
    by_identity = ContactIdentity.objects.filter(
        workspace=workspace, channel=CHANNEL, external_id=number
    ).values("contact_id")
    return (
        Case.objects.filter(workspace=workspace, status__in=OPEN_STATUSES)
        .filter(Q(contact_id__in=by_identity) | Q(contact__phone=number))
        .order_by("-id")
        .first()
    )


def call_known(*, workspace: Workspace, call_id: str) -> bool:
    """Whether this call id was stored before, as an inbound event or as a message."""
    return (
        InboundEvent.objects.filter(
            workspace=workspace, channel=CHANNEL, external_id=call_id
        ).exists()
        or Message.objects.filter(
            workspace=workspace, channel=CHANNEL, external_id=call_id
        ).exists()
    )
