"""Agent workspace pages (server-rendered, HTMX partials). Parse, authorise, call, render."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.cases.forms import ReplyForm
from fairdesk.cases.models import Attachment, Case
from fairdesk.cases.queries import (
    QueueCursor,
    case_for,
    describe_due,
    held_replies,
    identities_of,
    queue_page,
    timeline,
    triage_summary,
)
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.services import (
    ReplyInvalid,
    ToneBlocked,
    approve_held_reply,
    private_channels,
    request_override,
    send_with_override,
    submit_reply,
)
from fairdesk.triage.types import ToneVerdict
from fairdesk.workspaces.models import Agent


@dataclass(frozen=True, slots=True)
class QueueRow:
    case: Case
    due: str
    overdue: bool
    handle: str


@require_GET
@agent_required
def queue(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    page = queue_page(workspace=agent.workspace, after=QueueCursor.decode(request.GET.get("after")))
    now = timezone.now()
    rows = [
        QueueRow(
            case=case,
            due=describe_due(case.escalation_at, now),
            overdue=case.escalation_at is not None and case.escalation_at < now,
            handle=next((i.handle for i in case.contact.identities.all() if i.handle), ""),
        )
        for case in page.cases
    ]
    context = {
        "rows": rows,
        "next_cursor": page.next_cursor.encode() if page.next_cursor else "",
        "is_first_page": "after" not in request.GET,
    }
    return render(request, "cases/queue.html", context)


@require_GET
@agent_required
def case_detail(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    context = _case_context(case=case, agent=agent, form=_fresh_form(case))
    return _full_page(request, case=case, context=context, status=200)


@require_POST
@agent_required
def reply(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    form = ReplyForm(request.POST, private_channels=_channel_choices(case))
    blocked: ToneVerdict | None = None
    if form.is_valid():
        try:
            _send(form=form, case=case, agent=agent, action=request.POST.get("action", ""))
        except ToneBlocked as error:
            blocked = error.verdict
        except ReplyInvalid as error:
            form.add_error("text", str(error))
        else:
            return _after_write(request, case=case, agent=agent)
    context = _case_context(case=case, agent=agent, form=form, blocked=blocked)
    if _is_htmx(request):
        return render(request, "cases/_work.html", context)
    return _full_page(request, case=case, context=context, status=422)


@require_POST
@agent_required
def approve(
    request: HttpRequest, public_id: uuid.UUID, outbox_id: int, *, agent: Agent
) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    outbox = get_object_or_404(OutboxMessage, pk=outbox_id, case=case)
    approve_held_reply(outbox=outbox, supervisor=agent)  # PermissionDenied -> 403
    return _after_write(request, case=case, agent=agent)


@require_GET
@agent_required
def attachment(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """A message's file, for agents of its workspace only (404 otherwise). Always a
    download the browser neither renders nor sniffs, whatever the sender declared."""
    found = get_object_or_404(Attachment, workspace=agent.workspace, public_id=public_id)
    try:
        data = found.path.read_bytes()  # at most MAX_ATTACHMENT_BYTES
    except FileNotFoundError as missing:
        raise Http404("This file is no longer stored.") from missing
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, found.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


def _send(*, form: ReplyForm, case: Case, agent: Agent, action: str) -> OutboxMessage:
    fields = {
        "case": case,
        "text": form.cleaned_data["text"],
        "visibility": form.cleaned_data["visibility"],
        "idempotency_key": str(form.cleaned_data["idempotency_key"]),
        "channel": form.cleaned_data["channel"] or "",
    }
    if form.cleaned_data["send_anyway"]:
        return send_with_override(supervisor=agent, **fields)
    if action == ReplyForm.ACTION_REQUEST_OVERRIDE:
        return request_override(agent=agent, **fields)
    return submit_reply(agent=agent, **fields)


CHANNEL_LABELS = {
    "x": "Direct message on X",
    "facebook": "Messenger",
    "messenger": "Messenger",
    "instagram": "Instagram Direct",
    "mastodon": "Mastodon direct post",
    "bluesky": "Bluesky chat",
    "email": "E-mail",
}


def _channel_choices(case: Case) -> list[tuple[str, str]]:
    """The customer's private channels, labelled with the identity a message goes to."""
    return [
        (
            channel,
            f"{CHANNEL_LABELS.get(channel, channel)} — {identity.handle or identity.external_id}",
        )
        for channel, identity in private_channels(case)
    ]


def _fresh_form(case: Case) -> ReplyForm:
    return ReplyForm.fresh(private_channels=_channel_choices(case))


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _after_write(request: HttpRequest, *, case: Case, agent: Agent) -> HttpResponse:
    if _is_htmx(request):
        context = _case_context(case=case, agent=agent, form=_fresh_form(case))
        return render(request, "cases/_work.html", context)
    return redirect("case", public_id=case.public_id)


def _full_page(
    request: HttpRequest, *, case: Case, context: dict[str, Any], status: int
) -> HttpResponse:
    context["identities"] = identities_of(case)
    context["due"] = {
        "first response": case.first_response_due_at,
        "next response": case.next_response_due_at,
        "resolution": case.resolution_due_at,
    }
    context["escalation_label"] = describe_due(case.escalation_at, timezone.now())
    return render(request, "cases/case_detail.html", context, status=status)


def _case_context(
    *, case: Case, agent: Agent, form: ReplyForm, blocked: ToneVerdict | None = None
) -> dict[str, Any]:
    entries = timeline(case)
    return {
        "case": case,
        "agent": agent,
        "entries": entries,
        "triage": triage_summary(entries),
        "held": list(held_replies(case)) if agent.can_override_tone else [],
        "form": form,
        "blocked": blocked,
    }
