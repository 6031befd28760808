"""The sender worker: claims pending outbox rows and sends each exactly once.

Claiming is atomic and shared with the inbound pipeline (``fairdesk.inbound.claims``:
PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite a conditional UPDATE with a claim token).
A claim counts as an attempt. The platform call happens outside any transaction (a
slow platform never holds the database); then the row is marked SENT and applied to its
case in ONE transaction that also checks the claim is still ours.

Safe to kill at any instant: a worker killed after the platform accepted a reply but
before the commit leaves the row claimed; when its lease runs out the row is claimed
again and, before sending, the connector reconciles (``find_sent``: the platform's
idempotency key, or a look for its own reply among the account's recent posts) so a
reply is never posted twice.

A 429 (``RateLimited``) is not an attempt: the row and every other reply of that account
wait until the platform's reset time, and so do they when our own per-account budget
(``Connector.rate_limit``) is spent; nothing spins. Other failures back off
exponentially; the row is DEAD after ``MAX_ATTEMPTS``, or at once when the platform
refused it for good (``PermanentSendError``).
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from fairdesk.cases.lifecycle import DEADLINE_FIELDS, apply_response, refresh_deadlines
from fairdesk.cases.models import Case, CaseEvent, DeliveryStatus, Direction, Message
from fairdesk.connectors import registry
from fairdesk.connectors.base import Connector, PermanentSendError, RateLimited
from fairdesk.connectors.models import Channel
from fairdesk.connectors.queries import sending_account
from fairdesk.inbound.claims import LostClaim, claim, reclaim_expired, release_done
from fairdesk.inbound.echoes import echoed_on
from fairdesk.inbound.team_alerts import send_due as send_team_alerts
from fairdesk.portal.services import redact_delivered
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.routing.queries import targets_table

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)


class Deferred(Exception):
    """The account may not send now (429 earlier, or its budget is spent): wait."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


def record_send(outbox: OutboxMessage) -> str:
    """Channels without a connected account (imported history, the demo's recorded
    channels): the send is recorded, nothing is delivered."""
    logger.info("recorded send %s on %s", outbox.idempotency_key, outbox.channel)
    return f"fd-{outbox.idempotency_key}"


def send_pending(*, limit: int = 100, should_stop: Callable[[], bool] | None = None) -> int:
    """Send up to ``limit`` due outbox rows. Returns how many were sent.

    ``should_stop`` is checked between rows (SIGTERM): the current row finishes, the rest
    of the claimed batch is released for another worker.
    """
    reclaim_expired(OutboxMessage)
    token, ids = claim(OutboxMessage, limit=limit, lease=LEASE)
    sent = 0
    if ids:
        workspaces = set(
            OutboxMessage.objects.filter(id__in=ids).values_list("workspace_id", flat=True)
        )
    for position, outbox_id in enumerate(ids):
        if should_stop is not None and should_stop():
            release(token=token, ids=ids[position:])
            break
        try:
            sent += _send_one(outbox_id=outbox_id, token=token)
        except LostClaim:
            logger.warning("outbox %s was reclaimed by another worker", outbox_id)
        except Deferred as wait:
            _defer(outbox_id=outbox_id, token=token, until=wait.until, reason=wait.reason)
        except Exception as error:
            logger.exception("sending outbox %s failed", outbox_id)
            _record_failure(outbox_id=outbox_id, token=token, error=error)
    if ids:
        # Portal links and one-time codes must not outlive their delivery in our database.
        for workspace_id in workspaces:
            redact_delivered(workspace_id=workspace_id)
    # Team alerts (a pile-on) go out with the replies: the same worker, their own rows.
    sent += send_team_alerts(limit=limit, should_stop=should_stop)
    return sent


def release(*, token: str, ids: list[int]) -> None:
    """Give claimed rows back untouched (shutdown between rows); the claim cost no attempt."""
    _unclaim(token=token, ids=ids).update(
        status=OutboxMessage.Status.PENDING,
        claim_token="",
        lease_until=None,
        attempts=F("attempts") - 1,
    )


def _unclaim(*, token: str, ids: list[int]) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(
        id__in=ids, claim_token=token, status=OutboxMessage.Status.SENDING
    )


def _send_one(*, outbox_id: int, token: str) -> int:
    outbox = (
        OutboxMessage.objects.select_related("message", "case", "account")
        .filter(pk=outbox_id, claim_token=token, status=OutboxMessage.Status.SENDING)
        .first()
    )
    if outbox is None:  # the lease ran out and another worker took the row
        raise LostClaim(f"outbox {outbox_id}")
    account = outbox.account or sending_account(
        workspace_id=outbox.workspace_id, channel=outbox.channel
    )
    connector = registry.connector(account.kind) if account is not None else None
    if account is None or connector is None:
        external_id = record_send(outbox)
    else:
        outbox.account = account
        external_id = _deliver(outbox, account, connector)
    _commit_sent(outbox=outbox, token=token, external_id=external_id)
    return 1


