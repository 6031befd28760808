"""The public contact form of a "webform" channel (no login; CSRF protected).

POST-redirect-GET: a stored submission redirects to its thank-you page, so reloading
that page never submits again. The honeypot redirects to a thank-you page too (one that
matches no submission), so a robot cannot tell it was caught.
"""

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from fairdesk.connectors.models import Channel
from fairdesk.connectors.webform import services
from fairdesk.connectors.webform.forms import HONEYPOT_FIELD, MAX_BODY_BYTES, ContactForm
from fairdesk.connectors.webform.queries import shown_reference
from fairdesk.connectors.webform.ratelimit import Throttled


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest, channel_id: uuid.UUID) -> HttpResponse:
    channel = _channel(channel_id)
    if request.method == "GET":
        return _form_page(request, channel, ContactForm.fresh())
    if _declared_size(request) > MAX_BODY_BYTES:
        return render(request, "webform/too_large.html", {"channel": channel}, status=413)
    form = ContactForm(request.POST)
    try:
        if request.POST.get(HONEYPOT_FIELD):
            services.trap(channel=channel, client_ip=_client_ip(request))
            return redirect("webform-thanks", channel_id=channel_id, submission_id=uuid.uuid4())
        if not form.is_valid():
            return _form_page(request, channel, form, status=422)
        row = services.submit(
            channel=channel,
            submission=services.Submission(**form.cleaned_data),
            client_ip=_client_ip(request),
        )
    except Throttled as throttled:
        response = _form_page(request, channel, form, status=429)
        response["Retry-After"] = str(throttled.retry_after)
        return response
    return redirect("webform-thanks", channel_id=channel_id, submission_id=row.public_id)


@require_GET
def thanks(request: HttpRequest, channel_id: uuid.UUID, submission_id: uuid.UUID) -> HttpResponse:
    channel = _channel(channel_id)
    reference = shown_reference(channel=channel, submission_id=submission_id)
    return render(request, "webform/thanks.html", {"channel": channel, "reference": reference})


def _channel(channel_id: uuid.UUID) -> Channel:
    return get_object_or_404(Channel, public_id=channel_id, kind=Channel.Kind.WEBFORM)


def _form_page(
    request: HttpRequest, channel: Channel, form: ContactForm, *, status: int = 200
) -> HttpResponse:
    context = {
        "channel": channel,
        "form": form,
        "honeypot": HONEYPOT_FIELD,
        "throttled": status == 429,
    }
    return render(request, "webform/form.html", context, status=status)


def _declared_size(request: HttpRequest) -> int:
    try:
        return int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return MAX_BODY_BYTES + 1


def _client_ip(request: HttpRequest) -> str:
    """The peer address. Behind a reverse proxy that is the proxy's, so every client
    would share one per-IP limit: the proxy must pass the client's address on as the
    peer address (a forwarded-for header is not trusted here)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")
