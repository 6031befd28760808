import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import T0
from fairdesk.connectors.bluesky import xrpc
from fairdesk.connectors.bluesky.standin import BlueskyStandIn
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

FIXTURES = Path(__file__).parent / "fixtures"
ACME_DID = "did:plc:qivthlmhyfekbiqklot42xv4"
ACME_HANDLE = "acmesupport.bsky.social"
ACME_PASSWORD = "acme-app-pass-7k2q"
GLOBEX_DID = "did:plc:lpa2bdji4qh6phfd5syhpm55"
GLOBEX_HANDLE = "globexhelp.bsky.social"
GLOBEX_PASSWORD = "globex-app-pass-3vx9"
DANA = {
    "did": "did:plc:fspaujmf3r2amwe2g4spaaty",
    "handle": "dana.bsky.social",
    "displayName": "Dana Whitfield",
}
OMAR = {
    "did": "did:plc:eeux43uwnl55a3upbdcfewxc",
    "handle": "omar.bsky.social",
    "displayName": "Omar",
}


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def bsky() -> Iterator[BlueskyStandIn]:
    """A PDS + AppView + chat on loopback hosting both brands' accounts; sessions held by
    this process are dropped before and after, so no test inherits another's tokens."""
    xrpc.forget_sessions()
    server = BlueskyStandIn()
    with server:
        server.add_account(
            did=ACME_DID, handle=ACME_HANDLE, password=ACME_PASSWORD, display_name="Acme Support"
        )
        server.add_account(
            did=GLOBEX_DID, handle=GLOBEX_HANDLE, password=GLOBEX_PASSWORD, display_name="Globex"
        )
        yield server
    xrpc.forget_sessions()


def connect(
    workspace: Workspace, server: BlueskyStandIn, *, did: str, handle: str, password: str
) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="bluesky",
        name="@" + handle,
        config={"service_url": server.url, "handle": handle, "did": did},
        credentials={"identifier": handle, "app_password": password},
    )


@pytest.fixture
def acme_channel(workspace: Workspace, bsky: BlueskyStandIn) -> Channel:
    return connect(workspace, bsky, did=ACME_DID, handle=ACME_HANDLE, password=ACME_PASSWORD)


@pytest.fixture
def globex_channel(other_workspace: Workspace, bsky: BlueskyStandIn) -> Channel:
    return connect(
        other_workspace, bsky, did=GLOBEX_DID, handle=GLOBEX_HANDLE, password=GLOBEX_PASSWORD
    )


def mention(
    server: BlueskyStandIn,
    author: dict[str, Any],
    text: str,
    *,
    minutes: float,
    brand: str = ACME_DID,
    reason: str = "mention",
    reply_to: str | None = None,
) -> dict[str, Any]:
    """A customer's post addressed to ``brand`` ``minutes`` after T0, and its notification."""
    post = server.seed_post(
        author=author, text=text, at=T0 + timedelta(minutes=minutes), reply_to=reply_to
    )
    server.notify(did=brand, reason=reason, post=post)
    return post
