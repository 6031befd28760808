"""Typed inputs of the canned reply and article pages; ``services`` does the real checks."""

from django import forms

from fairdesk.knowledge.placeholders import PLACEHOLDERS
from fairdesk.knowledge.services import (
    MAX_ARTICLE_CHARS,
    MAX_ARTICLE_TITLE_CHARS,
    MAX_TITLE_CHARS,
)
from fairdesk.replies.services import MAX_REPLY_CHARS

PLACEHOLDER_HELP = "Placeholders: " + ", ".join(
    "{" + name + "} " + meaning for name, meaning in PLACEHOLDERS.items()
)


class CannedReplyForm(forms.Form):
    title = forms.CharField(label="Title", max_length=MAX_TITLE_CHARS)
    body = forms.CharField(
        label="Reply",
        strip=False,
        max_length=MAX_REPLY_CHARS,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=PLACEHOLDER_HELP + ". The signature ^XY is added when it is sent.",
    )


class ArticleForm(forms.Form):
    title = forms.CharField(label="Title", max_length=MAX_ARTICLE_TITLE_CHARS)
    body = forms.CharField(
        label="Article",
        strip=False,
        max_length=MAX_ARTICLE_CHARS,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text="Plain text. Agents quote it or link it; customers read it once published.",
    )
    tags = forms.CharField(
        label="Tags", required=False, max_length=400, help_text="Separated by commas."
    )
    published = forms.BooleanField(
        label="Published (readable by anyone with its link)", required=False
    )
