"""Agent workspace pages (server-rendered, HTMX partials). Parse, authorise, call, render."""

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.cases.forms import ReplyForm
from fairdesk.cases.models import Attachment, Case, CaseStatus
from fairdesk.cases.presentation import (
    QUEUE_ROW_FIELDS,
    filter_box_html,
    queue_rows,
    rows_html,
    timeline_html,
)
from fairdesk.cases.queries import (
    QueueCursor,
    case_for,
    describe_due,
    held_replies,
    identities_of,
    latest_timeline,
    queue_page,
)
from fairdesk.cases.search import SearchInvalid, search_cases
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
from fairdesk.routing import assignment
from fairdesk.routing import services as routing_services
from fairdesk.routing.conditions import BREACHING_SOON_MINUTES, BUILT_IN_VIEWS
from fairdesk.routing.forms import BulkForm, ConditionsForm, SaveViewForm
from fairdesk.routing.models import SavedView
from fairdesk.routing.queries import (
    POOL_COUNT_CAP,
    ViewChoice,
    agent_load,
    pool_load,
    saved_view_for,
    view_choice,
    visible_views,
)
from fairdesk.routing.services import SETTABLE_STATUSES, BulkInvalid, BulkResult, ViewInvalid
from fairdesk.triage.types import ToneVerdict
from fairdesk.workspaces.models import Agent, Team
from fairdesk.workspaces.services import set_availability


