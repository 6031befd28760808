"""The X Account Activity webhook: CRC challenge (GET) and event delivery (POST)."""

import uuid

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fairdesk.connectors import secrets
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import receive_x_webhook
from fairdesk.connectors.webhooks import deliver, webhook_channel
from fairdesk.connectors.x import adapter


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, channel_id: uuid.UUID) -> JsonResponse:
    channel = webhook_channel(channel_id, (Channel.Kind.X,))
    if request.method == "GET":
        return crc(request, channel)
    return deliver(
        request, channel, receive=receive_x_webhook, signature_header=adapter.SIGNATURE_HEADER
    )


def crc(request: HttpRequest, channel: Channel) -> JsonResponse:
    token = request.GET.get("crc_token", "")
    if not token:
        return JsonResponse({"ok": False, "error": "crc_token missing"}, status=400)
    consumer_secret = str(secrets.credentials(channel).get("consumer_secret") or "")
    if not consumer_secret:
        return JsonResponse({"ok": False, "error": "channel has no consumer secret"}, status=409)
    return JsonResponse(adapter.crc_response(consumer_secret, token))
