from typing import Any

import pytest

from fairdesk.connectors.meta import adapter
from fairdesk.connectors.meta.tests.conftest import (
    IG_ACCOUNT_ID,
    PAGE_ID,
    fixture_json,
    signature,
)
from fairdesk.inbound.interchange import InterchangeMessage

SECRET = "6f1d2c0b9a8e7d6c5b4a3f2e1d0c9b8a"


def parse(name: str) -> list[dict[str, Any]]:
    return adapter.parse(
        fixture_json(name),
        page_id=PAGE_ID,
        instagram_account_id=IG_ACCOUNT_ID,
        page_name="Acme Support",
        instagram_username="@acmesupport",
    )


def author(external_id: str, handle: str = "", display_name: str = "") -> dict[str, Any]:
    return {
        "external_id": external_id,
        "handle": handle,
        "display_name": display_name,
        "followers": None,
        "email": None,
        "phone": None,
    }


def test_signature_accepted_rejected_missing_tampered() -> None:
    body = b'{"object":"page","entry":[]}'
    good = signature(SECRET, body)

    assert adapter.verify_signature(SECRET, body, good) is True
    assert adapter.verify_signature(SECRET, body, good.upper().replace("SHA256", "sha256")) is True
    assert adapter.verify_signature(SECRET, body, None) is False
    assert adapter.verify_signature(SECRET, body, "") is False
    assert adapter.verify_signature(SECRET, body, good.removeprefix("sha256=")) is False
    assert adapter.verify_signature(SECRET, body, signature("other", body)) is False
    assert adapter.verify_signature(SECRET, body + b" ", good) is False
    assert adapter.verify_signature("", body, signature("", body)) is False


@pytest.mark.parametrize(
    ("configured", "mode", "token", "expected"),
    [
        ("tok", "subscribe", "tok", True),
        ("tok", "subscribe", "tok2", False),
        ("tok", "unsubscribe", "tok", False),
        ("", "subscribe", "", False),
    ],
)
def test_verify_subscription(configured: str, mode: str, token: str, expected: bool) -> None:
    assert adapter.verify_subscription(configured, mode, token) is expected


def test_page_comment_is_public_facebook_reply_to_the_post() -> None:
    assert parse("page_comment.json") == [
        {
            "channel": "facebook",
            "external_id": "220000000000001_330000000000001",
            "direction": "inbound",
            "visibility": "public",
            "created_at": "2026-11-02T09:14:00Z",
            "author": author("6100000000000001", display_name="Dana Whitfield"),
            "text": "My DX-300 dryer stopped heating again, order 55812. Anyone there?",
            "in_reply_to": "104200000000001_220000000000001",
            "brand_handle": "Acme Support",
            "entitlement": None,
        }
    ]


def test_messenger_message_is_private_messenger() -> None:
    [record] = parse("messenger_message.json")

    assert record["channel"] == "messenger"
    assert record["external_id"].startswith("m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM")
    assert (record["direction"], record["visibility"]) == ("inbound", "private")
    assert record["created_at"] == "2026-11-02T09:25:00Z"
    assert record["author"] == author("6100000000000001")
    assert record["text"] == "Hi, order 55812, the dryer is the DX-300."
    assert record["in_reply_to"] is None


def test_messenger_echo_is_the_pages_outbound_reply() -> None:
    [record] = parse("messenger_echo.json")

    assert (record["channel"], record["external_id"]) == (
        "messenger",
        "m_1457764197618_41d102a3e1ae206a38",
    )
    assert (record["direction"], record["visibility"]) == ("outbound", "private")
    assert record["author"]["external_id"] == PAGE_ID
    assert record["brand_handle"] == "Acme Support"


def test_instagram_comment_and_dm() -> None:
    [comment] = parse("instagram_comment.json")
    [dm] = parse("instagram_dm.json")

    assert comment == {
        "channel": "instagram",
        "external_id": "17865799348089039",
        "direction": "inbound",
        "visibility": "public",
        "created_at": "2026-11-02T09:33:20Z",
        "author": author("17841455500000001", handle="@lena.k"),
        "text": "Does the DX-300 come in white?",
        "in_reply_to": "17895695668004550",
        "brand_handle": "@acmesupport",
        "entitlement": None,
    }
    assert (dm["channel"], dm["external_id"], dm["visibility"], dm["direction"]) == (
        "instagram",
        "dm-aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx",
        "private",
        "inbound",
    )
    assert dm["author"]["external_id"] == "6100000000000777"


def test_every_event_of_every_entry_is_parsed_and_others_ignored() -> None:
    records = parse("multi_event_entry.json")

    # Two messages and one comment; the read receipt and the reaction are ignored.
    assert [(r["channel"], r["external_id"], r["in_reply_to"]) for r in records] == [
        ("messenger", "m_multi_0000000000000001", None),
        ("messenger", "m_multi_0000000000000002", None),
        ("facebook", "220000000000002_330000000000009", "220000000000002_330000000000008"),
    ]


def test_hostile_text_is_kept_verbatim_for_escaping_where_shown() -> None:
    [record] = parse("hostile_comment.json")

    assert record["text"].startswith("<script>document.location=")
    assert "\r\nX-Injected: yes" in record["text"]
    # ShortText strips only surrounding whitespace; the CRLF stays as data, never a header.
    assert record["author"]["display_name"] == (
        "Mallory\r\nBcc: all@example.com<script>alert(1)</script>"
    )
    assert InterchangeMessage.model_validate(record).text == record["text"]


def test_entries_of_another_account_and_unknown_objects_are_skipped() -> None:
    payload = fixture_json("page_comment.json")
    payload["entry"][0]["id"] = "104200000000999"

    assert adapter.parse(payload, page_id=PAGE_ID) == []
    assert adapter.parse({"object": "user", "entry": [{"id": PAGE_ID}]}, page_id=PAGE_ID) == []
    # No Instagram account configured: Instagram deliveries are not this channel's.
    assert adapter.parse(fixture_json("instagram_comment.json"), page_id=PAGE_ID) == []


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ([], "payload is not a JSON object"),
        ({"object": "page", "entry": {"id": PAGE_ID}}, "entry is not a list of objects"),
        (
            {"object": "page", "entry": [{"id": PAGE_ID, "messaging": [{"message": {}}]}]},
            "malformed event: KeyError 'sender'",
        ),
    ],
)
def test_malformed_payloads_raise(payload: Any, error: str) -> None:
    with pytest.raises(adapter.PayloadError) as raised:
        adapter.parse(payload, page_id=PAGE_ID)

    assert str(raised.value) == error


def test_timestamps_seconds_milliseconds_and_iso() -> None:
    expected = "2026-11-02T09:14:00+00:00"

    assert adapter.timestamp(1793610840).isoformat() == expected
    assert adapter.timestamp(1793610840000).isoformat() == expected
    assert adapter.timestamp("1793610840").isoformat() == expected
    assert adapter.timestamp("2026-11-02T09:14:00+0000").isoformat() == expected
    with pytest.raises(ValueError):
        adapter.timestamp(True)