@require_GET
@agent_required
def queue(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """The queue through a view (built-in, saved, or the filter box), always earliest
    deadline first, keyset paged."""
    saved = visible_views(agent)
    teams = list(Team.objects.filter(workspace_id=agent.workspace_id))
    chosen, filters = _chosen_view(request, agent=agent, saved=saved, teams=teams)
    context: dict[str, Any] = {
        "agent": agent,
        "views": BUILT_IN_VIEWS,
        "saved_views": [(v, _may_delete(agent, v)) for v in saved],
        "current": chosen,
        "filters": filters,
        "filters_html": filter_box_html(filters),
        "save_params": _condition_params(request) if chosen and chosen.key == "filter" else [],
        "teams": teams,
        "agents": list(Agent.objects.filter(workspace_id=agent.workspace_id)),
        "statuses": [(s, CaseStatus(s).label) for s in SETTABLE_STATUSES],
        "keep": _query_without(request, "after"),
        "is_first_page": "after" not in request.GET,
        "rows": [],
        "next_cursor": "",
    }
    if chosen is None:
        return render(request, "cases/queue.html", context, status=422)
    page = queue_page(
        workspace=agent.workspace,
        after=QueueCursor.decode(request.GET.get("after")),
        view=chosen.conditions,
        agent=agent,
        only=QUEUE_ROW_FIELDS,
    )
    context["rows"] = queue_rows(page.cases)
    context["table_rows"] = rows_html(context["rows"], selectable=True)
    context["next_cursor"] = page.next_cursor.encode() if page.next_cursor else ""
    return render(request, "cases/queue.html", context)


def _chosen_view(
    request: HttpRequest, *, agent: Agent, saved: list[SavedView], teams: list[Team]
) -> tuple[ViewChoice | None, ConditionsForm]:
    """The view asked for: the filter box (``filter=1``) or a view key; 404 if unknown.
    None (with the form's errors) when the filter box does not validate."""
    if "filter" in request.GET:
        form = ConditionsForm(request.GET, teams=teams)
        conditions = form.conditions()
        return (ViewChoice("filter", "Filtered", conditions) if conditions else None), form
    chosen = view_choice(agent, request.GET.get("view"), saved)
    if chosen is None:
        raise Http404("No such view.")
    initial = ConditionsForm.initial_from(chosen.conditions)
    return chosen, ConditionsForm(initial=initial, teams=teams)


def _may_delete(agent: Agent, view: SavedView) -> bool:
    return view.owner_id == agent.pk or (view.shared and agent.is_supervisor)


def _condition_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The filter box's fields of this request, to carry into "save as a view"."""
    names = set(ConditionsForm.base_fields)
    return [(k, v) for k, values in request.GET.lists() if k in names for v in values]


def _query_without(request: HttpRequest, name: str) -> str:
    params = request.GET.copy()
    params.pop(name, None)
    return params.urlencode()


@require_GET
@agent_required
def search(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """Cases whose messages, handles or names match; newest first, keyset paged."""
    query = request.GET.get("q", "")
    context: dict[str, Any] = {"query": query, "rows": [], "next_cursor": "", "error": ""}
    if not query.strip():
        return render(request, "cases/search.html", context)
    try:
        page = search_cases(workspace=agent.workspace, query=query, after=request.GET.get("after"))
    except SearchInvalid as error:
        context["error"] = str(error)
        return render(request, "cases/search.html", context, status=422)
    context["rows"] = queue_rows(page.cases)
    context["table_rows"] = rows_html(context["rows"], selectable=False)
    context["next_cursor"] = page.next_cursor or ""
    context["keep"] = _query_without(request, "after")
    return render(request, "cases/search.html", context)


@require_POST
@agent_required
def bulk(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """Apply one action to the ticked cases, in one transaction; report the counts."""
    form = BulkForm(request.POST, viewer=agent)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
        return _back(request)
    try:
        result = _run_bulk(form.cleaned_data, agent=agent)
    except BulkInvalid as error:
        messages.error(request, str(error))
    else:
        summary = (
            f"{result.changed} changed, {result.unchanged} unchanged, {result.refused} refused."
        )
        messages.success(request, " ".join([summary, *result.reasons]))
    return _back(request)


def _run_bulk(data: dict[str, Any], *, agent: Agent) -> BulkResult:
    ids = data["case"]
    action = data["action"]
    if action in {"assign_me", "assign", "unassign"}:
        assignee = {"assign_me": agent, "assign": data["agent"], "unassign": None}[action]
        return routing_services.bulk_assign(agent=agent, case_ids=ids, assignee=assignee)
    if action == "route":
        return routing_services.bulk_route(agent=agent, case_ids=ids, team=data["team"])
    return routing_services.bulk_set_status(agent=agent, case_ids=ids, status=data["status"])


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page the form came from, if it is one of ours."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("queue")


@require_POST
@agent_required
def take_next(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """Claim the next case (earliest deadline, agent's team) and open it."""
    try:
        case = assignment.take_next(agent=agent)
    except assignment.AtCapacity as error:
        messages.error(request, str(error))
        return redirect("queue")
    if case is None:
        messages.info(request, "Nothing is waiting for your team.")
        return redirect("queue")
    return redirect("case", public_id=case.public_id)


@require_POST
@agent_required
def save_view(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    teams = list(Team.objects.filter(workspace_id=agent.workspace_id))
    form = SaveViewForm(request.POST, teams=teams)
    conditions = form.conditions()
    if conditions is None:
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
        return redirect("queue")
    try:
        view = routing_services.save_view(
            agent=agent,
            name=form.cleaned_data["name"],
            conditions=conditions,
            shared=form.cleaned_data["shared"],
        )
    except ViewInvalid as error:
        messages.error(request, str(error))
        return redirect("queue")
    return redirect(f"{reverse('queue')}?view={view.public_id}")


@require_POST
@agent_required
def delete_view(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    view = saved_view_for(agent, public_id)
    if view is None:
        raise Http404("No such view.")
    routing_services.delete_view(agent=agent, view=view)  # PermissionDenied -> 403
    messages.success(request, f"View {view.name!r} deleted.")
    return redirect("queue")


@require_POST
@agent_required
def availability(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    set_availability(agent=agent, available=request.POST.get("available") == "1")
    return _back(request)


@require_GET
@agent_required
def load(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    """Supervisors: open assigned cases, breaching and oldest deadline per agent."""
    if not agent.is_supervisor:
        raise PermissionDenied("Only supervisors see the load of every agent.")
    now = timezone.now()
    context = {
        "rows": agent_load(agent.workspace, now=now),
        "pool": pool_load(agent.workspace, now=now),
        "cap": POOL_COUNT_CAP,
        "soon_minutes": BREACHING_SOON_MINUTES,
    }
    return render(request, "cases/load.html", context)


@require_GET
@agent_required
def case_detail(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    context = _case_context(
        case=case, agent=agent, form=_fresh_form(case), whole=_whole_timeline(request)
    )
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
    context = _case_context(
        case=case, agent=agent, form=form, blocked=blocked, whole=_whole_timeline(request)
    )
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


TIMELINE_LATEST = 100  # entries a case page shows before "show earlier"

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
    whole = _whole_timeline(request)
    if _is_htmx(request):
        context = _case_context(case=case, agent=agent, form=_fresh_form(case), whole=whole)
        return render(request, "cases/_work.html", context)
    url = reverse("case", args=[case.public_id])
    return redirect(f"{url}?timeline=all" if whole else url)


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


def _whole_timeline(request: HttpRequest) -> bool:
    """Whether the agent asked for the whole timeline (``?timeline=all``): on this
    request, or (a reply or approval sent with HTMX) on the page it was sent from."""
    if request.GET.get("timeline") == "all":
        return True
    current: str | None = request.htmx.current_url if _is_htmx(request) else None  # type: ignore[attr-defined]
    if not current:
        return False
    return parse_qs(urlsplit(current).query).get("timeline") == ["all"]


def _case_context(
    *,
    case: Case,
    agent: Agent,
    form: ReplyForm,
    blocked: ToneVerdict | None = None,
    whole: bool = False,
) -> dict[str, Any]:
    """The timeline shows the latest ``TIMELINE_LATEST`` entries unless ``whole``; the
    earlier ones are one link away, and the triage summary counts them all."""
    found = latest_timeline(case, latest=None if whole else TIMELINE_LATEST)
    return {
        "case": case,
        "agent": agent,
        "entries": found.entries,
        "timeline_items": timeline_html(found.entries),
        "earlier": found.earlier,
        "whole": whole,
        "triage": found.triage,
        "held": list(held_replies(case)) if agent.can_override_tone else [],
        "form": form,
        "blocked": blocked,
    }
