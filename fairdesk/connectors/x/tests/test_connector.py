"""The X connector's pure parts: X's character counting, comparing our text with X's copy,
v2 tweets as interchange records, reply targets, configuration, and the stand-in's auth."""

from typing import Any

import httpx
import pytest

from fairdesk.connectors.base import (
    Account,
    OutboundRequest,
    PermanentSendError,
    Recipient,
)
from fairdesk.connectors.config import ConfigError, XConfig, validate_config
from fairdesk.connectors.models import Channel
from fairdesk.connectors.payloads import PayloadError
from fairdesk.connectors.x import adapter
from fairdesk.connectors.x.connector import (
    CONNECTOR,
    comparable,
    mention_records,
    weighted_length,
)
from fairdesk.connectors.x.tests.accounts import ACME_TOKEN, DANA_ID, running_x
from fairdesk.connectors.x.tests.conftest import BRAND_ID, fixture_json

PAGE = "mentions_page.json"


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("Hello, world!", 13),
        ("café", 4),
        ("cafe\u0301", 4),  # NFD input is normalised to NFC first
        ("申し訳ございません", 18),  # CJK counts 2
        ("한국어", 6),
        ("«quote» — ok", 12),  # Latin-1 and the dashes of general punctuation count 1
        ("…", 2),  # U+2026 is outside twitter-text's single-weight ranges
        ("👾", 2),
        ("🙋🏽", 2),  # skin tone modifier
        ("👨\u200d🎤", 2),  # ZWJ sequence
        ("👨\u200d👩\u200d👧\u200d👦", 2),
        ("🇯🇵🇫🇷", 4),  # two flags
        ("1\ufe0f\u20e3", 2),  # keycap
        ("https://example.com", 23),
        ("see https://example.com/very/long/path?with=query&and=more ok", 4 + 23 + 3),
        ("www.example.com/a", 23),
        ("a" * 280, 280),
    ],
)
def test_weighted_length_counts_as_x_documents(text: str, length: int) -> None:
    assert weighted_length(text) == length


def test_comparable_undoes_what_x_does_to_a_posted_text() -> None:
    ours = "@dana_w Tom & Jerry <fixed> it, see https://acme.example/help/123 ^JC"
    theirs = "@dana_w Tom &amp; Jerry &lt;fixed&gt; it, see https://t.co/Ab12Cd34Ef ^JC"
    assert comparable(ours) == comparable(theirs) == "Tom & Jerry <fixed> it, see <url> ^JC"
    assert comparable("Thanks ^JC") != comparable("Thanks ^SO")


def test_a_mention_page_becomes_webhook_shaped_records() -> None:
    records = mention_records(
        fixture_json(PAGE), brand_user_id=BRAND_ID, brand_handle="@AcmeSupport"
    )

    assert records == [
        {
            "channel": "x",
            "external_id": "1849100000000000204",
            "direction": "outbound",
            "visibility": "public",
            "created_at": "2026-11-03T10:05:00Z",
            "author": {
                "external_id": BRAND_ID,
                "handle": "@AcmeSupport",
                "display_name": "Acme Support",
                "followers": 48210,
                "email": None,
                "phone": None,
            },
            "text": "@dana_w @AcmeSupport Glad it works again, Dana! Anything else, just ask. ^JC",
            "in_reply_to": "1849100000000000203",
            "brand_handle": "@AcmeSupport",
            "entitlement": None,
        },
        {
            "channel": "x",
            "external_id": "1849100000000000203",
            "direction": "inbound",
            "visibility": "public",
            "created_at": "2026-11-03T10:02:00Z",
            "author": {
                "external_id": DANA_ID,
                "handle": "@dana_w",
                "display_name": "Dana Whitfield",
                "followers": 1200,
                "email": None,
                "phone": None,
            },
            "text": "@AcmeSupport the technician fixed it & was lovely <3",
            "in_reply_to": "1849100000000000002",
            "brand_handle": "@AcmeSupport",
            "entitlement": None,
        },
        # the retweet (…202) is left out, as the webhook parser leaves retweets out
        {
            "channel": "x",
            "external_id": "1849100000000000201",
            "direction": "inbound",
            "visibility": "public",
            "created_at": "2026-11-03T09:30:00Z",
            "author": {  # not in includes (suspended, protected): the id is all we know
                "external_id": "7700000001",
                "handle": "",
                "display_name": "",
                "followers": None,
                "email": None,
                "phone": None,
            },
            "text": fixture_json(PAGE)["data"][3]["note_tweet"]["text"].replace("&amp;", "&"),
            "in_reply_to": None,
            "brand_handle": "@AcmeSupport",
            "entitlement": None,
        },
    ]


def test_a_polled_mention_is_the_same_record_as_its_webhook_delivery() -> None:
    [from_webhook] = adapter.parse(
        fixture_json("tweet_mention.json"), brand_user_id=BRAND_ID, brand_handle="@AcmeSupport"
    )
    event = fixture_json("tweet_mention.json")["tweet_create_events"][0]
    page = {
        "data": [
            {
                "id": event["id_str"],
                "text": event["text"],
                "author_id": event["user"]["id_str"],
                "created_at": "2026-11-02T09:14:00.000Z",
                "conversation_id": event["id_str"],
                "edit_history_tweet_ids": [event["id_str"]],
            }
        ],
        "includes": {
            "users": [
                {
                    "id": event["user"]["id_str"],
                    "name": event["user"]["name"],
                    "username": event["user"]["screen_name"],
                    "public_metrics": {"followers_count": event["user"]["followers_count"]},
                }
            ]
        },
    }

    assert mention_records(page, brand_user_id=BRAND_ID, brand_handle="@AcmeSupport") == [
        from_webhook
    ]


