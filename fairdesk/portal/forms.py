"""Typed inputs of the portal pages (customers) and of the agent's "send portal link"."""

import re
import uuid
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from fairdesk.portal import uploads
from fairdesk.portal.credentials import CODE_DIGITS
from fairdesk.portal.satisfaction import MAX_COMMENT_CHARS
from fairdesk.portal.services import MAX_NOTE_CHARS
from fairdesk.replies.services import MAX_REPLY_CHARS

Choices = Sequence[tuple[Any, str]]


class SendLinkForm(forms.Form):
    """The agent's button. The key is minted when the form renders: a double submit
    sends one link."""

    channel = forms.ChoiceField(label="Send to")
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=MAX_NOTE_CHARS,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": MAX_NOTE_CHARS}),
        help_text="Shown before the link; checked by the tone guard like any reply.",
    )
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, routes: Choices = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["channel"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = list(routes)

    @classmethod
    def fresh(cls, *, routes: Choices) -> "SendLinkForm":
        return cls(initial={"idempotency_key": uuid.uuid4()}, routes=routes)


class RouteForm(forms.Form):
    """Where the customer wants their code: one of the link contact's own identities."""

    route = forms.TypedChoiceField(
        label="Send my code by", coerce=int, widget=forms.RadioSelect, empty_value=None
    )

    def __init__(self, *args: Any, routes: Choices = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["route"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = list(routes)
        if routes:
            field.initial = routes[0][0]


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Your code",
        max_length=40,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "size": CODE_DIGITS}
        ),
    )

    def clean_code(self) -> str:
        code = re.sub(r"[\s-]", "", self.cleaned_data["code"])
        if not re.fullmatch(rf"[0-9]{{{CODE_DIGITS}}}", code):
            raise forms.ValidationError(f"The code has {CODE_DIGITS} digits.")
        return code


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class FilesField(forms.FileField):
    """Any number of files from one ``<input type=file multiple>``: each checked by
    ``uploads.accept`` (size, kind from the content, safe name), then the count."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"multiple": True, "accept": uploads.ACCEPT})
        )
        super().__init__(required=False, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[uploads.Upload]:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if len(files) > uploads.max_files():
            raise forms.ValidationError(
                f"You can attach at most {uploads.max_files()} files to one message."
            )
        accepted: list[uploads.Upload] = []
        errors: list[str] = []
        for file in files:
            try:
                accepted.append(_accept(file))
            except uploads.UploadRefused as refused:
                errors.append(str(refused))
        if errors:
            raise forms.ValidationError(errors)
        return accepted


def _accept(file: UploadedFile) -> uploads.Upload:
    """A file over the limit is refused unread."""
    name = file.name or ""
    if file.size is not None and file.size > uploads.max_bytes():
        raise uploads.UploadRefused(uploads.too_large(name, file.size))
    return uploads.accept(name, file.read())


class PortalReplyForm(forms.Form):
    """A private reply: text, files, or both. An attachment-only reply is filed with
    the text ``services.FILES_ONLY_TEXT``."""

    text = forms.CharField(
        label="Your message",
        required=False,
        max_length=MAX_REPLY_CHARS,
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": MAX_REPLY_CHARS}),
    )
    attachments = FilesField(
        label="Attach files (optional)",
        help_text="Photos (PNG, JPEG, GIF, WebP), PDF or plain text.",
    )
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    @classmethod
    def fresh(cls) -> "PortalReplyForm":
        return cls(initial={"idempotency_key": uuid.uuid4()})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        empty = not (cleaned.get("text") or "").strip() and not cleaned.get("attachments")
        if empty and not self.has_error("attachments"):
            raise forms.ValidationError("Write a message or attach a file before sending.")
        return cleaned


class CsatForm(forms.Form):
    score = forms.TypedChoiceField(
        label="How satisfied are you with how we handled this?",
        coerce=int,
        choices=[
            (1, "1 — very unsatisfied"),
            (2, "2"),
            (3, "3"),
            (4, "4"),
            (5, "5 — very satisfied"),
        ],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="Anything you want to tell us? (optional)",
        required=False,
        max_length=MAX_COMMENT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_COMMENT_CHARS}),
    )
