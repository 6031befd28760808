"""Polling notifications from a Bluesky stand-in into the inbound store."""

from datetime import timedelta

import pytest

from conftest import T0
from fairdesk.connectors import polling
from fairdesk.connectors.bluesky import adapter
from fairdesk.connectors.bluesky.standin import BlueskyStandIn
from fairdesk.connectors.bluesky.tests.conftest import (
    ACME_DID,
    DANA,
    GLOBEX_DID,
    GLOBEX_HANDLE,
    GLOBEX_PASSWORD,
    OMAR,
    connect,
    fixture_json,
    mention,
)
from fairdesk.connectors.config import ConfigError
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace

LIST = r"listNotifications"


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "PAGE_SIZE", 2)


def stored(workspace: Workspace) -> list[str]:
    events = InboundEvent.objects.filter(workspace=workspace).order_by("external_id")
    return list(events.values_list("external_id", flat=True))


def texts(workspace: Workspace) -> set[str]:
    events = InboundEvent.objects.filter(workspace=workspace)
    return {payload["text"] for payload in events.values_list("payload", flat=True)}


def poll(channel: Channel) -> polling.PollOutcome:
    channel.refresh_from_db()
    return polling.poll_channel(channel)


def test_first_poll_stores_the_newest_page_once(
    workspace: Workspace,
    other_workspace: Workspace,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
    small_pages: None,
) -> None:
    posts = [mention(bsky, DANA, f"@acme help {n}", minutes=n) for n in range(3)]
    liked = bsky.seed_post(author=OMAR, text="newest, but only liked", at=T0 + timedelta(minutes=5))
    bsky.notify(did=ACME_DID, reason="like", post=liked)
    outcome = poll(acme_channel)
    assert (outcome.stored, outcome.duplicates, outcome.pages, outcome.error) == (2, 0, 1, "")
    assert stored(workspace) == sorted(p["uri"] for p in posts[1:])
    [request] = bsky.requests_to("GET", LIST)
    assert request.query == {"limit": ["2"], "reasons": ["mention", "reply", "quote"]}
    acme_channel.refresh_from_db()
    assert acme_channel.cursor == {
        "seen": {"indexed_at": "2026-11-02T09:02:00+00:00", "uris": [posts[2]["uri"]]}
    }
    again = poll(acme_channel)
    assert (again.stored, again.duplicates, again.pages) == (0, 0, 1)
    assert poll(globex_channel).stored == 0
    assert stored(other_workspace) == []


def test_polling_pages_back_to_the_last_seen_and_no_further(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel, small_pages: None
) -> None:
    first = [mention(bsky, DANA, f"old {n}", minutes=n) for n in range(3)]
    poll(acme_channel)
    new = [mention(bsky, OMAR, f"new {n}", minutes=10 + n) for n in range(5)]
    bsky.requests.clear()
    outcome = poll(acme_channel)
    # pages: [new4, new3] [new2, new1] [new0, old2 = seen] then the newest page once more
    assert (outcome.stored, outcome.duplicates, outcome.pages, outcome.error) == (5, 0, 4, "")
    cursors = [r.query.get("cursor") for r in bsky.requests_to("GET", LIST)]
    assert cursors == [
        None,
        [f"{new[3]['indexedAt']}::{new[3]['uri']}"],
        [f"{new[1]['indexedAt']}::{new[1]['uri']}"],
        None,
    ]
    assert stored(workspace) == sorted(p["uri"] for p in first[1:] + new)
    acme_channel.refresh_from_db()
    assert acme_channel.cursor == {
        "seen": {"indexed_at": "2026-11-02T09:14:00+00:00", "uris": [new[4]["uri"]]}
    }


