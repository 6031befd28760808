"""The connect form: a channel's name, its per-kind configuration and its secrets.

Configuration fields come from the kind's pydantic model (``config.config_model``), so
the form cannot drift from what ``validate_config`` accepts. Secrets are write-only: the
form never shows them, and a blank secret keeps the stored one.
"""

from typing import Any

from django import forms
from pydantic import BaseModel

from fairdesk.connectors.config import config_model

# What each kind keeps encrypted (``secrets.py``); never in the configuration.
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    # OAuth 2.0: with a refresh token and the app's client id (and secret, for a
    # confidential client) the access token is renewed before its two hours run out.
    "x": ("consumer_secret", "access_token", "refresh_token", "client_id", "client_secret"),
    "facebook": ("app_secret", "verify_token", "page_access_token"),
    "instagram": ("app_secret", "verify_token", "page_access_token"),
    "mastodon": ("access_token",),
    "bluesky": ("identifier", "app_password"),
    "email": ("imap_username", "imap_password", "smtp_username", "smtp_password"),
}


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=200, label="Name shown to agents")

    def __init__(
        self, *args: Any, kind: str, existing: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.model: type[BaseModel] = config_model(kind)
        for name, field in self.model.model_fields.items():
            self.fields[f"config_{name}"] = forms.CharField(
                label=name.replace("_", " ").capitalize(),
                required=field.is_required(),
                initial=(existing or {}).get(
                    name, field.default if not field.is_required() else ""
                ),
                max_length=500,
                help_text=field.description or "",
            )
        for name in CREDENTIAL_FIELDS.get(kind, ()):
            self.fields[f"secret_{name}"] = forms.CharField(
                label=name.replace("_", " ").capitalize(),
                required=False,
                max_length=2000,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text="Stored encrypted. Leave blank to keep the current value.",
            )

    def config(self) -> dict[str, Any]:
        """The configuration fields, blank optional ones left to their defaults."""
        values: dict[str, Any] = {}
        for name in self.model.model_fields:
            value = self.cleaned_data.get(f"config_{name}", "")
            if value not in ("", None):
                values[name] = value
        return values

    def secrets(self) -> dict[str, str]:
        """Only the secrets typed in this time."""
        return {
            name: self.cleaned_data[f"secret_{name}"]
            for name in CREDENTIAL_FIELDS.get(self.kind, ())
            if self.cleaned_data.get(f"secret_{name}")
        }

    def config_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("config_")]

    def secret_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("secret_")]
