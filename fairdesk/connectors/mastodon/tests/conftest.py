"""Two Mastodon instances on loopback (Acme's and Globex's), each with its own token and
brand account, and a channel of each workspace connected to its own instance."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

FIXTURES = Path(__file__).parent / "fixtures"
BRAND_ID = "109000000000000001"
GLOBEX_BRAND_ID = "109000000000000999"
ACME_TOKEN = "acme-oauth-token-ZA3w9kq2Lr8vT1xY"
GLOBEX_TOKEN = "globex-oauth-token-Q7hB2nM4cV6zX8pL"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def brand_account(account_id: str, acct: str) -> dict[str, Any]:
    account: dict[str, Any] = fixture_json("brand_status.json")["account"]
    return {**account, "id": account_id, "username": acct, "acct": acct}


def mention(n: int, *, template: str = "mention_public.json", text: str = "") -> dict[str, Any]:
    """A recorded mention renumbered: notification ``40000000 + n``, status
    ``113300000000000000 + n`` (both grow with ``n``, like Mastodon's ids)."""
    notification: dict[str, Any] = fixture_json(template)
    notification["id"] = str(40_000_000 + n)
    notification["status"]["id"] = status_id(n)
    if text:
        notification["status"]["content"] = f"<p>{text}</p>"
    return notification


def status_id(n: int) -> str:
    return str(113_300_000_000_000_000 + n)


def connect(
    workspace: Workspace,
    instance: MastodonStandIn,
    *,
    account_id: str = BRAND_ID,
    acct: str = "AcmeSupport",
    token: str = ACME_TOKEN,
) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="mastodon",
        name=f"@{acct}",
        config={"instance_url": instance.url, "account_id": account_id, "acct": acct},
        credentials={"access_token": token},
    )


def running(instance: MastodonStandIn) -> Iterator[MastodonStandIn]:
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def acme_instance() -> Iterator[MastodonStandIn]:
    yield from running(
        MastodonStandIn(token=ACME_TOKEN, account=brand_account(BRAND_ID, "AcmeSupport"))
    )


@pytest.fixture
def globex_instance() -> Iterator[MastodonStandIn]:
    yield from running(
        MastodonStandIn(token=GLOBEX_TOKEN, account=brand_account(GLOBEX_BRAND_ID, "GlobexHelp"))
    )


@pytest.fixture
def acme_channel(workspace: Workspace, acme_instance: MastodonStandIn) -> Channel:
    return connect(workspace, acme_instance)


@pytest.fixture
def globex_channel(other_workspace: Workspace, globex_instance: MastodonStandIn) -> Channel:
    return connect(
        other_workspace,
        globex_instance,
        account_id=GLOBEX_BRAND_ID,
        acct="GlobexHelp",
        token=GLOBEX_TOKEN,
    )
