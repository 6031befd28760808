"""Portal pages (customers) and the agent's portal-link actions. Parse, authorise, call
one service, render.

Customers: ``/portal/<workspace>/…``. Opening a link only remembers it in a signed,
short-lived cookie and sends the visitor to prove who they are; a right code opens a
portal session (cookie ``fd_portal``: a random secret, only its digest is stored). Both
cookies are HttpOnly, SameSite=Lax, Secure behind HTTPS and scoped to the workspace's
``/portal/<workspace>/`` path. Every redirect goes to a fixed page of this app: no
``next`` parameter is ever followed. Every page is ``no-store``.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.cases.models import Case
from fairdesk.cases.queries import case_for
from fairdesk.connectors.webform.ratelimit import Throttled
from fairdesk.portal import oauth, queries, services, uploads
from fairdesk.portal.forms import CodeForm, CsatForm, PortalReplyForm, RouteForm, SendLinkForm
from fairdesk.portal.models import PortalLink, PortalSession
from fairdesk.replies.services import ReplyInvalid, ToneBlocked
from fairdesk.workspaces.models import Agent, Workspace

SESSION_COOKIE = "fd_portal"
PENDING_COOKIE = "fd_portal_pending"
PENDING_SALT = "fairdesk.portal.pending"
PENDING_MAX_AGE = 3600

View = Callable[..., HttpResponse]


# --- cookies -----------------------------------------------------------------------------


def _cookie_path(workspace: Workspace) -> str:
    return reverse("portal:home", kwargs={"workspace": workspace.slug})


def _cookie_options(workspace: Workspace, max_age: int) -> dict[str, Any]:
    return {
        "max_age": max_age,
        "path": _cookie_path(workspace),
        "secure": settings.SESSION_COOKIE_SECURE,
        "httponly": True,
        "samesite": "Lax",
    }


@dataclass(frozen=True, slots=True)
class Pending:
    """The link being verified (and the code last sent), from the signed cookie."""

    link: PortalLink
    challenge_id: uuid.UUID | None


def _pending(request: HttpRequest, workspace: Workspace) -> Pending | None:
    raw = request.get_signed_cookie(
        PENDING_COOKIE, default=None, salt=PENDING_SALT, max_age=PENDING_MAX_AGE
    )
    parts = str(raw or "").split(":")
    if len(parts) != 3 or parts[0] != str(workspace.pk) or not parts[1].isdigit():
        return None
    link = queries.usable_link(workspace=workspace, link_id=int(parts[1]))
    if link is None:
        return None
    try:
        challenge_id = uuid.UUID(parts[2]) if parts[2] else None
    except ValueError:
        return None
    return Pending(link=link, challenge_id=challenge_id)


def _remember(
    response: HttpResponse, workspace: Workspace, link: PortalLink, challenge: str = ""
) -> HttpResponse:
    response.set_signed_cookie(
        PENDING_COOKIE,
        f"{workspace.pk}:{link.pk}:{challenge}",
        salt=PENDING_SALT,
        **_cookie_options(workspace, PENDING_MAX_AGE),
    )
    return response


def _forget(response: HttpResponse, workspace: Workspace, name: str) -> HttpResponse:
    response.delete_cookie(name, path=_cookie_path(workspace), samesite="Lax")
    return response


def _workspace(slug: str) -> Workspace:
    return get_object_or_404(Workspace, slug=slug)


def customer_required(view: View) -> View:
    """A live portal session of this workspace, passed as ``session``; else the
    signed-out page (never another workspace's session)."""

    @wraps(view)
    def wrapper(request: HttpRequest, workspace: str, *args: Any, **kwargs: Any) -> HttpResponse:
        found = _workspace(workspace)
        session = queries.session_for(
            workspace=found, secret=request.COOKIES.get(SESSION_COOKIE, "")
        )
        if session is None:
            return redirect("portal:signed-out", workspace=found.slug)
        return view(request, *args, session=session, **kwargs)

    return never_cache(wrapper)


# --- proof of identity -------------------------------------------------------------------


@never_cache
@require_GET
def open_link(request: HttpRequest, workspace: str, token: str) -> HttpResponse:
    found = _workspace(workspace)
    try:
        link = services.open_link(workspace=found, token=token)
    except services.LinkUnusable:
        return _unusable(request, found)
    response = redirect("portal:verify", workspace=found.slug)
    return _remember(response, found, link)


def _unusable(request: HttpRequest, workspace: Workspace) -> HttpResponse:
    """One page for every bad link: it never says whether a link existed."""
    return render(request, "portal/unusable.html", {"workspace": workspace}, status=404)


@never_cache
@require_GET
def verify(request: HttpRequest, workspace: str) -> HttpResponse:
    found = _workspace(workspace)
    pending = _pending(request, found)
    if pending is None:
        return _unusable(request, found)
    return _verify_page(request, pending, status=200)


def _verify_page(
    request: HttpRequest,
    pending: Pending,
    *,
    status: int,
    route_form: RouteForm | None = None,
    code_form: CodeForm | None = None,
    error: str = "",
) -> HttpResponse:
    routes = _routes(pending.link)
    context = {
        "workspace": pending.link.case.workspace,
        "route_form": route_form or RouteForm(routes=routes),
        "code_form": code_form or CodeForm(),
        "code_sent": pending.challenge_id is not None,
        "has_routes": bool(routes),
        "sign_ins": oauth.offered(pending.link),
        "error": error,
    }
    return render(request, "portal/verify.html", context, status=status)


def _routes(link: PortalLink) -> list[tuple[int, str]]:
    return [
        (identity.pk, queries.route_label(identity))
        for identity in queries.verification_routes(link.case)
        if identity.contact_id == link.contact_id
    ]


@never_cache
@require_POST
def send_code(request: HttpRequest, workspace: str) -> HttpResponse:
    found = _workspace(workspace)
    pending = _pending(request, found)
    if pending is None:
        return _unusable(request, found)
    form = RouteForm(request.POST, routes=_routes(pending.link))
    if not form.is_valid():
        return _verify_page(request, pending, status=422, route_form=form)
    try:
        challenge = services.send_code(link=pending.link, identity_id=form.cleaned_data["route"])
    except services.PortalInvalid as error:
        return _verify_page(request, pending, status=422, route_form=form, error=str(error))
    except Throttled as throttled:
        response = _verify_page(
            request, pending, status=429, error="Too many codes asked for. Try again later."
        )
        response["Retry-After"] = str(throttled.retry_after)
        return response
    response = redirect("portal:verify", workspace=found.slug)
    return _remember(response, found, pending.link, str(challenge.public_id))


@never_cache
@require_POST
def check_code(request: HttpRequest, workspace: str) -> HttpResponse:
    found = _workspace(workspace)
    pending = _pending(request, found)
    if pending is None:
        return _unusable(request, found)
    form = CodeForm(request.POST)
    if pending.challenge_id is None or not form.is_valid():
        return _verify_page(request, pending, status=422, code_form=form)
    try:
        session, secret = services.verify_code(
            link=pending.link, challenge_id=pending.challenge_id, code=form.cleaned_data["code"]
        )
    except services.CodeRefused as refused:
        return _verify_page(request, pending, status=422, code_form=form, error=str(refused))
    return signed_in(found, session, secret)


def signed_in(workspace: Workspace, session: PortalSession, secret: str) -> HttpResponse:
    """The customer proved who they are (a code, or ``oauth_views``): home, with the
    session cookie set and the pending link forgotten."""
    response = redirect("portal:home", workspace=workspace.slug)
    _forget(response, workspace, PENDING_COOKIE)
    max_age = int((session.expires_at - session.created_at).total_seconds())
    response.set_cookie(SESSION_COOKIE, secret, **_cookie_options(workspace, max_age))
    return response


@never_cache
@require_GET
def signed_out(request: HttpRequest, workspace: str) -> HttpResponse:
    return render(request, "portal/signed_out.html", {"workspace": _workspace(workspace)})


@require_POST
@customer_required
def logout(request: HttpRequest, *, session: PortalSession) -> HttpResponse:
    services.end_session(session=session)
    response = redirect("portal:signed-out", workspace=session.workspace.slug)
    return _forget(response, session.workspace, SESSION_COOKIE)


# --- the customer's cases ----------------------------------------------------------------


@require_GET
@customer_required
def home(request: HttpRequest, *, session: PortalSession) -> HttpResponse:
    cases = [(case, queries.STATUS_LABELS[case.status]) for case in queries.cases_of(session)]
    context = {"workspace": session.workspace, "session": session, "cases": cases}
    return render(request, "portal/home.html", context)


@require_GET
@customer_required
def case_page(
    request: HttpRequest, public_id: uuid.UUID, *, session: PortalSession
) -> HttpResponse:
    case = queries.portal_case(session=session, public_id=public_id)
    return _case_page(request, session, case, status=200)


def _case_page(
    request: HttpRequest,
    session: PortalSession,
    case: Case,
    *,
    status: int,
    reply_form: PortalReplyForm | None = None,
    csat_form: CsatForm | None = None,
    error: str = "",
) -> HttpResponse:
    context = {
        "workspace": session.workspace,
        "session": session,
        "case": case,
        "status_label": queries.STATUS_LABELS[case.status],
        "entries": queries.customer_timeline(case),
        "steps": queries.work_steps(case),
        "csat": queries.csat_of(case),
        "reply_form": reply_form or PortalReplyForm.fresh(),
        "upload_max_files": uploads.max_files(),
        "upload_max_bytes": uploads.max_bytes(),
        "csat_form": csat_form or CsatForm(),
        "error": error,
    }
    return render(request, "portal/case.html", context, status=status)


@require_POST
@customer_required
def reply(request: HttpRequest, public_id: uuid.UUID, *, session: PortalSession) -> HttpResponse:
    case = queries.portal_case(session=session, public_id=public_id)
    form = PortalReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _case_page(request, session, case, status=422, reply_form=form)
    try:
        services.post_reply(
            session=session,
            case=case,
            text=form.cleaned_data["text"],
            key=str(form.cleaned_data["idempotency_key"]),
            files=form.cleaned_data["attachments"],
        )
    except services.PortalInvalid as error:
        return _case_page(request, session, case, status=422, reply_form=form, error=str(error))
    messages.success(request, "Thank you — your message is on your case.")
    return redirect("portal:case", workspace=session.workspace.slug, public_id=case.public_id)


@require_POST
@customer_required
def csat(request: HttpRequest, public_id: uuid.UUID, *, session: PortalSession) -> HttpResponse:
    case = queries.portal_case(session=session, public_id=public_id)
    form = CsatForm(request.POST)
    if not form.is_valid():
        return _case_page(request, session, case, status=422, csat_form=form)
    try:
        services.record_csat(
            session=session,
            case=case,
            score=form.cleaned_data["score"],
            comment=form.cleaned_data["comment"],
        )
    except services.PortalInvalid as error:
        return _case_page(request, session, case, status=422, csat_form=form, error=str(error))
    messages.success(request, "Thank you for your answer.")
    return redirect("portal:case", workspace=session.workspace.slug, public_id=case.public_id)


@require_GET
@customer_required
def download(request: HttpRequest, public_id: uuid.UUID, *, session: PortalSession) -> HttpResponse:
    """A file of the customer's own case: always a download, never rendered or sniffed."""
    found = queries.downloadable(session=session, public_id=public_id)
    try:
        data = found.path.read_bytes()
    except FileNotFoundError as missing:
        raise Http404("This file is no longer stored.") from missing
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, found.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


# --- agents ------------------------------------------------------------------------------


@require_POST
@agent_required
def send_link(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    form = SendLinkForm(request.POST, routes=queries.route_choices(case))
    if not form.is_valid():
        errors = "; ".join(" ".join(str(e) for e in v) for v in form.errors.values())
        messages.error(request, f"Portal link not sent — {errors}")
        return redirect("case", public_id=case.public_id)
    try:
        sent = services.send_portal_link(
            case=case,
            agent=agent,
            base_url=request.build_absolute_uri("/"),
            idempotency_key=str(form.cleaned_data["idempotency_key"]),
            channel=form.cleaned_data["channel"],
            note=form.cleaned_data["note"],
        )
    except ToneBlocked as blocked:
        reasons = "; ".join(issue.explanation for issue in blocked.verdict.issues)
        messages.error(
            request, f"Portal link not sent — the tone guard stopped the note: {reasons}"
        )
    except (services.PortalInvalid, ReplyInvalid) as error:
        messages.error(request, f"Portal link not sent — {error}")
    else:
        messages.success(request, f"Portal link queued ({sent.link.channel}).")
    return redirect("case", public_id=case.public_id)


@require_POST
@agent_required
def revoke(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    link = get_object_or_404(
        PortalLink.objects.select_related("case"), workspace=agent.workspace, public_id=public_id
    )
    services.revoke_link(link=link, agent=agent)
    messages.success(request, "Portal link revoked; its sessions have ended.")
    return redirect("case", public_id=link.case.public_id)
