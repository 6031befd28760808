"""Canned replies and knowledge-base articles over HTTP.

Agents read; supervisors and admins write (403 otherwise), as on the settings pages.
Another workspace's id is a 404, never a 403. Bodies refuse unknown fields (422) and the
services' checks (title taken, tone guard, unknown placeholder, control characters) are
422 with the reason; nothing is saved then.

Texts come back exactly as stored: a canned reply's ``body`` keeps its placeholders
(``{first_name}``, …). With ``?case=<id>`` each canned reply also carries ``rendered``,
the text the composer would put into the reply box for that case and the calling agent.
Neither depends on the channel: the same answer goes out on X and by e-mail. The
responses are JSON data, so hostile text in a title or body is returned verbatim and is
escaped by whatever page shows it.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict, field_validator

from fairdesk.api_auth import current_agent
from fairdesk.cases.queries import case_for
from fairdesk.knowledge import placeholders, queries, services
from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.knowledge.services import (
    MAX_ARTICLE_CHARS,
    MAX_ARTICLE_TITLE_CHARS,
    MAX_TAGS,
    MAX_TITLE_CHARS,
    KnowledgeInvalid,
)
from fairdesk.replies.services import MAX_REPLY_CHARS
from fairdesk.workspaces.models import Agent

router = Router()

Limit = Query(50, ge=1, le=200)
Offset = Query(0, ge=0, le=1_000_000)
Search = Query(
    "",
    max_length=queries.MAX_QUERY_CHARS,
    description="Words that must all occur in the title or the text (up to five).",
)
CaseParam = Query(
    None, description="A case of your workspace: adds `rendered`, the text filled for it."
)
Tag = Annotated[str, Field(min_length=1, max_length=100)]


# -- schemas -----------------------------------------------------------------------------


class CannedReplyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    body: str = Field(
        min_length=1,
        max_length=MAX_REPLY_CHARS,
        description="May hold placeholders: "
        + ", ".join("{" + name + "}" for name in placeholders.PLACEHOLDERS),
    )


class CannedReplyPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE_CHARS)
    body: str | None = Field(default=None, min_length=1, max_length=MAX_REPLY_CHARS)


class CannedReplyOut(Schema):
    id: uuid.UUID
    title: str
    body: str = Field(description="As written, placeholders unrendered.")
    rendered: str | None = Field(
        description="With `?case=`: the body filled for that case and you; otherwise null."
    )
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class CannedReplyPage(Schema):
    items: list[CannedReplyOut]
    next_offset: int | None = Field(description="Pass as `offset` for the next page.")


def _no_commas(tags: list[str] | None) -> list[str] | None:
    if tags is not None and any("," in tag for tag in tags):
        raise ValueError("a tag cannot contain a comma")
    return tags


class ArticleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_ARTICLE_TITLE_CHARS)
    body: str = Field(min_length=1, max_length=MAX_ARTICLE_CHARS)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    published: bool = Field(default=False, description="Readable by anyone with its link.")

    _tags = field_validator("tags")(_no_commas)


class ArticlePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=MAX_ARTICLE_TITLE_CHARS)
    body: str | None = Field(default=None, min_length=1, max_length=MAX_ARTICLE_CHARS)
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    published: bool | None = None

    _tags = field_validator("tags")(_no_commas)


class ArticleOut(Schema):
    id: uuid.UUID
    title: str
    body: str
    tags: list[str]
    published: bool
    public_url: str | None = Field(description="The customer-readable page; null for drafts.")
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class ArticlePage(Schema):
    items: list[ArticleOut]
    next_offset: int | None = Field(description="Pass as `offset` for the next page.")


# -- shaping -----------------------------------------------------------------------------


def _name(agent: Agent | None) -> str | None:
    return str(agent) if agent is not None else None


def _canned_out(canned: CannedReply, values: dict[str, str] | None) -> CannedReplyOut:
    return CannedReplyOut(
        id=canned.public_id,
        title=canned.title,
        body=canned.body,
        rendered=placeholders.render(canned.body, values) if values is not None else None,
        created_by=_name(canned.created_by),
        updated_by=_name(canned.updated_by),
        created_at=canned.created_at,
        updated_at=canned.updated_at,
    )


def _article_out(request: HttpRequest, article: Article) -> ArticleOut:
    url = None
    if article.published:
        url = request.build_absolute_uri(reverse("article-public", args=[article.public_id]))
    return ArticleOut(
        id=article.public_id,
        title=article.title,
        body=article.body,
        tags=[tag for tag in article.tags.split(", ") if tag],
        published=article.published,
        public_url=url,
        created_by=_name(article.created_by),
        updated_by=_name(article.updated_by),
        created_at=article.created_at,
        updated_at=article.updated_at,
    )


def _page(rows: QuerySet[Any], limit: int, offset: int) -> tuple[list[Any], int | None]:
    """One page of ``rows`` and the next offset; one row more than asked says whether
    there is a next page, so no ``COUNT(*)``."""
    found = list(rows.select_related("created_by", "updated_by")[offset : offset + limit + 1])
    return found[:limit], (offset + limit if len(found) > limit else None)


def _values(agent: Agent, case_id: uuid.UUID | None) -> dict[str, str] | None:
    if case_id is None:
        return None
    case = case_for(workspace=agent.workspace, public_id=case_id)
    return placeholders.values_for(case=case, agent=agent)


def _refused(error: Exception) -> HttpError:
    if isinstance(error, PermissionDenied):
        return HttpError(403, str(error))
    return HttpError(422, str(error))


# -- canned replies ----------------------------------------------------------------------


@router.get("/canned-replies", response=CannedReplyPage, summary="Canned replies, by title")
def canned_list(
    request: HttpRequest,
    q: str = Search,
    case: uuid.UUID | None = CaseParam,
    limit: int = Limit,
    offset: int = Offset,
) -> CannedReplyPage:
    agent = current_agent(request)
    values = _values(agent, case)
    rows = queries.canned_replies(workspace=agent.workspace, query=q)
    items, next_offset = _page(rows, limit, offset)
    return CannedReplyPage(items=[_canned_out(c, values) for c in items], next_offset=next_offset)


@router.get("/canned-replies/{public_id}", response=CannedReplyOut, summary="One canned reply")
def canned_detail(
    request: HttpRequest, public_id: uuid.UUID, case: uuid.UUID | None = CaseParam
) -> CannedReplyOut:
    agent = current_agent(request)
    canned = queries.canned_reply_for(workspace=agent.workspace, public_id=public_id)
    return _canned_out(canned, _values(agent, case))


@router.post("/canned-replies", response={201: CannedReplyOut}, summary="Write a canned reply")
def canned_create(request: HttpRequest, body: CannedReplyIn) -> Status[CannedReplyOut]:
    """Supervisors and admins. The text must pass the tone guard (placeholders filled
    with sample values) and name only known placeholders."""
    agent = current_agent(request)
    try:
        canned = services.create_canned_reply(agent=agent, title=body.title, body=body.body)
    except (KnowledgeInvalid, PermissionDenied) as error:
        raise _refused(error) from error
    return Status(201, _canned_out(canned, None))


@router.patch("/canned-replies/{public_id}", response=CannedReplyOut, summary="Edit a reply")
def canned_change(
    request: HttpRequest, public_id: uuid.UUID, body: CannedReplyPatch
) -> CannedReplyOut:
    """Supervisors and admins; fields left out keep their value."""
    agent = current_agent(request)
    canned = queries.canned_reply_for(workspace=agent.workspace, public_id=public_id)
    if body.title is None and body.body is None:
        raise HttpError(422, "Give a title or a body to change.")
    try:
        canned = services.update_canned_reply(
            agent=agent,
            canned=canned,
            title=canned.title if body.title is None else body.title,
            body=canned.body if body.body is None else body.body,
        )
    except (KnowledgeInvalid, PermissionDenied) as error:
        raise _refused(error) from error
    return _canned_out(canned, None)


@router.delete("/canned-replies/{public_id}", response={204: None}, summary="Delete a reply")
def canned_delete(request: HttpRequest, public_id: uuid.UUID) -> Status[None]:
    agent = current_agent(request)
    canned = queries.canned_reply_for(workspace=agent.workspace, public_id=public_id)
    try:
        services.delete_canned_reply(agent=agent, canned=canned)
    except PermissionDenied as error:
        raise _refused(error) from error
    return Status(204, None)


# -- articles ----------------------------------------------------------------------------


@router.get("/articles", response=ArticlePage, summary="Knowledge-base articles, by title")
def article_list(
    request: HttpRequest,
    q: str = Search,
    published: bool | None = Query(None, description="Only published (true) or drafts (false)."),
    limit: int = Limit,
    offset: int = Offset,
) -> ArticlePage:
    """Matches title, text or tags."""
    agent = current_agent(request)
    rows = queries.articles(workspace=agent.workspace, query=q)
    if published is not None:
        rows = rows.filter(published=published)
    items, next_offset = _page(rows, limit, offset)
    return ArticlePage(items=[_article_out(request, a) for a in items], next_offset=next_offset)


@router.get("/articles/{public_id}", response=ArticleOut, summary="One article")
def article_detail(request: HttpRequest, public_id: uuid.UUID) -> ArticleOut:
    agent = current_agent(request)
    return _article_out(
        request, queries.article_for(workspace=agent.workspace, public_id=public_id)
    )


@router.post("/articles", response={201: ArticleOut}, summary="Write an article")
def article_create(request: HttpRequest, body: ArticleIn) -> Status[ArticleOut]:
    agent = current_agent(request)
    try:
        article = services.create_article(
            agent=agent,
            title=body.title,
            body=body.body,
            tags=", ".join(body.tags),
            published=body.published,
        )
    except (KnowledgeInvalid, PermissionDenied) as error:
        raise _refused(error) from error
    return Status(201, _article_out(request, article))


@router.patch("/articles/{public_id}", response=ArticleOut, summary="Edit an article")
def article_change(request: HttpRequest, public_id: uuid.UUID, body: ArticlePatch) -> ArticleOut:
    """Supervisors and admins; fields left out keep their value."""
    agent = current_agent(request)
    article = queries.article_for(workspace=agent.workspace, public_id=public_id)
    if body.model_dump(exclude_none=True) == {}:
        raise HttpError(422, "Give a field to change.")
    try:
        article = services.update_article(
            agent=agent,
            article=article,
            title=article.title if body.title is None else body.title,
            body=article.body if body.body is None else body.body,
            tags=article.tags if body.tags is None else ", ".join(body.tags),
            published=article.published if body.published is None else body.published,
        )
    except (KnowledgeInvalid, PermissionDenied) as error:
        raise _refused(error) from error
    return _article_out(request, article)


@router.delete("/articles/{public_id}", response={204: None}, summary="Delete an article")
def article_delete(request: HttpRequest, public_id: uuid.UUID) -> Status[None]:
    agent = current_agent(request)
    article = queries.article_for(workspace=agent.workspace, public_id=public_id)
    try:
        services.delete_article(agent=agent, article=article)
    except PermissionDenied as error:
        raise _refused(error) from error
    return Status(204, None)
