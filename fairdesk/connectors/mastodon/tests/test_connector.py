"""The connector's pure parts: configuration, the cursor walk, addressing and counting."""

from datetime import UTC, datetime
from typing import Any

import pytest

from fairdesk.connectors.base import OutboundRequest, Recipient
from fairdesk.connectors.config import ConfigError
from fairdesk.connectors.mastodon import connector
from fairdesk.connectors.mastodon.connector import MastodonConfig
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

GOOD = {"instance_url": "https://Social.Acme.example/", "account_id": "109", "acct": "@AcmeSupport"}


def test_configuration_is_normalised(workspace: Workspace) -> None:
    channel = create_channel(workspace=workspace, kind="mastodon", name="Acme", config=GOOD)

    assert channel.config == {
        "instance_url": "https://social.acme.example",
        "account_id": "109",
        "acct": "AcmeSupport",
        "streaming_url": "",
        "max_characters": None,
    }
    config = MastodonConfig.model_validate(channel.config)
    assert (config.handle, config.stream_base) == ("@AcmeSupport", "https://social.acme.example")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8123",
        "http://localhost:8000",
        "http://[::1]:9000",
        "https://m.example:8443",
    ],
)
def test_https_or_loopback_http_instances_are_accepted(url: str) -> None:
    assert MastodonConfig.model_validate({**GOOD, "instance_url": url}).instance_url == url


def test_a_streaming_host_may_be_given_as_the_instance_names_it() -> None:
    config = MastodonConfig.model_validate(
        {**GOOD, "streaming_url": "wss://streaming.acme.example"}
    )

    assert config.stream_base == "https://streaming.acme.example"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"instance_url": "http://social.acme.example"}, "must use https"),
        ({"instance_url": "http://10.0.0.8"}, "must use https"),
        ({"instance_url": "ftp://social.acme.example"}, "https://"),
        ({"instance_url": "https://social.acme.example/api"}, "address only"),
        ({"instance_url": "https://user:pw@social.acme.example"}, "address only"),
        ({"instance_url": "https://social.acme.example/?x=1"}, "address only"),
        ({"streaming_url": "http://stream.acme.example"}, "must use https"),
        ({"streaming_url": "ws://stream.acme.example"}, "must use https"),
        ({"account_id": "12a"}, "pattern"),
        ({"acct": "Acme Support"}, "pattern"),
        ({"acct": "acme\r\nsupport"}, "pattern"),
        ({"webhook": "x"}, "Extra inputs"),
    ],
)
def test_bad_configuration_is_refused_and_nothing_stored(
    workspace: Workspace, change: dict[str, str], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        create_channel(workspace=workspace, kind="mastodon", name="Acme", config={**GOOD, **change})

    assert not Channel.objects.exists()


def test_the_first_poll_takes_only_the_newest_page() -> None:
    assert connector.next_cursor({}, ["30", "29"], "29") == ({"since_id": "30"}, False)
    assert connector.next_cursor({}, [], None) == ({}, False)


def test_a_page_above_the_cursor_starts_a_walk_back_that_keeps_since_id() -> None:
    first, more = connector.next_cursor({"since_id": "10"}, ["90", "51"], "51")
    assert (first, more) == ({"since_id": "10", "max_id": "51", "newest": "90"}, True)
    assert connector.walking(first)

    second, more = connector.next_cursor(first, ["50", "11"], None)
    assert (second, more) == ({"since_id": "10", "max_id": "11", "newest": "90"}, True)

    done, more = connector.next_cursor(second, [], None)
    assert (done, more) == ({"since_id": "90"}, False)
    assert not connector.walking(done)
    assert connector.next_cursor(done, [], None) == ({"since_id": "90"}, False)


@pytest.mark.parametrize(
    ("cursor", "streamed", "after"),
    [
        ({}, "7", {"since_id": "7"}),
        ({"since_id": "99"}, "100", {"since_id": "100"}),
        ({"since_id": "100"}, "99", {"since_id": "100"}),
        (
            {"since_id": "5", "max_id": "40", "newest": "90"},
            "91",
            {"since_id": "5", "max_id": "40", "newest": "91"},
        ),
    ],
)
def test_a_streamed_notification_only_ever_moves_the_cursor_up(
    cursor: dict[str, Any], streamed: str, after: dict[str, Any]
) -> None:
    assert connector.after_streamed(cursor, streamed) == after


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("plain", 5),
        ("@dana_w@mastodon.example hi", 10),
        ("see https://example.com/" + "x" * 200 + " now", 4 + 23 + 4),
        ("@sam_k thanks \U0001f64f", 15),
    ],
)
def test_length_is_counted_like_mastodon(text: str, length: int) -> None:
    assert connector.countable_length(text) == length


def request(text: str, handle: str = "@dana_w@mastodon.example") -> OutboundRequest:
    recipient = Recipient(external_id="1", handle=handle) if handle else None
    return OutboundRequest(idempotency_key="k", text=text, visibility="public", recipient=recipient)


@pytest.mark.parametrize(
    ("text", "handle", "sent"),
    [
        ("On it ^JC", "@dana_w@mastodon.example", "@dana_w@mastodon.example On it ^JC"),
        ("@Dana_W@mastodon.example on it", "@dana_w@mastodon.example", None),
        ("@dana_w@mastodon.exampled hi", "@dana_w@mastodon.example", "@dana_w@mastodon.example "),
        ("On it", "@sam_k", "@sam_k On it"),
        ("On it", "", "On it"),
        ("On it", "@evil\r\nBcc: x", "On it"),
        ("On it", "dana", "On it"),
    ],
)
def test_replies_are_addressed_to_the_customer(text: str, handle: str, sent: str | None) -> None:
    found = connector.addressed(text, connector.recipient_handle(request(text, handle)))

    if sent is None:
        assert found == text
    else:
        assert found.startswith(sent)
        assert found.endswith(text)


def test_rate_limit_reset_is_an_iso_time() -> None:
    assert connector.rate_limit_reset({"x-ratelimit-reset": "2030-01-01T00:05:00.123456Z"}) == (
        datetime(2030, 1, 1, 0, 5, 0, 123456, tzinfo=UTC)
    )
    assert connector.rate_limit_reset({"x-ratelimit-reset": "1893456000"}) is None
    assert connector.rate_limit_reset({}) is None


def test_idempotency_keys_travel_as_they_are_unless_a_header_cannot_carry_them() -> None:
    assert connector.idempotency_header("reply-6f1d2c0b") == "reply-6f1d2c0b"
    hashed = connector.idempotency_header("clé\r\nX: y")
    assert len(hashed) == 64 and hashed == connector.idempotency_header("clé\r\nX: y")
