"""X OAuth 2.0 access tokens expire after two hours: the connector refreshes them before
they do (and once after a 401), keeps the rotated refresh token, and never spends one
refresh token twice."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fairdesk.connectors import registry, secrets
from fairdesk.connectors.base import OutboundRequest, PermanentSendError, PollError
from fairdesk.connectors.models import Channel
from fairdesk.connectors.x import client, tokens
from fairdesk.connectors.x.connector import CONNECTOR
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.connectors.x.tests.accounts import ACME_TOKEN, GLOBEX_TOKEN, connect, running_x
from fairdesk.connectors.x.tests.conftest import BRAND_ID, GLOBEX_BRAND_ID
from fairdesk.workspaces.models import Workspace

CLIENT_ID = "acme-client-id"
CLIENT_SECRET = "acme-client-secret-0aa9"
REFRESH = "acme-refresh-token-1"
TOKEN = r"^/2/oauth2/token$"
NOW = datetime.now(UTC)


@pytest.fixture
def api() -> Iterator[XStandIn]:
    with running_x() as standin:
        standin.add_refresh_token(
            user_id=BRAND_ID,
            refresh_token=REFRESH,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        yield standin


def refreshable(workspace: Workspace, api: XStandIn, *, expires_at: datetime) -> Channel:
    channel = connect(workspace, api)
    secrets.set_credentials(
        channel,
        {
            **secrets.credentials(channel),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
            "access_token_expires_at": expires_at.isoformat(),
        },
    )
    return channel


def tweet(channel: Channel, key: str) -> str:
    request = OutboundRequest(idempotency_key=key, text=f"On it ^JC {key}", visibility="public")
    return CONNECTOR.send(registry.account(channel), request)


def test_a_token_about_to_expire_is_refreshed_first_and_the_new_pair_kept(
    workspace: Workspace, api: XStandIn
) -> None:
    channel = refreshable(workspace, api, expires_at=NOW + timedelta(minutes=2))

    assert tweet(channel, "k1")

    [exchange] = api.requests_to("POST", TOKEN)
    assert exchange.headers["authorization"].startswith("Basic ")
    stored = secrets.credentials(Channel.objects.get(pk=channel.pk))
    assert stored["access_token"] != ACME_TOKEN
    assert stored["refresh_token"] != REFRESH  # rotated: the old one is spent
    assert datetime.fromisoformat(stored["access_token_expires_at"]) > NOW + timedelta(hours=1)
    # The next send uses the stored pair: no second exchange.
    assert tweet(channel, "k2")
    assert len(api.requests_to("POST", TOKEN)) == 1
    assert [t.text for t in api.posted_by(BRAND_ID)] == ["On it ^JC k1", "On it ^JC k2"]


def test_a_token_with_time_left_is_used_as_it_is(workspace: Workspace, api: XStandIn) -> None:
    channel = refreshable(workspace, api, expires_at=NOW + timedelta(hours=1))
    assert tweet(channel, "k1")
    assert api.requests_to("POST", TOKEN) == []


def test_a_revoked_token_is_refreshed_once_and_the_call_repeated(
    workspace: Workspace, api: XStandIn
) -> None:
    channel = refreshable(workspace, api, expires_at=NOW + timedelta(hours=1))
    api.revoke_access_token(ACME_TOKEN)

    assert tweet(channel, "k1")
    assert len(api.requests_to("POST", TOKEN)) == 1
    assert len(api.posted_by(BRAND_ID)) == 1  # the 401 posted nothing; the retry did


def test_polling_refreshes_too(workspace: Workspace, api: XStandIn) -> None:
    channel = refreshable(workspace, api, expires_at=NOW - timedelta(minutes=1))
    client.mentions(registry.account(channel), since_id="", pagination_token="")
    assert len(api.requests_to("POST", TOKEN)) == 1


def test_a_second_process_takes_the_token_already_refreshed(
    workspace: Workspace, api: XStandIn
) -> None:
    channel = refreshable(workspace, api, expires_at=NOW + timedelta(minutes=1))
    early = registry.account(channel)  # loaded before the other process refreshed
    late = registry.account(channel)
    first = tokens.fresh_token(late)

    # ``early`` still holds the old, expiring token: under the lock it finds the new one
    # stored and uses it instead of spending the (already spent) refresh token again.
    assert tokens.fresh_token(early) == first
    assert len(api.requests_to("POST", TOKEN)) == 1


def test_a_refused_refresh_token_is_a_clear_permanent_error(
    workspace: Workspace, api: XStandIn
) -> None:
    channel = refreshable(workspace, api, expires_at=NOW - timedelta(minutes=1))
    secrets.set_credentials(
        channel, {**secrets.credentials(channel), "refresh_token": "spent-or-revoked"}
    )
    with pytest.raises(PermanentSendError, match="refused the refresh token"):
        tweet(channel, "k1")
    with pytest.raises(PollError, match="refused the refresh token"):
        client.mentions(registry.account(channel), since_id="", pagination_token="")
    assert api.posted_by(BRAND_ID) == []


def test_a_wrong_client_secret_is_refused(workspace: Workspace, api: XStandIn) -> None:
    channel = refreshable(workspace, api, expires_at=NOW - timedelta(minutes=1))
    secrets.set_credentials(
        channel, {**secrets.credentials(channel), "client_secret": "not-the-secret"}
    )
    with pytest.raises(PermanentSendError, match="401"):
        tweet(channel, "k1")


def test_another_workspaces_refresh_token_is_no_use(
    workspace: Workspace, other_workspace: Workspace, api: XStandIn
) -> None:
    globex = connect(other_workspace, api, globex=True)
    secrets.set_credentials(
        globex,
        {
            **secrets.credentials(globex),
            "client_id": "globex-client",
            "refresh_token": REFRESH,  # Acme's, for Acme's client
            "access_token_expires_at": (NOW - timedelta(minutes=1)).isoformat(),
        },
    )
    with pytest.raises(PermanentSendError, match="refused the refresh token"):
        tweet(globex, "k1")
    assert api.posted_by(GLOBEX_BRAND_ID) == []
    assert secrets.credentials(Channel.objects.get(pk=globex.pk))["access_token"] == GLOBEX_TOKEN


def test_a_pasted_access_token_forgets_the_old_expiry(workspace: Workspace, api: XStandIn) -> None:
    from fairdesk.connectors.services import update_channel

    channel = refreshable(workspace, api, expires_at=NOW - timedelta(minutes=1))
    update_channel(
        channel=channel,
        name=channel.name,
        config=channel.config,
        credentials={"access_token": ACME_TOKEN},
    )
    stored = secrets.credentials(Channel.objects.get(pk=channel.pk))
    assert "access_token_expires_at" not in stored and stored["refresh_token"] == REFRESH
    assert tweet(channel, "k1")
    assert api.requests_to("POST", TOKEN) == []  # used until X says otherwise