@pytest.mark.parametrize(
    ("page", "error"),
    [
        ({"data": {"id": "1"}}, "data is not a list of objects"),
        ({"data": [{"id": "1", "text": "hi"}]}, "malformed tweet: KeyError 'author_id'"),
        (
            {"data": [{"id": "12abc", "text": "hi", "author_id": "5", "created_at": "x"}]},
            "not a tweet id: '12abc'",
        ),
        (
            {"data": [{"id": "12", "text": "hi", "author_id": "5", "created_at": "yesterday"}]},
            "invalid event: created_at",
        ),
        ({"includes": ["users"]}, "includes is not an object"),
    ],
)
def test_a_page_of_the_wrong_shape_is_refused(page: dict[str, Any], error: str) -> None:
    with pytest.raises(PayloadError, match=error.replace("(", r"\(")):
        mention_records(page, brand_user_id=BRAND_ID, brand_handle=None)


def test_api_base_is_validated_and_defaults_to_x() -> None:
    assert validate_config("x", {"brand_user_id": "1"}) == {
        "brand_user_id": "1",
        "brand_handle": "",
        "api_base": "https://api.x.com",
        "authorize_base": "https://x.com",
    }
    assert XConfig.model_validate({"brand_user_id": "1", "api_base": "http://127.0.0.1:8123"})
    for bad in (
        "ftp://api.x.com",
        "javascript:alert(1)",
        "https://api.x.com/2?x=1",
        "https://user@evil.example",
        "api.x.com",
    ):
        with pytest.raises(ConfigError, match="invalid x configuration"):
            validate_config("x", {"brand_user_id": "1", "api_base": bad})


def account(api_base: str = "https://api.x.com", token: str = ACME_TOKEN) -> Account:
    channel = Channel(kind="x", name="@AcmeSupport", workspace_id=1)
    config = XConfig(brand_user_id=BRAND_ID, api_base=api_base)
    return Account(channel=channel, config=config, credentials={"access_token": token})


def test_a_private_reply_needs_the_customers_x_account() -> None:
    for recipient in (None, Recipient(external_id="u-imported")):
        request = OutboundRequest(
            idempotency_key="k", text="Hi ^JC", visibility="private", recipient=recipient
        )
        with pytest.raises(PermanentSendError, match="needs the customer's X account"):
            CONNECTOR.send(account(), request)
        assert CONNECTOR.find_sent(account(), request) is None


def test_a_dm_over_ten_thousand_characters_is_refused() -> None:
    request = OutboundRequest(
        idempotency_key="k",
        text="x" * 10_001,
        visibility="private",
        recipient=Recipient(external_id=DANA_ID),
    )
    with pytest.raises(PermanentSendError, match="at most 10,000 characters"):
        CONNECTOR.send(account(), request)


def test_a_public_message_without_a_target_is_a_plain_tweet() -> None:
    with running_x() as api:
        CONNECTOR.send(
            account(api.url),
            OutboundRequest(idempotency_key="k", text="Service update ^JC", visibility="public"),
        )
        [request] = api.requests_to("POST", r"^/2/tweets$")
    assert request.json() == {"text": "Service update ^JC"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/2/tweets"),
        ("POST", f"/2/dm_conversations/with/{DANA_ID}/messages"),
        ("GET", f"/2/users/{BRAND_ID}/tweets"),
        ("GET", f"/2/users/{BRAND_ID}/mentions"),
        ("GET", f"/2/dm_conversations/with/{DANA_ID}/dm_events"),
    ],
)
def test_the_stand_in_refuses_a_wrong_bearer_token(method: str, path: str) -> None:
    with running_x() as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ACME_TOKEN}):
            response = httpx.request(
                method, api.url + path, headers=headers, json={"text": "hi"}, timeout=5
            )
            assert response.status_code == 401
            assert response.json()["title"] == "Unauthorized"
        assert api.tweets == [] and api.dm_events == []


def test_the_stand_in_pages_like_x_and_refuses_a_bad_page_size() -> None:
    with running_x() as api:
        ids = [api.add_tweet(author_id=DANA_ID, text=f"@AcmeSupport n{n}").id for n in range(7)]
        auth = {"Authorization": f"Bearer {ACME_TOKEN}"}
        url = f"{api.url}/2/users/{BRAND_ID}/mentions"
        first = httpx.get(url, params={"max_results": 5}, headers=auth, timeout=5).json()
        token = first["meta"]["next_token"]
        rest = httpx.get(
            url, params={"max_results": 5, "pagination_token": token}, headers=auth, timeout=5
        ).json()
        too_many = httpx.get(url, params={"max_results": 101}, headers=auth, timeout=5)
    assert [t["id"] for t in first["data"]] == ids[:1:-1]
    assert first["meta"] == {
        "result_count": 5,
        "next_token": token,
        "newest_id": ids[6],
        "oldest_id": ids[2],
    }
    assert [t["id"] for t in rest["data"]] == [ids[1], ids[0]]
    assert "next_token" not in rest["meta"]
    assert too_many.status_code == 400
    assert too_many.json()["detail"] == "max_results must be between 5 and 100"
