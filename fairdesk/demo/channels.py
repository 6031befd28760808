"""The demo workspace's social channels, connected to the running stand-ins.

One channel per platform account: X, the Facebook Page with its Instagram account,
Mastodon and Bluesky, found by kind and name. The stand-ins listen on new ports with new
secrets on every start, so a channel that exists already gets the new address and
secrets, and its polling cursor is cleared: the stand-in behind it is a new platform
whose ids the old cursor knows nothing about. Connecting again never adds a channel.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from fairdesk.connectors.bluesky import xrpc
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel, update_channel
from fairdesk.demo import platform_ids as ids
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.setup import BRAND_HANDLE, DEMO_NAME
from fairdesk.workspaces.models import Workspace

X_NAME = BRAND_HANDLE
META_NAME = DEMO_NAME
MASTODON_NAME = "@" + ids.MASTODON_ACCT
BLUESKY_NAME = "@" + ids.BLUESKY_HANDLE


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    kind: str
    name: str
    config: dict[str, Any]
    credentials: dict[str, Any]


def channel_specs(platforms: DemoPlatforms) -> list[ChannelSpec]:
    keys = platforms.secrets
    x_config = {
        "brand_user_id": ids.X_BRAND_ID,
        "brand_handle": BRAND_HANDLE,
        "api_base": platforms.x.url,
    }
    meta_config = {
        "page_id": ids.PAGE_ID,
        "page_name": DEMO_NAME,
        "instagram_account_id": ids.INSTAGRAM_ACCOUNT_ID,
        "instagram_username": "@" + ids.INSTAGRAM_USERNAME,
        "api_base": platforms.meta.url,
    }
    mastodon_config = {
        "instance_url": platforms.mastodon.url,
        "account_id": ids.MASTODON_ACCOUNT_ID,
        "acct": ids.MASTODON_ACCT,
    }
    bluesky_config = {
        "service_url": platforms.bluesky.url,
        "handle": ids.BLUESKY_HANDLE,
        "did": ids.BLUESKY_DID,
    }
    return [
        ChannelSpec(
            "x",
            X_NAME,
            x_config,
            {"consumer_secret": keys.x_consumer_secret, "access_token": keys.x_access_token},
        ),
        ChannelSpec(
            "facebook",
            META_NAME,
            meta_config,
            {
                "app_secret": keys.meta_app_secret,
                "verify_token": keys.meta_verify_token,
                "page_access_token": keys.meta_page_token,
            },
        ),
        ChannelSpec(
            "mastodon", MASTODON_NAME, mastodon_config, {"access_token": keys.mastodon_token}
        ),
        ChannelSpec(
            "bluesky",
            BLUESKY_NAME,
            bluesky_config,
            {"identifier": ids.BLUESKY_HANDLE, "app_password": keys.bluesky_password},
        ),
    ]


def connect_channels(*, workspace: Workspace, platforms: DemoPlatforms) -> dict[str, Channel]:
    """Create or re-point the workspace's channel for each stand-in; by kind."""
    connected = {}
    with transaction.atomic():
        for spec in channel_specs(platforms):
            connected[spec.kind] = _connect(workspace, spec)
    xrpc.forget_sessions()  # Bluesky sessions of the previous stand-ins are worthless
    return connected


def _connect(workspace: Workspace, spec: ChannelSpec) -> Channel:
    channel = demo_channel(workspace=workspace, kind=spec.kind, name=spec.name)
    if channel is None:
        return create_channel(
            workspace=workspace,
            kind=spec.kind,
            name=spec.name,
            config=spec.config,
            credentials=spec.credentials,
        )
    update_channel(
        channel=channel, name=spec.name, config=spec.config, credentials=spec.credentials
    )
    Channel.objects.filter(pk=channel.pk).update(cursor={}, send_blocked_until=None)
    channel.refresh_from_db()
    return channel


def demo_channel(*, workspace: Workspace, kind: str, name: str) -> Channel | None:
    return Channel.objects.filter(workspace=workspace, kind=kind, name=name).order_by("id").first()


def connected_channel(workspace: Workspace, kind: str) -> Channel:
    """The demo's channel of ``kind`` (x, facebook, mastodon, bluesky); connected first."""
    name = {
        "x": X_NAME,
        "facebook": META_NAME,
        "mastodon": MASTODON_NAME,
        "bluesky": BLUESKY_NAME,
    }[kind]
    channel = demo_channel(workspace=workspace, kind=kind, name=name)
    if channel is None:
        raise LookupError(f"the demo's {kind} channel is not connected")
    return channel
