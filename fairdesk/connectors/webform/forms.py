"""The public contact form: typed, size-capped inputs and a token minted when it renders."""

import uuid

from django import forms

MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 254
MAX_REFERENCE_CHARS = 100
# With the reference line this keeps the record under the 5,000 characters in which the
# pipeline looks for a quoted case reference.
MAX_MESSAGE_CHARS = 4_000
# Far above what the capped fields need; anything larger is refused before parsing.
MAX_BODY_BYTES = 64 * 1024
# Never shown to people (its paragraph is ``hidden``); bots that fill every field fill it.
HONEYPOT_FIELD = "website"


class ContactForm(forms.Form):
    """Name, e-mail, optional order or case reference, message. ``token`` makes a double
    submit of the same rendered form one submission."""

    name = forms.CharField(
        label="Your name",
        max_length=MAX_NAME_CHARS,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label="Your e-mail address",
        max_length=MAX_EMAIL_CHARS,
        help_text="We reply to this address.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    reference = forms.CharField(
        label="Order number or case reference (optional)",
        max_length=MAX_REFERENCE_CHARS,
        required=False,
        help_text="For example 10042 or FD-123, if you have one.",
    )
    message = forms.CharField(
        label="How can we help?",
        max_length=MAX_MESSAGE_CHARS,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    token = forms.UUIDField(widget=forms.HiddenInput)

    @classmethod
    def fresh(cls) -> "ContactForm":
        return cls(initial={"token": uuid.uuid4()})
