"""Polling connected accounts: read what arrived since each channel's cursor, store it
durably and move the cursor in the same transaction (a crash re-reads, never skips;
re-read events are duplicates the store ignores)."""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from fairdesk.connectors import registry
from fairdesk.connectors.base import PollError
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import record_error
from fairdesk.inbound.services import StoreResult, store_events

logger = logging.getLogger(__name__)

MAX_PAGES = 20  # per channel per round; the rest waits for the next round


@dataclass(slots=True)
class PollOutcome:
    channel_id: int
    stored: int = 0
    duplicates: int = 0
    pages: int = 0
    error: str = ""


def pollable_channels() -> list[Channel]:
    channels = Channel.objects.select_related("workspace").order_by("id")
    found = []
    for channel in channels:
        connector = registry.connector(channel.kind)
        if connector is not None and connector.can_poll:
            found.append(channel)
    return found


def poll_channel(channel: Channel) -> PollOutcome:
    """Poll ``channel`` until it has nothing more (at most ``MAX_PAGES`` pages)."""
    outcome = PollOutcome(channel_id=channel.pk)
    connector = registry.connector(channel.kind)
    if connector is None or not connector.can_poll:
        return outcome
    account = registry.account(channel)
    cursor = dict(channel.cursor or {})
    while outcome.pages < MAX_PAGES:
        try:
            result = connector.poll(account, cursor)
        except PollError as exc:
            outcome.error = str(exc)[:500]
            record_error(channel=channel, error=f"poll: {exc}")
            logger.warning("polling channel %s failed: %s", channel.pk, exc)
            break
        outcome.pages += 1
        now = timezone.now()
        with transaction.atomic():
            stored = (
                store_events(
                    workspace=channel.workspace, records=result.records, source=channel.kind
                )
                if result.records
                else StoreResult()
            )
            if result.attachments:
                connector.store_attachments(account, result.attachments)
            updates: dict[str, object] = {"cursor": result.cursor, "last_poll_at": now}
            if result.records:
                updates["last_event_at"] = now
            Channel.objects.filter(pk=channel.pk).update(**updates)
        outcome.stored += stored.stored
        outcome.duplicates += stored.duplicates
        cursor = dict(result.cursor)
        channel.cursor = cursor
        if not result.more:
            break
    return outcome


def poll_all() -> list[PollOutcome]:
    return [poll_channel(channel) for channel in pollable_channels()]
