from collections.abc import Callable
from typing import Any

import pytest

from fairdesk.connectors.mastodon import adapter
from fairdesk.connectors.mastodon.tests.conftest import BRAND_ID, fixture_json, mention
from fairdesk.connectors.payloads import PayloadError
from fairdesk.inbound.interchange import MAX_TEXT_CHARS, InterchangeMessage


def parse(*notifications: Any) -> list[dict[str, Any]]:
    loaded = [fixture_json(n) if isinstance(n, str) else n for n in notifications]
    return adapter.parse_notifications(loaded, account_id=BRAND_ID, brand_handle="@AcmeSupport")


def test_public_mention_is_a_public_inbound_record() -> None:
    assert parse("mention_public.json") == [
        {
            "channel": "mastodon",
            "external_id": "113200000000000001",
            "direction": "inbound",
            "visibility": "public",
            "created_at": "2026-11-02T09:14:00Z",
            "author": {
                "external_id": "109400000000000077",
                "handle": "@dana_w@mastodon.example",
                "display_name": "Dana Whitfield",
                "followers": 1200,
                "email": None,
                "phone": None,
            },
            "text": "@AcmeSupport my dryer stopped heating again, order 55812.\n"
            "Details: https://photos.example/dryer/55812/error-code.jpg\n\n"
            "Can someone help? & thanks",
            "in_reply_to": None,
            "brand_handle": "@AcmeSupport",
            "entitlement": None,
        }
    ]


def test_direct_mention_is_private_and_keeps_emoji() -> None:
    [record] = parse("mention_direct.json")

    assert record["visibility"] == "private"
    assert record["external_id"] == "113200000000000002"
    assert record["created_at"] == "2026-11-02T09:30:00.300000Z"
    assert record["author"] == {
        "external_id": "109000000000000345",
        "handle": "@sam_k",
        "display_name": "Sam \U0001f6b2 K",
        "followers": 87,
        "email": None,
        "phone": None,
    }
    assert record["text"] == "@AcmeSupport my account number is 4411-20, refund please \U0001f64f"


def test_a_reply_to_the_brand_points_at_the_brand_post() -> None:
    [record] = parse("mention_reply.json")

    assert record["in_reply_to"] == "113100000000000009"
    assert record["visibility"] == "public"  # unlisted is still public
    assert record["direction"] == "inbound"


def test_hostile_content_becomes_inert_plain_text() -> None:
    [record] = parse("mention_hostile.json")

    assert record["text"] == (
        "CW: Refund\nrant\n\n"
        '@AcmeSupport =HYPERLINK("http://evil.example")\nX-Injected: yes\n\n'
        "<img src=x onerror=alert(1)> \U0001f525:blobcat:\n\n"
        "[image attached: <b>receipt</b>]"
    )
    assert "alert('pwned')" not in record["text"]
    assert "display:none" not in record["text"]
    assert "\r" not in record["text"]
    # display names are plain text on Mastodon: kept as written, escaped where shown
    assert record["author"]["display_name"] == "Eve\r\nBcc: victim@example.com <b>"
    assert record["author"]["handle"] == "@eve@evil.example"
    assert InterchangeMessage.model_validate(record).text == record["text"]


def test_a_status_by_the_brand_account_is_outbound() -> None:
    record = adapter.status_record(
        fixture_json("brand_status.json"), account_id=BRAND_ID, brand_handle="@AcmeSupport"
    )

    assert record["direction"] == "outbound"
    assert record["author"]["external_id"] == BRAND_ID
    assert record["author"]["handle"] == "@AcmeSupport"
    assert record["in_reply_to"] == "113200000000000001"
    assert record["text"] == (
        "@dana_w Sorry about the dryer! Which part number is on the label? ^JC"
    )


def test_only_mentions_are_read() -> None:
    records = adapter.parse_notifications(
        fixture_json("notifications_mixed.json"), account_id=BRAND_ID, brand_handle="@AcmeSupport"
    )

    assert [r["external_id"] for r in records] == ["113200000000000002", "113200000000000001"]


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("a<br>b<br />c", "a\nb\nc"),
        ("<p>x &amp; y &lt;3 &#39;q&#39; &quot;z&quot;</p>", "x & y <3 'q' \"z\""),
        ("<script>alert(1)</script><p>ok</p>", "ok"),
        ("<p>one\r\ntwo\rthree</p>", "one\ntwo\nthree"),
        ("<p>unclosed <script>document.cookie", "unclosed"),
        ("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", "<script>alert(1)</script>"),
        (
            '<a href="https://x.example/a/b"><span class="invisible">https://</span>'
            '<span class="ellipsis">x.example/a</span><span class="invisible">/b</span></a>',
            "https://x.example/a/b",
        ),
        ("<p>  </p><p></p>", ""),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert adapter.html_to_text(html) == text


def test_oversized_and_odd_values_are_capped_not_refused() -> None:
    notification = mention(1, text="a" * 30_000)
    notification["status"]["account"]["followers_count"] = -1
    notification["status"]["account"]["display_name"] = "D" * 400

    [record] = parse(notification)

    assert len(record["text"]) == MAX_TEXT_CHARS
    assert record["author"]["followers"] is None
    assert record["author"]["display_name"] == "D" * 320


def _drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(notification: dict[str, Any]) -> None:
        target = notification
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_drop("status"), "has no status"),
        (_drop("status", "account"), "malformed status"),
        (_drop("status", "account", "id"), "malformed status"),
        (_drop("status", "id"), "malformed status"),
        (_drop("status", "created_at"), "malformed status"),
        (lambda n: n["status"].update(created_at="2026-11-02T09:14:00"), "created_at"),
        (lambda n: n["status"].update(id=""), "external_id"),
    ],
)
def test_malformed_mentions_are_refused(
    mutate: Callable[[dict[str, Any]], None], reason: str
) -> None:
    notification = fixture_json("mention_public.json")
    mutate(notification)

    with pytest.raises(PayloadError, match=reason):
        parse(notification)


@pytest.mark.parametrize("payload", [{}, "[]", [1, 2], None])
def test_a_payload_that_is_not_a_list_of_notifications_is_refused(payload: Any) -> None:
    with pytest.raises(PayloadError, match="not a list of objects"):
        adapter.parse_notifications(payload, account_id=BRAND_ID, brand_handle="@AcmeSupport")
