"""Writes for the public web form: one submission becomes one stored inbound event.

Spam: every submission is stored. The pipeline runs the triage tier's spam detector
(``fairdesk.triage.spam`` through ``FastTriage``) on it as on every channel's messages,
so a spam submission is kept flagged (``Message.is_spam``, no case, not in the queue)
instead of being dropped, and the sender sees the same neutral thank-you page either way
(telling a spammer which texts pass would only help them). What is refused before
storing is the obvious robot (the honeypot field filled) and too many submissions per
client IP address or e-mail address (``ratelimit``).
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from fairdesk.connectors.models import Channel, WebformSubmission
from fairdesk.connectors.services import record_event
from fairdesk.connectors.webform import adapter, ratelimit
from fairdesk.inbound.services import store_events

log = logging.getLogger(__name__)

PER_IP = ratelimit.Limit("webform-ip", hits=5, window=timedelta(minutes=10))
PER_EMAIL = ratelimit.Limit("webform-email", hits=5, window=timedelta(minutes=10))


@dataclass(frozen=True, slots=True)
class Submission:
    name: str
    email: str
    reference: str
    message: str
    token: uuid.UUID


def submit(*, channel: Channel, submission: Submission, client_ip: str) -> WebformSubmission:
    """Store ``submission`` as a pending inbound event of ``channel`` and mark the
    channel's health, all in one transaction.

    The same token again returns the first submission and stores nothing (a double click,
    a resubmitted page), without spending the rate limit. Raises ``ratelimit.Throttled``
    with nothing stored when the client IP or the e-mail address is over its limit.
    """
    existing = _by_token(channel, submission.token)
    if existing is not None:
        return existing
    now = timezone.now()
    try:
        with transaction.atomic():
            ratelimit.spend(PER_IP, client_ip, now=now)
            ratelimit.spend(PER_EMAIL, submission.email.strip().lower(), now=now)
            return _store(channel=channel, submission=submission, now=now)
    except IntegrityError:
        existing = _by_token(channel, submission.token)  # a concurrent double submit won
        if existing is None:
            raise
        return existing


def trap(*, channel: Channel, client_ip: str) -> None:
    """A robot filled the honeypot: nothing is stored, but the hit counts against its
    address so a robot cannot try forever. Raises ``ratelimit.Throttled`` like ``submit``."""
    log.info("web form %s: honeypot filled, submission dropped", channel.public_id)
    with transaction.atomic():
        ratelimit.spend(PER_IP, client_ip, now=timezone.now())


def _store(*, channel: Channel, submission: Submission, now: datetime) -> WebformSubmission:
    row = WebformSubmission.objects.create(
        workspace_id=channel.workspace_id, channel=channel, token=submission.token
    )
    record = adapter.record(
        external_id=str(row.public_id),
        name=submission.name,
        email=submission.email,
        reference=submission.reference,
        message=submission.message,
        created_at=now,
    )
    store_events(workspace=channel.workspace, records=[record], source=adapter.CHANNEL)
    record_event(channel=channel)
    return row


def _by_token(channel: Channel, token: uuid.UUID) -> WebformSubmission | None:
    return WebformSubmission.objects.filter(channel=channel, token=token).first()
