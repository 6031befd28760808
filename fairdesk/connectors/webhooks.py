"""The POST half every webhook view shares: read the body within limits, hand it to the
connector's receive service, answer with what was stored or why nothing was."""

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection
from django.http import Http404, HttpRequest, JsonResponse

from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import MAX_WEBHOOK_BYTES, WebhookRejected
from fairdesk.inbound.services import StoreResult

Receive = Callable[..., StoreResult]

# Channel public id → (its row's ``updated_at`` as stored, the channel with its workspace).
_channels: dict[uuid.UUID, tuple[Any, Channel]] = {}
MAX_CACHED_CHANNELS = 10_000


def webhook_channel(public_id: uuid.UUID, kinds: Iterable[str]) -> Channel:
    """The channel a delivery is addressed to, as it is stored now, or 404.

    Every delivery reads the channel's id and ``updated_at`` (one indexed row, no ORM
    query to build); the full channel and its workspace are loaded again only when the row
    changed since this process last loaded it. Any edit of its configuration or secrets
    saves ``updated_at``, so a rotated secret or a deleted channel counts at once. What a
    delivery uses of the copy is the configuration, secrets and workspace — not the health
    columns, which are written with ``update()`` and may be older in it.
    """
    wanted = tuple(kinds)
    table = Channel._meta.db_table
    lookup = Channel._meta.get_field("public_id").get_db_prep_value(public_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, kind, updated_at FROM {table} WHERE public_id = %s",
            [lookup],
        )
        row = cursor.fetchone()
    if row is None or row[1] not in wanted:
        _channels.pop(public_id, None)
        raise Http404("no such channel")
    cached = _channels.get(public_id)
    if cached is not None and cached[0] == row[2] and cached[1].pk == row[0]:
        return cached[1]
    channel = Channel.objects.select_related("workspace").get(pk=row[0])
    if len(_channels) >= MAX_CACHED_CHANNELS:
        _channels.clear()
    _channels[public_id] = (row[2], channel)
    return channel


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refused before reading when it is declared or turns out too large."""
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError as exc:
        raise WebhookRejected(400, "bad Content-Length") from exc
    if declared > MAX_WEBHOOK_BYTES:
        raise WebhookRejected(413, "body too large")
    body = request.read(MAX_WEBHOOK_BYTES + 1)
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookRejected(413, "body too large")
    return body


def deliver(
    request: HttpRequest, channel: Channel, *, receive: Receive, signature_header: str
) -> JsonResponse:
    try:
        result = receive(
            channel=channel,
            body=read_body(request),
            signature=request.headers.get(signature_header),
        )
    except WebhookRejected as exc:
        return JsonResponse({"ok": False, "error": exc.reason}, status=exc.status)
    return JsonResponse({"ok": True, "stored": result.stored, "duplicates": result.duplicates})
