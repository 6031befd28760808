"""The sender worker: claims pending outbox rows and sends each exactly once.

Claiming is atomic and shared with the inbound pipeline (``fairdesk.inbound.claims``:
PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite a conditional UPDATE with a claim token).
A claim counts as an attempt. Each claimed row is sent, marked SENT and
applied to its case in ONE transaction, so a row that is SENT is never sent again.
A failure backs off exponentially and the row is DEAD after ``MAX_ATTEMPTS``.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fairdesk.cases.lifecycle import DEADLINE_FIELDS, apply_response, refresh_deadlines
from fairdesk.cases.models import Case, CaseEvent, DeliveryStatus, Message
from fairdesk.inbound.claims import LostClaim, claim, reclaim_expired, release_done
from fairdesk.replies.models import OutboxMessage
from fairdesk.routing.queries import targets_table

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)

Sender = Callable[[OutboxMessage, Message], str]
"""Delivers one message on its channel and returns the platform's external id."""


def record_send(outbox: OutboxMessage, message: Message) -> str:
    """Stand-in for channels without a live connector yet: records the send, delivers nothing."""
    logger.info("recorded send %s on %s", outbox.idempotency_key, outbox.channel)
    return f"fd-{outbox.idempotency_key}"


# Per-channel senders. Imported channels have no live connector yet; the real ones
# register here when they land.
SENDERS: dict[str, Sender] = {}


def sender_for(channel: str) -> Sender:
    return SENDERS.get(channel, record_send)


def send_pending(*, limit: int = 100, should_stop: Callable[[], bool] | None = None) -> int:
    """Send up to ``limit`` due outbox rows. Returns how many were sent.

    ``should_stop`` is checked between rows (SIGTERM): the current row finishes, the rest
    of the claimed batch is released for another worker.
    """
    reclaim_expired(OutboxMessage)
    token, ids = claim(OutboxMessage, limit=limit, lease=LEASE)
    sent = 0
    for position, outbox_id in enumerate(ids):
        if should_stop is not None and should_stop():
            release(token=token, ids=ids[position:])
            break
        try:
            sent += _send_one(outbox_id=outbox_id, token=token)
        except LostClaim:
            logger.warning("outbox %s was reclaimed by another worker", outbox_id)
        except Exception as error:
            logger.exception("sending outbox %s failed", outbox_id)
            _record_failure(outbox_id=outbox_id, token=token, error=error)
    return sent


def release(*, token: str, ids: list[int]) -> None:
    """Give claimed rows back untouched (shutdown between rows); the claim cost no attempt."""
    OutboxMessage.objects.filter(
        id__in=ids, claim_token=token, status=OutboxMessage.Status.SENDING
    ).update(
        status=OutboxMessage.Status.PENDING,
        claim_token="",
        lease_until=None,
        attempts=F("attempts") - 1,
    )


def _send_one(*, outbox_id: int, token: str) -> int:
    with transaction.atomic():
        outbox = (
            OutboxMessage.objects.select_for_update()
            .select_related("message")
            .filter(pk=outbox_id, claim_token=token, status=OutboxMessage.Status.SENDING)
            .first()
        )
        if outbox is None:  # the lease ran out and another worker took the row
            raise LostClaim(f"outbox {outbox_id}")
        message = outbox.message
        external_id = sender_for(outbox.channel)(outbox, message)
        now = timezone.now()
        message.external_id = external_id
        message.delivery_status = DeliveryStatus.SENT
        message.save(update_fields=["external_id", "delivery_status"])
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
            },
        )
        _apply_to_case(outbox=outbox, external_id=external_id, at=now)
    return 1


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
        if outbox.attempts >= MAX_ATTEMPTS:
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
