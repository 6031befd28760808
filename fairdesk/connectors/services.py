"""Writes for connectors: channels, their credentials and health, and webhook receipt."""

import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from fairdesk.connectors import secrets
from fairdesk.connectors.config import validate_config, x_config
from fairdesk.connectors.models import Channel
from fairdesk.connectors.x import adapter as x_adapter
from fairdesk.inbound.services import StoreResult, store_events
from fairdesk.workspaces.models import Workspace

MAX_WEBHOOK_BYTES = 1024 * 1024
MAX_ERROR_CHARS = 500


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


def record_error(*, channel: Channel, error: str) -> None:
    """Remember the channel's latest ingest error (shown to admins as its health)."""
    Channel.objects.filter(pk=channel.pk).update(
        last_error=error[:MAX_ERROR_CHARS], last_error_at=timezone.now()
    )


def record_event(*, channel: Channel) -> None:
    Channel.objects.filter(pk=channel.pk).update(last_event_at=timezone.now())


def receive_x_webhook(*, channel: Channel, body: bytes, signature: str | None) -> StoreResult:
    """Verify, parse and durably store one Account Activity delivery for ``channel``.

    Raises ``WebhookRejected`` (401 bad signature, 400 bad payload, 413 too large) with
    nothing stored. Duplicate deliveries are counted, not stored again.
    """
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookRejected(413, "body too large")
    consumer_secret = str(secrets.credentials(channel).get("consumer_secret") or "")
    if not x_adapter.verify_signature(consumer_secret, body, signature):
        raise WebhookRejected(401, "bad signature")
    try:
        config = x_config(channel.config)
        records = x_adapter.parse(
            _json_object(body),
            brand_user_id=config.brand_user_id,
            brand_handle=config.brand_handle or None,
        )
    except x_adapter.PayloadError as exc:
        record_error(channel=channel, error=str(exc))
        raise WebhookRejected(400, str(exc)[:200]) from exc
    with transaction.atomic():
        result = store_events(workspace=channel.workspace, records=records, source="x")
        record_event(channel=channel)
    return result


def _json_object(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise x_adapter.PayloadError("body is not valid JSON") from exc
