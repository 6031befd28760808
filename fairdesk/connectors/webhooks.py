"""The POST half every webhook view shares: read the body within limits, hand it to the
connector's receive service, answer with what was stored or why nothing was."""

from collections.abc import Callable

from django.http import HttpRequest, JsonResponse

from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import MAX_WEBHOOK_BYTES, WebhookRejected
from fairdesk.inbound.services import StoreResult

Receive = Callable[..., StoreResult]


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