def test_a_backlog_cut_by_a_dropped_connection_resumes_where_it_stopped(
    workspace: Workspace,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    small_pages: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mention(bsky, DANA, "old", minutes=0)
    poll(acme_channel)
    new = [mention(bsky, OMAR, f"new {n}", minutes=10 + n) for n in range(5)]
    monkeypatch.setattr(polling, "MAX_PAGES", 1)
    assert poll(acme_channel).stored == 2  # the newest page; the rest waits in the cursor
    acme_channel.refresh_from_db()
    backlog = acme_channel.cursor
    assert backlog["catchup"]["page"] == f"{new[3]['indexedAt']}::{new[3]['uri']}"
    bsky.fail_next(503, path=LIST)
    failed = poll(acme_channel)
    assert (failed.stored, failed.pages) == (0, 0) and "503" in failed.error
    acme_channel.refresh_from_db()
    assert acme_channel.cursor == backlog
    late = mention(bsky, DANA, "arrived while disconnected", minutes=30)
    monkeypatch.setattr(polling, "MAX_PAGES", 20)
    outcome = poll(acme_channel)
    assert (outcome.stored, outcome.duplicates, outcome.error) == (4, 0, "")
    assert len(stored(workspace)) == 1 + 5 + 1
    assert late["uri"] in stored(workspace)


def test_an_overlap_after_a_reconnect_is_not_stored_again(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel, small_pages: None
) -> None:
    posts = [mention(bsky, DANA, f"post {n}", minutes=n) for n in range(2)]
    poll(acme_channel)
    acme_channel.refresh_from_db()
    after_first = dict(acme_channel.cursor)
    newer = [mention(bsky, OMAR, f"newer {n}", minutes=5 + n) for n in range(3)]
    poll(acme_channel)
    # a restored cursor (reconnect to an older position): the connector pages back to
    # that mark only, and hands the store nothing it already has
    Channel.objects.filter(pk=acme_channel.pk).update(cursor=after_first)
    bsky.requests.clear()
    outcome = poll(acme_channel)
    assert (outcome.stored, outcome.duplicates) == (0, 3)
    assert len(bsky.requests_to("GET", LIST)) == 3  # two pages back to the mark, then newest
    assert stored(workspace) == sorted(p["uri"] for p in posts + newer)


def test_posts_at_the_same_instant_split_across_polls_are_each_stored_once(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    a = mention(bsky, DANA, "same instant a", minutes=1)
    poll(acme_channel)
    b = mention(bsky, OMAR, "same instant b", minutes=1)
    outcome = poll(acme_channel)
    assert (outcome.stored, outcome.duplicates) == (1, 0)
    assert stored(workspace) == sorted([a["uri"], b["uri"]])
    acme_channel.refresh_from_db()
    assert acme_channel.cursor["seen"]["uris"] == sorted([a["uri"], b["uri"]])


def test_recorded_hostile_notifications_are_stored_exactly(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    payload = fixture_json("notifications_hostile.json")
    for notification in payload["notifications"]:
        bsky.accounts[ACME_DID].notifications.append(notification)
    outcome = poll(acme_channel)
    assert outcome.stored == 3
    assert texts(workspace) == {n["record"]["text"] for n in payload["notifications"]}


def test_an_expired_access_token_is_refreshed_once(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    mention(bsky, DANA, "first", minutes=0)
    poll(acme_channel)
    bsky.expire_access_tokens()
    mention(bsky, DANA, "second", minutes=1)
    outcome = poll(acme_channel)
    assert (outcome.stored, outcome.error) == (1, "")
    assert len(bsky.requests_to("POST", "createSession")) == 1
    assert len(bsky.requests_to("POST", "refreshSession")) == 1
    first, expired, refreshed = (r.headers["authorization"] for r in bsky.requests_to("GET", LIST))
    assert first == expired != refreshed  # the expired token is renewed, then reused


def test_revoked_tokens_log_in_again(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    poll(acme_channel)
    bsky.tokens.clear()  # the PDS forgot every session
    mention(bsky, DANA, "after restart", minutes=1)
    assert poll(acme_channel).stored == 1
    assert len(bsky.requests_to("POST", "createSession")) == 2


@pytest.mark.parametrize("status", [429, 502])
def test_a_failed_poll_stores_nothing_and_keeps_the_cursor(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel, status: int
) -> None:
    mention(bsky, DANA, "waiting", minutes=0)
    bsky.fail_next(status, path=LIST, headers={"ratelimit-reset": "1893456000"})
    outcome = poll(acme_channel)
    assert (outcome.stored, outcome.pages) == (0, 0)
    acme_channel.refresh_from_db()
    assert acme_channel.cursor == {}
    assert str(status) in acme_channel.last_error
    assert poll(acme_channel).stored == 1


def test_wrong_app_password_is_a_clear_error(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    bsky.accounts[ACME_DID].password = "rotated"
    mention(bsky, DANA, "unseen", minutes=0)
    outcome = poll(acme_channel)
    assert "401" in outcome.error and "Invalid identifier or password" in outcome.error
    assert not InboundEvent.objects.exists()


def test_credentials_of_another_account_are_refused(
    workspace: Workspace, bsky: BlueskyStandIn
) -> None:
    channel = connect(workspace, bsky, did=ACME_DID, handle=GLOBEX_HANDLE, password=GLOBEX_PASSWORD)
    mention(bsky, DANA, "for acme", minutes=0, brand=GLOBEX_DID)
    outcome = poll(channel)
    assert outcome.error == (
        f"the credentials log in as {GLOBEX_DID}, not the channel's {ACME_DID}"
    )
    assert not InboundEvent.objects.exists()


def test_an_unreadable_cursor_is_reported(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    Channel.objects.filter(pk=acme_channel.pk).update(cursor={"seen": "garbage"})
    outcome = poll(acme_channel)
    assert outcome.error.startswith("unreadable Bluesky cursor")
    assert bsky.requests == []


def test_two_workspaces_never_mix(
    workspace: Workspace,
    other_workspace: Workspace,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    acme_post = mention(bsky, DANA, "@acme my dryer", minutes=0)
    globex_post = mention(bsky, OMAR, "@globex my router", minutes=0, brand=GLOBEX_DID)
    polling.poll_all()
    assert stored(workspace) == [acme_post["uri"]]
    assert stored(other_workspace) == [globex_post["uri"]]
    tokens = {r.headers["authorization"] for r in bsky.requests_to("GET", LIST)}
    assert len(tokens) == 2


def test_a_bad_configuration_connects_nothing(workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match="plain http only on loopback"):
        create_channel(
            workspace=workspace,
            kind="bluesky",
            name="<script>alert(1)</script>",
            config={"did": ACME_DID, "service_url": "http://pds.example.com"},
            credentials={"identifier": "x", "app_password": "y"},
        )
    assert not Channel.objects.exists()
