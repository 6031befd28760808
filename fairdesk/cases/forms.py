"""Typed inputs of the agent workspace pages."""

import uuid

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
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": MAX_REPLY_CHARS}),
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
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    send_anyway = forms.BooleanField(label="Send anyway — logged", required=False)
    action = forms.ChoiceField(
        choices=[(ACTION_SEND, "Send"), (ACTION_REQUEST_OVERRIDE, "Ask a supervisor")],
        required=False,
        widget=forms.HiddenInput,
    )

    @classmethod
    def fresh(cls) -> "ReplyForm":
        return cls(initial={"idempotency_key": uuid.uuid4()})