def _deliver(outbox: OutboxMessage, channel: Channel, connector: Connector) -> str:
    """Post through the connector, unless an earlier attempt already did (reconcile)."""
    now = timezone.now()
    if channel.send_blocked_until is not None and channel.send_blocked_until > now:
        raise Deferred(channel.send_blocked_until, "the platform asked us to wait")
    budget_until = _budget_spent_until(channel, connector, now)
    if budget_until is not None:
        raise Deferred(budget_until, "this account's sending budget is spent")
    account = registry.account(channel)
    request = build_request(outbox)
    if outbox.attempts > 1 and not connector.idempotent_send:
        found = connector.find_sent(account, request)
        if found is not None:
            logger.info("outbox %s was already posted as %s", outbox.pk, found)
            return found
    try:
        return connector.send(account, request)
    except RateLimited as limited:
        Channel.objects.filter(pk=channel.pk).update(send_blocked_until=limited.retry_at)
        raise Deferred(limited.retry_at, str(limited)) from limited


def _budget_spent_until(channel: Channel, connector: Connector, now: datetime) -> datetime | None:
    """When the account may send again under its own budget, or None if it may now."""
    limit = connector.rate_limit
    if limit is None:
        return None
    recent = OutboxMessage.objects.filter(
        account=channel, status=OutboxMessage.Status.SENT, sent_at__gt=now - limit.window
    ).order_by("-sent_at")
    times = list(recent.values_list("sent_at", flat=True)[: limit.posts])
    if len(times) < limit.posts:
        return None
    oldest = times[-1]
    return oldest + limit.window if oldest is not None else None


def _commit_sent(*, outbox: OutboxMessage, token: str, external_id: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        release_done(
            OutboxMessage,
            token=token,
            ids=[outbox.pk],
            values={
                "status": OutboxMessage.Status.SENT,
                "sent_at": now,
                "claim_token": "",
                "lease_until": None,
                "last_error": "",
                "account_id": outbox.account_id,
            },
        )
        # The platform's echo of this very reply (a webhook can beat this commit) was
        # stored as its own outbound message, on this channel or on the one the platform
        # echoes it on (a Facebook private reply comes back on Messenger): ours stays.
        Message.objects.filter(
            workspace_id=outbox.workspace_id,
            channel__in=echoed_on(outbox.message.channel),
            external_id=external_id,
            direction=Direction.OUTBOUND,
        ).exclude(pk=outbox.message_id).delete()
        Message.objects.filter(pk=outbox.message_id).update(
            external_id=external_id, delivery_status=DeliveryStatus.SENT
        )
        if outbox.account is not None:
            Channel.objects.filter(pk=outbox.account.pk).update(last_sent_at=now)
        _apply_to_case(outbox=outbox, external_id=external_id, at=now)


def _defer(*, outbox_id: int, token: str, until: datetime, reason: str) -> None:
    """Put a row back until ``until`` without counting the attempt."""
    _unclaim(token=token, ids=[outbox_id]).update(
        status=OutboxMessage.Status.PENDING,
        claim_token="",
        lease_until=None,
        attempts=F("attempts") - 1,
        available_at=until,
        last_error=f"waiting: {reason}"[:2000],
    )


def _apply_to_case(*, outbox: OutboxMessage, external_id: str, at: datetime) -> None:
    case = Case.objects.select_for_update().select_related("workspace").get(pk=outbox.case_id)
    # An automated acknowledgement (no author) tells the customer we heard them; it is
    # not an answer, so it does not stop the case's clock or take it out of the queue.
    if outbox.author_id is not None:
        apply_response(case, at=at)
        refresh_deadlines(case, targets_table(case.workspace))
        case.save(update_fields=DEADLINE_FIELDS)
    CaseEvent.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.REPLY_SENT,
        params={"outbox_id": outbox.pk, "channel": outbox.channel, "external_id": external_id},
        actor_id=outbox.author_id,
        at=at,
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at an hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _record_failure(*, outbox_id: int, token: str, error: Exception) -> None:
    with transaction.atomic():
        outbox = (
            OutboxMessage.objects.select_for_update()
            .filter(pk=outbox_id, claim_token=token, status=OutboxMessage.Status.SENDING)
            .first()
        )
        if outbox is None:
            return
        outbox.last_error = f"{type(error).__name__}: {error}"[:2000]
        outbox.claim_token = ""
        outbox.lease_until = None
        if outbox.attempts >= MAX_ATTEMPTS or isinstance(error, PermanentSendError):
            outbox.status = OutboxMessage.Status.DEAD
            Message.objects.filter(pk=outbox.message_id).update(
                delivery_status=DeliveryStatus.FAILED
            )
        else:
            outbox.status = OutboxMessage.Status.PENDING
            outbox.available_at = timezone.now() + backoff(outbox.attempts)
        outbox.save(
            update_fields=[
                "attempts",
                "last_error",
                "claim_token",
                "lease_until",
                "status",
                "available_at",
            ]
        )
