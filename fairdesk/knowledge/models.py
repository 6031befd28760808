"""Canned replies and the knowledge base: one answer, written once, for every channel.

A canned reply is the agent's starting text (placeholders filled for the case, see
``placeholders.py``); an article is the longer answer agents quote or link, and, once
published, customers read at its public address. Neither knows about channels: the same
words go out on X and by e-mail, and only the length check differs
(``replies.limits``).
"""

import uuid

from django.db import models
from django.db.models.functions import Lower

from fairdesk.workspaces.models import Agent, Workspace


class Written(models.Model):
    """What canned replies and articles share: a public id, who wrote and last edited it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class CannedReply(Written):
    """A reply written once; ``body`` may hold the placeholders of ``placeholders.py``."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="canned_replies"
    )
    title = models.CharField(max_length=120)
    body = models.TextField()

    class Meta:
        ordering = ["workspace", "title"]
        constraints = [
            models.UniqueConstraint("workspace", Lower("title"), name="canned_reply_title_unique")
        ]

    def __str__(self) -> str:
        return self.title


class Article(Written):
    """A knowledge-base answer. Agents quote or link it; customers can read it at its
    public address only while ``published``."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="articles")
    title = models.CharField(max_length=200)
    body = models.TextField()
    # Lower-case words separated by ", " (``services.clean_tags``); searched as text.
    tags = models.CharField(max_length=400, blank=True)
    published = models.BooleanField(default=False)

    class Meta:
        ordering = ["workspace", "title"]
        constraints = [
            models.UniqueConstraint("workspace", Lower("title"), name="article_title_unique")
        ]

    def __str__(self) -> str:
        return self.title
