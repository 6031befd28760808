"""A platform's echo of a message we sent: folded onto our own reply, never stored twice.

Platforms announce the brand's own messages back (Meta's ``message_echoes``, X's DM
events). An echo with the same channel and id as the reply we stored is skipped by the
message table's unique constraint. One is not: a Facebook private reply answers a public
comment, so it is stored on the "facebook" channel, but Meta delivers it, its echo and the
customer's answers on Messenger. ``ECHO_CHANNELS`` names where else an echo's message may
be stored, and folding links the echo's recipient (the customer's id in that Messenger
thread, which Meta names nowhere else) to the case's contact, so their answer continues
the same case instead of opening a new one.

An echo can beat the sender's commit of the message id (the webhook arrives before the
send's transaction ends). While a send on those channels is in flight, an unmatched echo
waits a little (the pipeline's deferral) rather than being stored as a stray message.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Q

from fairdesk.cases.models import DeliveryStatus, Direction, Message
from fairdesk.contacts.models import ContactIdentity
from fairdesk.inbound.bulk_writes import insert_rows
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Workspace

if TYPE_CHECKING:
    from fairdesk.inbound.pipeline import Parsed

# Echo channel → the channels our own message may be stored on (its own first).
ECHO_CHANNELS: dict[str, tuple[str, ...]] = {"messenger": ("messenger", "facebook")}


def stored_on(channel: str) -> tuple[str, ...]:
    return ECHO_CHANNELS.get(channel, (channel,))


def echoed_on(channel: str) -> tuple[str, ...]:
    """The channels the echo of a message stored on ``channel`` may arrive on."""
    return (channel, *(echo for echo, kept in ECHO_CHANNELS.items() if channel in kept[1:]))


@dataclass(slots=True)
class EchoFolds:
    """The echoes of one batch: which fold onto a stored reply, which may wait for one."""

    folded: set[int] = field(default_factory=set)  # event ids
    unmatched: set[int] = field(default_factory=set)
    sending: bool = False  # a send on an echo's channels is in flight

    def waits(self, item: "Parsed", attempts: int, max_deferrals: int) -> bool:
        return item.event_id in self.unmatched and self.sending and attempts < max_deferrals


def fold_echoes(workspace: Workspace, parsed: Sequence["Parsed"]) -> EchoFolds:
    """Find the batch's echoes (outbound records naming a recipient) among our stored
    replies, confirm those as sent and link each recipient to the reply's contact.

    One query when the batch holds echoes, one more to link recipients, one more only
    when an echo matches nothing. Runs inside the batch's transaction, before identities
    are resolved, so a customer's answer in the same batch already finds the link.
    """
    echoes = [p for p in parsed if p.message.direction == "outbound" and p.message.recipient]
    folds = EchoFolds()
    if not echoes:
        return folds
    wanted = {(ch, p.message.external_id) for p in echoes for ch in stored_on(p.message.channel)}
    rows = Message.objects.filter(
        workspace=workspace,
        direction=Direction.OUTBOUND,
        channel__in={channel for channel, _ in wanted},
        external_id__in={external_id for _, external_id in wanted},
    ).values_list("pk", "channel", "external_id", "case__contact_id", "delivery_status")
    ours = {(ch, ext): (pk, contact, status) for pk, ch, ext, contact, status in rows}
    links: dict[tuple[str, str], int] = {}
    unconfirmed: list[int] = []
    for item in echoes:
        msg = item.message
        found = next(
            (
                ours[(ch, msg.external_id)]
                for ch in stored_on(msg.channel)
                if (ch, msg.external_id) in ours
            ),
            None,
        )
        if found is None:
            folds.unmatched.add(item.event_id)
            continue
        pk, contact_id, status = found
        folds.folded.add(item.event_id)
        if status != DeliveryStatus.SENT:
            unconfirmed.append(pk)
        if contact_id is not None and msg.recipient:
            links.setdefault((msg.channel, msg.recipient), contact_id)
    if unconfirmed:  # the platform says it went out: whatever we recorded, it was sent
        Message.objects.filter(pk__in=unconfirmed).update(delivery_status=DeliveryStatus.SENT)
    _link_recipients(workspace, links)
    if folds.unmatched:
        folds.sending = _send_in_flight(workspace, echoes, folds.unmatched)
    return folds


def _link_recipients(workspace: Workspace, links: dict[tuple[str, str], int]) -> None:
    """A new identity for each recipient not known on its channel yet, on the contact of
    the reply it received. A recipient already known (they wrote on that channel before)
    keeps its contact: people are merged by an agent, never guessed together here."""
    if not links:
        return
    known = ContactIdentity.objects.filter(workspace=workspace).filter(
        Q(channel__in={ch for ch, _ in links}) & Q(external_id__in={ext for _, ext in links})
    )
    existing = set(known.values_list("channel", "external_id"))
    insert_rows(
        ContactIdentity,
        [
            ContactIdentity(
                workspace=workspace, contact_id=contact_id, channel=channel, external_id=external_id
            )
            for (channel, external_id), contact_id in sorted(links.items())
            if (channel, external_id) not in existing
        ],
    )


def _send_in_flight(workspace: Workspace, echoes: Sequence["Parsed"], unmatched: set[int]) -> bool:
    channels = {
        ch for p in echoes if p.event_id in unmatched for ch in stored_on(p.message.channel)
    }
    return OutboxMessage.objects.filter(
        workspace=workspace, channel__in=channels, status=OutboxMessage.Status.SENDING
    ).exists()
