"""The X Account Activity webhook: CRC challenge (GET) and event delivery (POST)."""

import uuid

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fairdesk.connectors import secrets
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import MAX_WEBHOOK_BYTES, WebhookRejected, receive_x_webhook
from fairdesk.connectors.x import adapter


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, channel_id: uuid.UUID) -> JsonResponse:
    channel = get_object_or_404(
        Channel.objects.select_related("workspace"), public_id=channel_id, kind=Channel.Kind.X
    )
    if request.method == "GET":
        return crc(request, channel)
    try:
        body = read_body(request)
        result = receive_x_webhook(
            channel=channel, body=body, signature=request.headers.get(adapter.SIGNATURE_HEADER)
        )
    except WebhookRejected as exc:
        return JsonResponse({"ok": False, "error": exc.reason}, status=exc.status)
    return JsonResponse({"ok": True, "stored": result.stored, "duplicates": result.duplicates})


def crc(request: HttpRequest, channel: Channel) -> JsonResponse:
    token = request.GET.get("crc_token", "")
    if not token:
        return JsonResponse({"ok": False, "error": "crc_token missing"}, status=400)
    consumer_secret = str(secrets.credentials(channel).get("consumer_secret") or "")
    if not consumer_secret:
        return JsonResponse({"ok": False, "error": "channel has no consumer secret"}, status=409)
    return JsonResponse(adapter.crc_response(consumer_secret, token))


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
