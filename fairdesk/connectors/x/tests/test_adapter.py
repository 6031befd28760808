import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest

from fairdesk.connectors.x import adapter
from fairdesk.connectors.x.tests.conftest import BRAND_ID, fixture_json, signature
from fairdesk.inbound.interchange import InterchangeMessage

SECRET = "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu"
TOKEN = "9b4507b3-9040-4669-9ca3-6b94edb50553"


def parse(name: str) -> list[dict]:
    return adapter.parse(fixture_json(name), brand_user_id=BRAND_ID, brand_handle="@AcmeSupport")


def test_crc_known_answer() -> None:
    digest = hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).digest()
    expected = "sha256=" + base64.b64encode(digest).decode()

    assert adapter.crc_response(SECRET, TOKEN) == {"response_token": expected}
    assert len(base64.b64decode(expected.removeprefix("sha256="))) == 32


def test_signature_accepted_rejected_missing_tampered() -> None:
    body = b'{"for_user_id":"1000000001"}'
    good = signature(SECRET, body)

    assert adapter.verify_signature(SECRET, body, good) is True
    assert adapter.verify_signature(SECRET, body, None) is False
    assert adapter.verify_signature(SECRET, body, "") is False
    assert adapter.verify_signature(SECRET, body, signature("other-secret", body)) is False
    assert adapter.verify_signature(SECRET, body + b" ", good) is False
    assert adapter.verify_signature(SECRET, b'{"for_user_id": "1000000001"}', good) is False
    assert adapter.verify_signature("", body, signature("", body)) is False


def test_customer_mention_is_public_inbound() -> None:
    assert parse("tweet_mention.json") == [
        {
            "channel": "x",
            "external_id": "1849100000000000001",
            "direction": "inbound",
            "visibility": "public",
            "created_at": "2026-11-02T09:14:00Z",
            "author": {
                "external_id": "2244994945",
                "handle": "@dana_w",
                "display_name": "Dana Whitfield",
                "followers": 1200,
                "email": None,
                "phone": None,
            },
            "text": "@AcmeSupport my 3 year old dryer stopped heating again, order 55812. "
            "Can someone help?",
            "in_reply_to": None,
            "brand_handle": "@AcmeSupport",
            "entitlement": None,
        }
    ]


def test_brand_reply_is_outbound_and_answers_the_mention() -> None:
    [reply] = parse("brand_reply.json")

    assert reply["direction"] == "outbound"
    assert reply["visibility"] == "public"
    assert reply["in_reply_to"] == "1849100000000000001"
    assert reply["author"]["external_id"] == BRAND_ID
    assert reply["author"]["followers"] == 48210
    assert reply["brand_handle"] == "@AcmeSupport"
    assert reply["created_at"] == "2026-11-02T09:20:00Z"


def test_direct_message_is_private_with_sender_from_users_map() -> None:
    assert parse("direct_message.json") == [
        {
            "channel": "x",
            "external_id": "dm-1849100000000000101",
            "direction": "inbound",
            "visibility": "private",
            "created_at": "2026-11-02T09:25:00Z",
            "author": {
                "external_id": "2244994945",
                "handle": "@dana_w",
                "display_name": "Dana Whitfield",
                "followers": 1200,
                "email": None,
                "phone": None,
            },
            "text": "Hi, order 55812, the dryer is the DX-300. My email is dana@example.com",
            "in_reply_to": None,
            "brand_handle": "@AcmeSupport",
            "entitlement": None,
        }
    ]


def test_dm_sent_by_the_brand_is_outbound() -> None:
    payload = fixture_json("direct_message.json")
    create = payload["direct_message_events"][0]["message_create"]
    create["sender_id"], create["target"]["recipient_id"] = BRAND_ID, "2244994945"

    [dm] = adapter.parse(payload, brand_user_id=BRAND_ID)

    assert (dm["direction"], dm["visibility"]) == ("outbound", "private")
    assert dm["author"]["handle"] == "@AcmeSupport"


def test_favorite_event_is_ignored() -> None:
    assert parse("favorite_event.json") == []


def test_extended_tweet_uses_full_text() -> None:
    [record] = parse("extended_tweet.json")
    full = fixture_json("extended_tweet.json")["tweet_create_events"][0]["extended_tweet"]

    assert record["text"] == full["full_text"]
    assert record["text"].endswith("I want a replacement, not another visit.")


def test_hostile_text_and_name_are_kept_verbatim_and_validated() -> None:
    [record] = parse("hostile_tweet.json")

    assert record["text"] == (
        "@AcmeSupport <script>alert('pwned')</script>\r\nX-Injected: yes\r\n\r\n"
        "<img src=x onerror=alert(1)>"
    )
    assert record["author"]["display_name"] == "Eve\r\nBcc: victim@example.com <b>"
    assert InterchangeMessage.model_validate(record).text == record["text"]


def test_retweets_are_ignored() -> None:
    payload = fixture_json("tweet_mention.json")
    payload["tweet_create_events"][0]["retweeted_status"] = {"id_str": "1"}

    assert adapter.parse(payload, brand_user_id=BRAND_ID) == []


def test_payload_for_another_account_is_refused() -> None:
    with pytest.raises(adapter.PayloadError, match="for_user_id"):
        adapter.parse(fixture_json("tweet_mention.json"), brand_user_id="1000000999")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p["tweet_create_events"][0].pop("user"), "malformed event"),
        (lambda p: p["tweet_create_events"][0].update(created_at="yesterday"), "malformed"),
        (lambda p: p.update(tweet_create_events={"id": 1}), "not a list"),
        (lambda p: p["tweet_create_events"][0].update(id_str=""), "invalid event"),
    ],
)
def test_malformed_events_raise_payload_error(mutate: Callable[[Any], Any], reason: str) -> None:
    payload = fixture_json("tweet_mention.json")
    mutate(payload)

    with pytest.raises(adapter.PayloadError, match=reason):
        adapter.parse(payload, brand_user_id=BRAND_ID)


def test_non_object_payload_is_refused() -> None:
    with pytest.raises(adapter.PayloadError, match="not a JSON object"):
        adapter.parse([1, 2], brand_user_id=BRAND_ID)
