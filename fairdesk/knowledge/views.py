"""Canned replies and articles: settings pages (supervisors and admins edit, agents
read), the composer's picker and preview on the case page, and a published article's
public page. Parse, authorise, call, render."""

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.cases.queries import case_for
from fairdesk.knowledge import placeholders, queries
from fairdesk.knowledge.composer import preview_reply
from fairdesk.knowledge.forms import ArticleForm, CannedReplyForm
from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.knowledge.services import (
    KnowledgeInvalid,
    create_article,
    create_canned_reply,
    update_article,
    update_canned_reply,
)
from fairdesk.workspaces.models import Agent


def _require_editor(agent: Agent) -> None:
    if not agent.is_supervisor:
        raise PermissionDenied("Only supervisors and admins edit canned replies and articles.")


# -- settings pages -------------------------------------------------------------------
@require_GET
@agent_required
def canned_list(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    query = request.GET.get("q", "")
    rows = queries.canned_replies(workspace=agent.workspace, query=query)
    return _list_page(request, agent=agent, rows=rows, template="knowledge/canned_list.html")


@require_GET
@agent_required
def article_list(request: HttpRequest, *, agent: Agent) -> HttpResponse:
    query = request.GET.get("q", "")
    rows = queries.articles(workspace=agent.workspace, query=query)
    return _list_page(request, agent=agent, rows=rows, template="knowledge/article_list.html")


def _list_page(request: HttpRequest, *, agent: Agent, rows: Any, template: str) -> HttpResponse:
    context = {"rows": rows, "query": request.GET.get("q", ""), "can_edit": agent.is_supervisor}
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@agent_required
def canned_edit(
    request: HttpRequest, public_id: uuid.UUID | None = None, *, agent: Agent
) -> HttpResponse:
    """New (no id) or edit; the row is looked up in the agent's workspace only."""
    _require_editor(agent)
    canned = None
    if public_id is not None:
        canned = queries.canned_reply_for(workspace=agent.workspace, public_id=public_id)
    initial = {"title": canned.title, "body": canned.body} if canned else None
    form = CannedReplyForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> None:
        if canned is None:
            create_canned_reply(agent=agent, title=data["title"], body=data["body"])
        else:
            update_canned_reply(agent=agent, canned=canned, title=data["title"], body=data["body"])

    return _edit_page(request, form=form, row=canned, kind="canned reply", save=save)


@require_http_methods(["GET", "POST"])
@agent_required
def article_edit(
    request: HttpRequest, public_id: uuid.UUID | None = None, *, agent: Agent
) -> HttpResponse:
    """New (no id) or edit; the row is looked up in the agent's workspace only."""
    _require_editor(agent)
    article = None
    if public_id is not None:
        article = queries.article_for(workspace=agent.workspace, public_id=public_id)
    names = ("title", "body", "tags", "published")
    initial = {name: getattr(article, name) for name in names} if article else None
    form = ArticleForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> None:
        fields = {name: data[name] for name in names}
        if article is None:
            create_article(agent=agent, **fields)
        else:
            update_article(agent=agent, article=article, **fields)

    return _edit_page(request, form=form, row=article, kind="article", save=save)


def _edit_page(
    request: HttpRequest,
    *,
    form: CannedReplyForm | ArticleForm,
    row: CannedReply | Article | None,
    kind: str,
    save: Callable[[dict[str, Any]], None],
) -> HttpResponse:
    """Validate, save through the service (its refusal shown on the form), back to the list."""
    back = "articles" if kind == "article" else "canned-replies"
    if request.method == "POST" and form.is_valid():
        try:
            save(form.cleaned_data)
        except KnowledgeInvalid as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Saved “{form.cleaned_data['title']}”.")
            return redirect(back)
    context = {"form": form, "row": row, "kind": kind, "back": back}
    return render(request, "knowledge/edit.html", context, status=422 if form.errors else 200)


# -- the composer on the case page ----------------------------------------------------
@require_GET
@agent_required
def picker(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """Canned replies (filled for this case and agent) and published articles matching
    ``q``: a small list whose buttons put the text into the reply box."""
    case = case_for(workspace=agent.workspace, public_id=public_id)
    query = request.GET.get("q", "")
    values = placeholders.values_for(case=case, agent=agent)
    canned = queries.canned_replies(workspace=agent.workspace, query=query)
    found = queries.articles(workspace=agent.workspace, query=query, published_only=True)
    context = {
        "query": query,
        "canned": [
            (row, placeholders.render(row.body, values)) for row in canned[: queries.PICKER_LIMIT]
        ],
        "articles": [
            (row, request.build_absolute_uri(reverse("article-public", args=[row.public_id])))
            for row in found[: queries.PICKER_LIMIT]
        ],
    }
    return render(request, "knowledge/_picker.html", context)


@require_POST
@agent_required
def preview(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """The reply as it would leave (signed, where it goes, its length against the limit,
    the tone guard's verdict). Writes nothing: no message, outbox row or event."""
    case = case_for(workspace=agent.workspace, public_id=public_id)
    result = preview_reply(
        case=case,
        agent=agent,
        text=request.POST.get("text", ""),
        visibility=request.POST.get("visibility", ""),
        channel=request.POST.get("channel", ""),
    )
    status = 422 if result.error else 200
    return render(request, "knowledge/_preview.html", {"preview": result}, status=status)


# -- public -----------------------------------------------------------------------------
@require_GET
def article_public(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """A published article, for the customer a reply linked it to."""
    article = queries.published_article(public_id)
    return render(request, "knowledge/article_public.html", {"article": article})
