"""Live Mastodon mentions: the streaming API, with a REST backfill on every connect.

Built against docs.joinmastodon.org methods/streaming: ``GET
/api/v1/streaming/user/notification`` (bearer token) answers server-sent events —
``event: notification`` + ``data: <Notification JSON>`` separated by blank lines, and
heartbeat comments (``:thump``, every 15 s on Mastodon) that we use to notice a stop.

Nothing is lost across a disconnect: each session first opens the stream, THEN polls
the REST API from the channel's cursor until the history is caught up (``polling.
poll_channel``), and only then reads the stream. A mention posted while we were away is
in that backfill; one posted after the stream opened is in the stream. Each streamed
mention is stored and the cursor moved in one transaction; an event we cannot read ends
the session (the reconnect's backfill reads it again) rather than being skipped.
Reconnects back off exponentially while they keep failing.
"""

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from django.db import DatabaseError, transaction
from django.utils import timezone

from fairdesk.connectors import polling, registry
from fairdesk.connectors.mastodon import adapter
from fairdesk.connectors.mastodon.connector import (
    MastodonConfig,
    after_streamed,
    api_client,
    walking,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.payloads import PayloadError
from fairdesk.connectors.services import record_error
from fairdesk.inbound.services import store_events

logger = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/streaming/user/notification"
# Four missed heartbeats mean the connection is dead even if no error says so.
STREAM_TIMEOUT = httpx.Timeout(15.0, connect=5.0, read=60.0)


class StreamError(Exception):
    """The session cannot go on (refused, bad answer, unreadable event): reconnect."""


@dataclass(frozen=True, slots=True)
class ServerEvent:
    name: str
    data: str


@dataclass(frozen=True, slots=True)
class Backoff:
    """Seconds to wait before reconnecting: ``first`` after a session that worked, then
    doubling with each consecutive failure up to ``cap``."""

    first: float = 1.0
    cap: float = 300.0

    def delay(self, failures: int) -> float:
        return min(self.first * 2 ** max(failures - 1, 0), self.cap)


def server_events(lines: Iterable[str]) -> Iterator[ServerEvent | None]:
    """Server-sent events from a stream's lines; ``None`` for each comment (heartbeat),
    so that the reader gets a chance to stop while the stream is quiet."""
    name = ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield ServerEvent(name or "message", "\n".join(data))
            name = ""
            data = []
        elif line.startswith(":"):
            yield None
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)


def streamable_channels() -> list[Channel]:
    return list(
        Channel.objects.filter(kind=Channel.Kind.MASTODON)
        .select_related("workspace")
        .order_by("id")
    )


def stream_channel(
    channel: Channel, *, stop: threading.Event, backoff: Backoff = Backoff()
) -> None:
    """Stream ``channel`` until ``stop`` is set, reconnecting (with backfill) as needed.

    At least one session is attempted, so a stop requested at once still backfills."""
    failures = 0
    while True:
        try:
            _session(channel, stop)
            failures = 0
        except Channel.DoesNotExist:
            logger.info("channel %s was removed; no longer streaming it", channel.pk)
            return
        except (StreamError, httpx.HTTPError) as exc:
            failures += 1
            logger.warning("streaming channel %s: %s", channel.pk, exc)
            _failed(channel, f"stream: {exc}")
        except Exception as exc:  # a worker thread must outlive any one failure
            failures += 1
            logger.exception("streaming channel %s failed", channel.pk)
            _failed(channel, f"stream: {type(exc).__name__}: {exc}")
        if stop.is_set() or stop.wait(backoff.delay(failures)):
            return


def _failed(channel: Channel, error: str) -> None:
    """Show the failure as the channel's health; when the database cannot take even
    that, it is logged and the next reconnect tries again."""
    try:
        record_error(channel=channel, error=error)
    except DatabaseError:
        logger.exception("cannot record the stream error of channel %s", channel.pk)


def _session(channel: Channel, stop: threading.Event) -> None:
    """One connection: open the stream, backfill, then store mentions until it ends."""
    channel.refresh_from_db()
    account = registry.account(channel)
    config: MastodonConfig = account.config
    with (
        api_client(account, base=config.stream_base) as client,
        client.stream("GET", STREAM_PATH, timeout=STREAM_TIMEOUT) as response,
    ):
        if response.status_code != 200:
            response.read()
            raise StreamError(f"HTTP {response.status_code} {response.text[:200]}")
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            raise StreamError("the streaming endpoint did not answer an event stream")
        backfill(channel)
        for event in server_events(response.iter_lines()):
            if event is None:  # a heartbeat: the moment to notice a stop
                if stop.is_set():
                    return
            elif event.name == "notification":
                store_streamed(channel=channel, config=config, data=event.data)


def backfill(channel: Channel) -> None:
    """Poll from the cursor until no page is left, a burst's walk included."""
    while True:
        outcome = polling.poll_channel(channel)
        if outcome.error:
            raise StreamError(f"backfill: {outcome.error}")
        if not walking(channel.cursor or {}):
            return


def store_streamed(*, channel: Channel, config: MastodonConfig, data: str) -> None:
    """Store one streamed notification if it is a mention, moving the cursor past it in
    the same transaction (a repeat is a duplicate the store ignores)."""
    notification = _notification(data)
    records = _records(notification, config)
    if not records:
        return
    notification_id = str(notification["id"])
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        store_events(workspace=channel.workspace, records=records, source=channel.kind)
        Channel.objects.filter(pk=channel.pk).update(
            cursor=after_streamed(locked.cursor or {}, notification_id),
            last_event_at=timezone.now(),
        )


def _notification(data: str) -> dict[str, Any]:
    try:
        notification = json.loads(data)
    except ValueError as exc:
        raise StreamError("a streamed notification is not JSON") from exc
    if not isinstance(notification, dict) or not notification.get("id"):
        raise StreamError("a streamed notification has no id")
    return notification


def _records(notification: dict[str, Any], config: MastodonConfig) -> list[dict[str, Any]]:
    try:
        return adapter.parse_notifications(
            [notification], account_id=config.account_id, brand_handle=config.handle
        )
    except PayloadError as exc:
        raise StreamError(f"a streamed notification is malformed: {exc}") from exc
