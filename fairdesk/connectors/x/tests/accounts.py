"""Two brand accounts on one X stand-in, and channels of two workspaces connected to them."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.test import Client

from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.connectors.x.tests.conftest import (
    ACME_SECRET,
    BRAND_ID,
    GLOBEX_BRAND_ID,
    GLOBEX_SECRET,
    signature,
)
from fairdesk.workspaces.models import Workspace

ACME_TOKEN = "acme-oauth2-user-access-token-VGhpcyBpcyBub3QgYSByZWFsIHRva2Vu"
GLOBEX_TOKEN = "globex-oauth2-user-access-token-YW5vdGhlciBmYWtlIHRva2Vu"
DANA_ID = "2244994945"  # the customer of the recorded webhook fixtures
EVE_ID = "3055550001"


@contextmanager
def running_x() -> Iterator[XStandIn]:
    """The stand-in with Acme's and Globex's accounts and two customers."""
    api = XStandIn()
    api.add_account(user_id=BRAND_ID, username="AcmeSupport", token=ACME_TOKEN)
    api.add_account(user_id=GLOBEX_BRAND_ID, username="GlobexHelp", token=GLOBEX_TOKEN)
    api.add_user(user_id=DANA_ID, username="dana_w", name="Dana Whitfield", followers=1200)
    api.add_user(user_id=EVE_ID, username="eve_h4x", name="Eve\r\nBcc: victim@example.com <b>")
    api.start()
    try:
        yield api
    finally:
        api.stop()


def connect(workspace: Workspace, api: XStandIn, *, globex: bool = False) -> Channel:
    """A workspace's X channel pointed at the stand-in, with webhook secret and token."""
    return create_channel(
        workspace=workspace,
        kind="x",
        name="@GlobexHelp" if globex else "@AcmeSupport",
        config={
            "brand_user_id": GLOBEX_BRAND_ID if globex else BRAND_ID,
            "brand_handle": "@GlobexHelp" if globex else "@AcmeSupport",
            "api_base": api.url,
        },
        credentials={
            "consumer_secret": GLOBEX_SECRET if globex else ACME_SECRET,
            "access_token": GLOBEX_TOKEN if globex else ACME_TOKEN,
        },
    )


def deliver(channel: Channel, body: bytes, secret: str = ACME_SECRET) -> tuple[int, dict]:
    """POST a signed Account Activity delivery to the channel's webhook."""
    response = Client().post(
        f"/webhooks/x/{channel.public_id}/",
        body,
        content_type="application/json",
        headers={"x-twitter-webhooks-signature": signature(secret, body)},
    )
    return response.status_code, response.json()
