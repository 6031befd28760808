"""Writes for canned replies and articles. Supervisors and admins write; agents read.

Every text is checked before anything is saved: a clear ``KnowledgeInvalid`` and no row
changed otherwise. A canned reply must also pass the tone guard (with its placeholders
filled by sample values), so the shared answer is never the rude one; whatever an agent
makes of it is checked again when it is sent.
"""

import unicodedata

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from fairdesk.knowledge import placeholders
from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.replies.services import MAX_REPLY_CHARS
from fairdesk.triage import check_tone
from fairdesk.workspaces.models import Agent

MAX_TITLE_CHARS = 120
MAX_ARTICLE_TITLE_CHARS = 200
MAX_ARTICLE_CHARS = 20_000
MAX_TAGS, MAX_TAG_CHARS = 20, 40
SAMPLE_VALUES = {
    "first_name": "Dana",
    "case_ref": "FD-1",
    "agent_name": "Jo Chen",
    "agent_initials": "JC",
    "brand_handle": "@Brand",
}


class KnowledgeInvalid(ValueError):
    """The canned reply or article cannot be saved as written."""


def create_canned_reply(*, agent: Agent, title: str, body: str) -> CannedReply:
    _require_editor(agent)
    reply = CannedReply(workspace_id=agent.workspace_id, created_by=agent, updated_by=agent)
    return _save_canned(reply, title=title, body=body)


def update_canned_reply(*, agent: Agent, canned: CannedReply, title: str, body: str) -> CannedReply:
    _require_editor(agent, canned.workspace_id)
    canned.updated_by = agent
    return _save_canned(canned, title=title, body=body)


def create_article(
    *, agent: Agent, title: str, body: str, tags: str = "", published: bool = False
) -> Article:
    _require_editor(agent)
    article = Article(workspace_id=agent.workspace_id, created_by=agent, updated_by=agent)
    return _save_article(article, title=title, body=body, tags=tags, published=published)


def update_article(
    *, agent: Agent, article: Article, title: str, body: str, tags: str, published: bool
) -> Article:
    _require_editor(agent, article.workspace_id)
    article.updated_by = agent
    return _save_article(article, title=title, body=body, tags=tags, published=published)


def delete_canned_reply(*, agent: Agent, canned: CannedReply) -> None:
    """Remove a canned reply. Replies already sent from it keep their own text."""
    _require_editor(agent, canned.workspace_id)
    canned.delete()


def delete_article(*, agent: Agent, article: Article) -> None:
    """Remove an article; its public address answers 404 from then on."""
    _require_editor(agent, article.workspace_id)
    article.delete()


def _require_editor(agent: Agent, workspace_id: int | None = None) -> None:
    if not agent.is_supervisor:
        raise PermissionDenied("Only supervisors and admins edit canned replies and articles.")
    if workspace_id is not None and workspace_id != agent.workspace_id:
        raise PermissionDenied("This belongs to another workspace.")


def _save_canned(canned: CannedReply, *, title: str, body: str) -> CannedReply:
    canned.title = clean_title(title, MAX_TITLE_CHARS)
    canned.body = clean_body(body, MAX_REPLY_CHARS)
    try:
        placeholders.check(canned.body)
    except placeholders.PlaceholderError as error:
        raise KnowledgeInvalid(str(error)) from error
    verdict = check_tone(placeholders.render(canned.body, SAMPLE_VALUES))
    if not verdict.allowed:
        reasons = "; ".join(issue.explanation for issue in verdict.issues)
        raise KnowledgeInvalid(f"The tone guard would stop this reply: {reasons}")
    _save_unique(canned, "A canned reply with this title already exists.")
    return canned


def _save_article(
    article: Article, *, title: str, body: str, tags: str, published: bool
) -> Article:
    article.title = clean_title(title, MAX_ARTICLE_TITLE_CHARS)
    article.body = clean_body(body, MAX_ARTICLE_CHARS)
    article.tags = clean_tags(tags)
    article.published = published
    _save_unique(article, "An article with this title already exists.")
    return article


def _save_unique(row: CannedReply | Article, taken: str) -> None:
    """Save ``row``, refusing a title its workspace already uses (any letter case)."""
    clash = type(row)._default_manager.filter(
        workspace_id=row.workspace_id, title__iexact=row.title
    )
    if clash.exclude(pk=row.pk).exists():
        raise KnowledgeInvalid(taken)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as error:  # a concurrent save took the title first
        raise KnowledgeInvalid(taken) from error


def clean_title(value: str, limit: int) -> str:
    """One line, whitespace collapsed; refused when empty or longer than ``limit``."""
    title = placeholders.one_line(value, None)
    _refuse_surrogates(title)
    if not title:
        raise KnowledgeInvalid("Give it a title.")
    if len(title) > limit:
        raise KnowledgeInvalid(f"A title can be at most {limit} characters.")
    return title


def clean_body(value: str, limit: int) -> str:
    """Line ends made ``\\n``, outer whitespace trimmed; refused when empty, too long or
    holding control characters other than tab and line feed (NUL cannot be stored)."""
    body = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise KnowledgeInvalid("Write the text.")
    if len(body) > limit:
        raise KnowledgeInvalid(f"The text can be at most {limit:,} characters.")
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n" for char in body):
        raise KnowledgeInvalid("The text holds control characters; paste it as plain text.")
    _refuse_surrogates(body)
    return body


def clean_tags(value: str) -> str:
    """Comma-separated tags, lower-cased, one line each, duplicates dropped."""
    tags = [placeholders.one_line(tag, None).lower() for tag in (value or "").split(",")]
    kept = list(dict.fromkeys(tag for tag in tags if tag))
    _refuse_surrogates("".join(kept))
    if len(kept) > MAX_TAGS:
        raise KnowledgeInvalid(f"Use at most {MAX_TAGS} tags.")
    if any(len(tag) > MAX_TAG_CHARS for tag in kept):
        raise KnowledgeInvalid(f"A tag can be at most {MAX_TAG_CHARS} characters.")
    return ", ".join(kept)


def _refuse_surrogates(text: str) -> None:
    """A lone UTF-16 surrogate (JSON allows ``"\\ud800"``) is not a character: no
    database can store it as UTF-8, so it is refused here rather than failing there."""
    if any(unicodedata.category(char) == "Cs" for char in text):
        raise KnowledgeInvalid("The text holds an invalid character; paste it as plain text.")
