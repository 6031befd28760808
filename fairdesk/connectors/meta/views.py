"""The Meta Graph webhook: subscription handshake (GET) and event delivery (POST)."""

import uuid

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from fairdesk.connectors import secrets
from fairdesk.connectors.meta import adapter
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import receive_meta_webhook
from fairdesk.connectors.webhooks import deliver, webhook_channel

META_KINDS = (Channel.Kind.FACEBOOK, Channel.Kind.INSTAGRAM)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, channel_id: uuid.UUID) -> HttpResponse:
    channel = webhook_channel(channel_id, META_KINDS)
    if request.method == "GET":
        return verify(request, channel)
    return deliver(
        request, channel, receive=receive_meta_webhook, signature_header=adapter.SIGNATURE_HEADER
    )


def verify(request: HttpRequest, channel: Channel) -> HttpResponse:
    """Echo ``hub.challenge`` as plain text only to the channel's own verify token."""
    configured = str(secrets.credentials(channel).get("verify_token") or "")
    challenge = request.GET.get("hub.challenge", "")
    if not adapter.verify_subscription(
        configured, request.GET.get("hub.mode", ""), request.GET.get("hub.verify_token", "")
    ):
        return HttpResponse("verification failed", status=403, content_type="text/plain")
    if not challenge or len(challenge) > adapter.MAX_CHALLENGE_CHARS:
        return HttpResponse("bad hub.challenge", status=400, content_type="text/plain")
    return HttpResponse(challenge, content_type="text/plain; charset=utf-8")
