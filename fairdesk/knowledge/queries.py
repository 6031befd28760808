"""Reads of canned replies and articles, always scoped to one workspace.

Search is a case-insensitive substring of the title, the text (and an article's tags):
a workspace holds tens to a few thousand of these, a bounded ``LIMIT`` keeps every
answer small, and the message search index (``cases/search.py``) is built for millions
of messages, not for this. Django escapes ``%`` and ``_``, so the query is just text.
"""

import uuid

from django.db.models import Q, QuerySet
from django.http import Http404

from fairdesk.knowledge.models import Article, CannedReply
from fairdesk.workspaces.models import Workspace

PICKER_LIMIT = 10
MAX_QUERY_CHARS = 100


def canned_replies(*, workspace: Workspace, query: str = "") -> QuerySet[CannedReply]:
    """The workspace's canned replies matching ``query`` (all when blank), by title."""
    found = CannedReply.objects.filter(workspace=workspace)
    words = _words(query)
    for word in words:
        found = found.filter(Q(title__icontains=word) | Q(body__icontains=word))
    return found.order_by("title", "id")


def articles(
    *, workspace: Workspace, query: str = "", published_only: bool = False
) -> QuerySet[Article]:
    """The workspace's articles matching ``query`` in title, text or tags, by title."""
    found = Article.objects.filter(workspace=workspace)
    if published_only:
        found = found.filter(published=True)
    for word in _words(query):
        found = found.filter(
            Q(title__icontains=word) | Q(body__icontains=word) | Q(tags__icontains=word)
        )
    return found.order_by("title", "id")


def canned_reply_for(*, workspace: Workspace, public_id: uuid.UUID) -> CannedReply:
    """This workspace's canned reply with that id, or 404 (never another tenant's)."""
    found = CannedReply.objects.filter(workspace=workspace, public_id=public_id).first()
    if found is None:
        raise Http404("No such canned reply.")
    return found


def article_for(*, workspace: Workspace, public_id: uuid.UUID) -> Article:
    """This workspace's article with that id, or 404 (never another tenant's)."""
    found = Article.objects.filter(workspace=workspace, public_id=public_id).first()
    if found is None:
        raise Http404("No such article.")
    return found


def published_article(public_id: uuid.UUID) -> Article:
    """A published article for its public page: anyone holding the link may read it,
    which is what publishing means. Drafts are 404, like an unknown id."""
    found = (
        Article.objects.filter(public_id=public_id, published=True)
        .select_related("workspace")
        .first()
    )
    if found is None:
        raise Http404("No such article.")
    return found


def _words(query: str) -> list[str]:
    """At most five words of the query: every one must match (in any field)."""
    return (query or "")[:MAX_QUERY_CHARS].split()[:5]
