"""The agent's "log a call" form on a case page."""

import uuid
from datetime import timedelta

from django import forms
from django.utils import timezone

from fairdesk.connectors.phone.services import MAX_NOTES_CHARS

MAX_MINUTES = 24 * 60


class CallLogForm(forms.Form):
    """Direction, start (UTC, like every time on the case page), minutes, notes. ``key``
    is minted when the form renders: a double submit logs one call."""

    direction = forms.ChoiceField(
        label="Who called",
        choices=[
            ("inbound", "The customer called us"),
            ("outbound", "We called the customer"),
        ],
        initial="inbound",
        widget=forms.RadioSelect,
    )
    started_at = forms.DateTimeField(
        label="When (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    minutes = forms.IntegerField(label="Duration (minutes)", min_value=0, max_value=MAX_MINUTES)
    notes = forms.CharField(
        label="Notes",
        max_length=MAX_NOTES_CHARS,
        help_text="What was said and agreed. Visible to agents only.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    key = forms.UUIDField(widget=forms.HiddenInput)

    @classmethod
    def fresh(cls) -> "CallLogForm":
        now = timezone.now().replace(second=0, microsecond=0)
        return cls(initial={"key": uuid.uuid4(), "started_at": now, "minutes": 5})

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.cleaned_data["minutes"])
