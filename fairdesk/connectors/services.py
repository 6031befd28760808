"""Writes for connectors: channels, their credentials and health, and webhook receipt."""

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from fairdesk.connectors import secrets
from fairdesk.connectors.config import meta_config, validate_config, x_config
from fairdesk.connectors.meta import adapter as meta_adapter
from fairdesk.connectors.models import Channel
from fairdesk.connectors.payloads import PayloadError
from fairdesk.connectors.x import adapter as x_adapter
from fairdesk.inbound.services import StoreResult, store_events
from fairdesk.workspaces.models import Workspace

MAX_WEBHOOK_BYTES = 1024 * 1024
MAX_ERROR_CHARS = 500
EVENT_MARK_SECONDS = 1.0
# Channel public id → when this process last wrote its ``last_event_at`` (monotonic).
_event_marks: dict[uuid.UUID, float] = {}


class WebhookRejected(Exception):
    """A delivery refused with an HTTP status and a short reason; nothing was stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def create_channel(
    *,
    workspace: Workspace,
    kind: str,
    name: str,
    config: dict[str, Any],
    credentials: dict[str, Any] | None = None,
) -> Channel:
    """A channel with its configuration validated for its kind and credentials encrypted."""
    if kind not in Channel.Kind.values:
        raise ValueError(f"unknown channel kind {kind[:40]!r}")
    channel = Channel(
        workspace=workspace,
        kind=kind,
        name=name,
        config=validate_config(kind, config),
        credentials_encrypted=secrets.encrypt(credentials or {}),
    )
    channel.save()
    return channel


def update_channel(
    *, channel: Channel, name: str, config: dict[str, Any], credentials: dict[str, Any]
) -> Channel:
    """New name and configuration (validated for the kind); the given secrets replace
    those of the same name, the others are kept."""
    channel.name = name
    channel.config = validate_config(channel.kind, config)
    if credentials:
        merged = {**secrets.credentials(channel), **credentials}
        if "access_token" in credentials:
            merged.pop("access_token_expires_at", None)  # a pasted token: its expiry unknown
        channel.credentials_encrypted = secrets.encrypt(merged)
    channel.save(update_fields=["name", "config", "credentials_encrypted", "updated_at"])
    return channel


def record_error(*, channel: Channel, error: str) -> None:
    """Remember the channel's latest ingest error (shown to admins as its health)."""
    Channel.objects.filter(pk=channel.pk).update(
        last_error=error[:MAX_ERROR_CHARS], last_error_at=timezone.now()
    )


def record_event(*, channel: Channel) -> None:
    """Mark the channel's last event time (its health line) — at most once a second per
    process and channel, outside the store's transaction: under a burst, every delivery
    updating the one channel row would queue behind the previous one's row lock until it
    committed, so deliveries could never share a commit."""
    now = time.monotonic()
    last = _event_marks.get(channel.public_id)
    if last is not None and now - last < EVENT_MARK_SECONDS:
        return
    _event_marks[channel.public_id] = now
    Channel.objects.filter(pk=channel.pk).update(last_event_at=timezone.now())


def receive_x_webhook(*, channel: Channel, body: bytes, signature: str | None) -> StoreResult:
    """Verify, parse and durably store one Account Activity delivery for ``channel``.

    Raises ``WebhookRejected`` (401 bad signature, 400 bad payload, 413 too large) with
    nothing stored. Duplicate deliveries are counted, not stored again.
    """

    def parse(payload: Any) -> list[dict[str, Any]]:
        config = x_config(channel.config)
        return x_adapter.parse(
            payload, brand_user_id=config.brand_user_id, brand_handle=config.brand_handle or None
        )

    return _receive_webhook(
        channel=channel,
        body=body,
        source="x",
        verify=lambda secrets_: x_adapter.verify_signature(
            str(secrets_.get("consumer_secret") or ""), body, signature
        ),
        parse=parse,
    )


def receive_meta_webhook(*, channel: Channel, body: bytes, signature: str | None) -> StoreResult:
    """Verify, parse and durably store one Meta Graph webhook delivery for ``channel``:
    every event of every entry of this channel's Page or Instagram account.

    Raises ``WebhookRejected`` like ``receive_x_webhook``; the signature is checked with
    the channel's ``app_secret``.
    """

    def parse(payload: Any) -> list[dict[str, Any]]:
        config = meta_config(channel.config)
        return meta_adapter.parse(
            payload,
            page_id=config.page_id,
            instagram_account_id=config.instagram_account_id,
            page_name=config.page_name or None,
            instagram_username=config.instagram_username or None,
        )

    return _receive_webhook(
        channel=channel,
        body=body,
        source="meta",
        verify=lambda secrets_: meta_adapter.verify_signature(
            str(secrets_.get("app_secret") or ""), body, signature
        ),
        parse=parse,
    )


def _receive_webhook(
    *,
    channel: Channel,
    body: bytes,
    source: str,
    verify: Callable[[dict[str, Any]], bool],
    parse: Callable[[Any], list[dict[str, Any]]],
) -> StoreResult:
    """The steps every webhook shares: size cap, signature (given the channel's decrypted
    credentials), JSON, parse, store (one transaction), then mark the channel's health."""
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookRejected(413, "body too large")
    if not verify(secrets.credentials(channel)):
        raise WebhookRejected(401, "bad signature")
    try:
        records = parse(_json_object(body))
    except PayloadError as exc:
        record_error(channel=channel, error=str(exc))
        raise WebhookRejected(400, str(exc)[:200]) from exc
    result = store_events(workspace=channel.workspace, records=records, source=source)
    record_event(channel=channel)
    return result


def _json_object(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("body is not valid JSON") from exc
