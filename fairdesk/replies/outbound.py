"""What the sender hands a connector: one reply as an ``OutboundRequest``."""

from django.db.models import QuerySet

from fairdesk.cases.models import Direction, Message
from fairdesk.connectors.base import OutboundRequest, Recipient
from fairdesk.contacts.models import ContactIdentity
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import private_channels

THREAD_LIMIT = 50


def build_request(outbox: OutboxMessage) -> OutboundRequest:
    message = outbox.message
    on_channel = Message.objects.filter(case_id=outbox.case_id, channel=message.channel).exclude(
        pk=message.pk
    )
    thread = tuple(
        on_channel.exclude(external_id=None)
        .order_by("sent_at", "id")
        .values_list("external_id", flat=True)[:THREAD_LIMIT]
    )
    return OutboundRequest(
        idempotency_key=outbox.idempotency_key,
        text=message.text,
        visibility=message.visibility,
        channel=message.channel,
        in_reply_to=message.in_reply_to,
        thread=tuple(str(external_id) for external_id in thread),
        recipient=_recipient(on_channel, outbox.case.contact_id) or _contact_identity(outbox),
        subject=outbox.case.subject,
        brand_handle=message.brand_handle,
    )


def _contact_identity(outbox: OutboxMessage) -> Recipient | None:
    """A private message moved to a channel the customer has not written on in this
    case (e.g. from a public post to e-mail): their identity on that channel."""
    identity = dict(private_channels(outbox.case)).get(outbox.message.channel)
    if identity is None:
        return None
    return Recipient(
        external_id=identity.external_id,
        handle=identity.handle,
        display_name=identity.display_name,
    )


def _recipient(on_channel: "QuerySet[Message]", contact_id: int) -> Recipient | None:
    """The customer's identity on this channel: the author of their latest message. Only
    the case's own contact — never a stranger who replied in their public thread."""
    identity_id = (
        on_channel.filter(direction=Direction.INBOUND, identity__contact_id=contact_id)
        .order_by("-sent_at", "-id")
        .values_list("identity_id", flat=True)
        .first()
    )
    if identity_id is None:
        return None
    identity = ContactIdentity.objects.get(pk=identity_id)
    return Recipient(
        external_id=identity.external_id,
        handle=identity.handle,
        display_name=identity.display_name,
    )
