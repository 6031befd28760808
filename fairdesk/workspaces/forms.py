"""Settings forms of the workspaces app."""

import re

from django import forms

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


class TeamAlertForm(forms.Form):
    """Where a team's alerts go: one address, or none (then its agents' addresses)."""

    alert_email = forms.EmailField(
        label="Alert address",
        required=False,
        max_length=254,
        help_text=(
            "One address, e.g. a shared mailbox or list. Empty: the team's agents that "
            "have an e-mail address."
        ),
    )

    def clean_alert_email(self) -> str:
        # EmailField strips surrounding whitespace before validating: a trailing CR/LF
        # would pass as a valid address, so the raw value is checked first.
        raw = str(self.data.get(self.add_prefix("alert_email"), ""))
        if _CONTROL.search(raw):
            raise forms.ValidationError("Give one address on one line.")
        return str(self.cleaned_data["alert_email"])
