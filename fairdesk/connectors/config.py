"""Per-kind channel configuration, validated by pydantic (STYLE 11).

Configuration is what is not secret (account ids, handles). Secrets live in the
encrypted credentials (see ``secrets.py``).
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

NumericId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,30}$")]
Handle = Annotated[str, StringConstraints(max_length=100, strip_whitespace=True)]


class ChannelConfig(BaseModel):
    """The configuration of a kind whose connector is not built yet: nothing accepted."""

    model_config = ConfigDict(extra="forbid")


class XConfig(ChannelConfig):
    """An X account subscribed through the Account Activity API. Replies, reconciliation
    and mention backfill go to the v2 API at ``api_base``; customers signing in to the
    portal with X approve at ``authorize_base`` + ``/i/oauth2/authorize`` (both a
    stand-in's loopback URL in tests and the demo)."""

    brand_user_id: NumericId
    brand_handle: Handle = ""
    api_base: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, max_length=200, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+/?$"
        ),
    ] = "https://api.x.com"
    authorize_base: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, max_length=200, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+/?$"
        ),
    ] = "https://x.com"


class MetaConfig(ChannelConfig):
    """A Facebook Page (feed comments, Messenger) and optionally its Instagram account,
    subscribed through Meta Graph webhooks. The app secret, the verify token and the Page
    access token are credentials, not configuration. Replies and reconciliation go to the
    Graph API at ``api_base`` / ``graph_version`` (a stand-in's loopback URL in tests)."""

    page_id: NumericId
    page_name: Handle = ""
    instagram_account_id: NumericId | None = None
    instagram_username: Handle = ""
    api_base: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, max_length=200, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+/?$"
        ),
    ] = "https://graph.facebook.com"
    graph_version: Annotated[str, StringConstraints(pattern=r"^v[0-9]{1,3}\.[0-9]{1,2}$")] = "v25.0"


# The kinds configured here predate per-connector modules; newer connectors declare
# their model as ``Connector.config_model``.
CONFIG_MODELS: dict[str, type[BaseModel]] = {
    "x": XConfig,
    "facebook": MetaConfig,
    "instagram": MetaConfig,
}


class ConfigError(ValueError):
    """A channel configuration that does not fit its kind."""


def config_model(kind: str) -> type[BaseModel]:
    model = CONFIG_MODELS.get(kind)
    if model is None:
        from fairdesk.connectors.registry import connector

        found = connector(kind)
        model = found.config_model if found is not None else ChannelConfig
    return model


def validate_config(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The configuration for ``kind`` as clean JSON, or ``ConfigError``."""
    model = config_model(kind)
    try:
        return model.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        raise ConfigError(f"invalid {kind} configuration: {exc.errors()[0]['msg']}") from exc


def x_config(data: dict[str, Any]) -> XConfig:
    return XConfig.model_validate(data)


def meta_config(data: dict[str, Any]) -> MetaConfig:
    return MetaConfig.model_validate(data)
