"""Portal reply notices: when an agent answers a customer in the portal, the customer is
told so on their own channel — once per burst of answers, never with the answer's text.

``coalesce.note_agent_reply`` (called by ``replies.services`` when an agent's reply is
queued on the portal, or a held one is released) marks the case due.
``send_due_reply_notices`` (the ``fairdesk followthrough`` step) then looks at what
actually reached the portal since the last notice: answers delivered → one notice;
answers still on their way → look again after ``SETTLE``; nothing (a reply still held
for a supervisor, one that failed) → nothing is sent.

The notice is a private message to the identity the customer proved in the portal (their
latest session's; else the channel their link went to), and only when a private message
there is addressed to an identity of the case's own contact
(``replies.outbound.build_request``). Otherwise nothing is sent, and the log says why.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from fairdesk.cases.models import Case
from fairdesk.contacts.models import ContactIdentity
from fairdesk.followthrough.coalesce import PORTAL, SETTLE, due_rows, next_due
from fairdesk.followthrough.models import ReplyNotice
from fairdesk.followthrough.notices import NoticeBlocked, log_blocked, queue_notice
from fairdesk.portal.models import PortalLink, PortalSession
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.services import PRIVATE_CHANNELS

logger = logging.getLogger(__name__)

KIND = "portal_reply_notice"
NOTICE = (
    "You have a new reply on your case {reference}. Open your case page in our support "
    "portal to read it. If your link has expired, just ask us here for a new one."
)
ON_THE_WAY = (OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING)


class NoPrivateRoute(Exception):
    """No private message would reach only this case's customer; nothing is queued."""


def send_due_reply_notices(*, now: datetime, limit: int = 200) -> int:
    """Queue every notice due by ``now``; returns how many. A row is settled in the same
    transaction as its outbox message, so a second run (or worker) queues nothing."""
    due = due_rows(ReplyNotice, now=now, limit=limit)
    return sum(_send_one(row_id, case_id, now=now) for row_id, case_id in due)


def _send_one(row_id: int, case_id: int, *, now: datetime) -> int:
    with transaction.atomic():
        case = Case.objects.select_for_update().select_related("workspace").get(pk=case_id)
        row = ReplyNotice.objects.select_for_update().get(pk=row_id)
        if row.due_at is None or row.due_at > now:
            return 0  # another worker settled it
        answers = OutboxMessage.objects.filter(case=case, channel=PORTAL, author__isnull=False)
        delivered = answers.filter(status=OutboxMessage.Status.SENT)
        if row.told_until is not None:
            delivered = delivered.filter(sent_at__gt=row.told_until)
        newest = delivered.aggregate(newest=Max("sent_at"))["newest"]
        on_the_way = answers.filter(status__in=ON_THE_WAY).exists()
        sent = 0
        if newest is not None:
            sent = _tell(case, row)
            row.told_until = newest
            if sent:
                row.last_sent_at = now
        row.due_at = _again(row, now=now, on_the_way=on_the_way)
        row.save()
        return sent


def _again(row: ReplyNotice, *, now: datetime, on_the_way: bool) -> datetime | None:
    """When to look again: never, unless answers are still on their way to the portal."""
    if not on_the_way:
        return None
    return next_due(now=now, last_sent_at=row.last_sent_at) if row.last_sent_at else now + SETTLE


def _tell(case: Case, row: ReplyNotice) -> int:
    try:
        with transaction.atomic():
            outbox = queue_notice(
                case=case,
                text=NOTICE.format(reference=case.reference),
                key=f"portal-reply-{case.public_id}-{row.sent_count + 1}",
                kind=KIND,
                private_on=_route(case).channel,
            )
            _check_recipient(case, outbox)
    except NoticeBlocked as blocked:
        log_blocked(case, kind=KIND, verdict=blocked.verdict)
        return 0
    except NoPrivateRoute as missing:
        logger.warning("portal reply notice for case %s not sent: %s", case.pk, missing)
        return 0
    row.sent_count += 1
    return 1


def _route(case: Case) -> ContactIdentity:
    """The identity the customer proved in the portal, else the one their link went to."""
    session = (
        PortalSession.objects.filter(
            link__case=case, contact_id=case.contact_id, identity__contact_id=case.contact_id
        )
        .select_related("identity")
        .order_by("-created_at", "-id")
        .first()
    )
    if session is not None and session.identity is not None:
        identity: ContactIdentity | None = session.identity
    else:
        link = PortalLink.objects.filter(case=case, contact_id=case.contact_id).first()
        identity = (
            ContactIdentity.objects.filter(contact_id=case.contact_id, channel=link.channel)
            .order_by("-updated_at", "-id")
            .first()
            if link is not None
            else None
        )
    if identity is None or identity.channel not in PRIVATE_CHANNELS:
        raise NoPrivateRoute("the customer has no private channel we know of from the portal")
    return identity


def _check_recipient(case: Case, outbox: OutboxMessage) -> None:
    recipient = build_request(outbox).recipient
    own = ContactIdentity.objects.filter(
        contact_id=case.contact_id,
        channel=outbox.channel,
        external_id=recipient.external_id if recipient else None,
    )
    if recipient is None or not own.exists():
        raise NoPrivateRoute("a private message would not reach this customer")
