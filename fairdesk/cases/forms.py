"""Typed inputs of the agent workspace pages."""

import uuid
from collections.abc import Sequence
from typing import Any

from django import forms

from fairdesk.cases.models import Visibility
from fairdesk.replies.services import MAX_REPLY_CHARS


class ReplyForm(forms.Form):
    """The reply box. ``idempotency_key`` is minted when the form renders: a double submit
    of the same form is one reply."""

    ACTION_SEND = "send"
    ACTION_REQUEST_OVERRIDE = "request_override"

    text = forms.CharField(
        label="Your reply",
        strip=True,
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "maxlength": MAX_REPLY_CHARS,
                "data-shortcut": "r",
                "aria-keyshortcuts": "r",
            }
        ),
    )
    visibility = forms.ChoiceField(
        label="Send as",
        choices=[
            (Visibility.PUBLIC.value, "Public reply in the thread"),
            (Visibility.PRIVATE.value, "Private message"),
        ],
        initial=Visibility.PUBLIC.value,
        widget=forms.RadioSelect,
    )
    channel = forms.ChoiceField(
        label="Private channel",
        required=False,
        choices=[("", "Where the customer last wrote privately")],
        help_text="Moving to a private channel keeps this case, its history and deadlines.",
    )
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    send_anyway = forms.BooleanField(label="Send anyway — logged", required=False)
    action = forms.ChoiceField(
        choices=[(ACTION_SEND, "Send"), (ACTION_REQUEST_OVERRIDE, "Ask a supervisor")],
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, private_channels: Sequence[tuple[str, str]] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["channel"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Where the customer last wrote privately"), *private_channels]

    @classmethod
    def fresh(cls, *, private_channels: Sequence[tuple[str, str]] = ()) -> "ReplyForm":
        return cls(initial={"idempotency_key": uuid.uuid4()}, private_channels=private_channels)
