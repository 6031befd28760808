"""Real-world e-mail (``fixtures/*.eml``) → interchange records and attachments."""

import hashlib
from datetime import UTC, datetime

import pytest

from fairdesk.connectors.email import adapter, htmltext
from fairdesk.connectors.email.tests.conftest import ACME, eml
from fairdesk.inbound.interchange import MAX_TEXT_CHARS

NOW = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
DANA_ID = "<4f1c2a77-9d3e-4b8a-a1f0-6c2e5d9b1a10@example.net>"


def parse(name: str, **options: object) -> adapter.Mail:
    return adapter.parse(eml(name), address=ACME, now=NOW, **options)  # type: ignore[arg-type]


def dana(display_name: str = "Dana Whitfield") -> dict[str, object]:
    address = "dana.whitfield@example.net"
    return {
        "external_id": address,
        "handle": address,
        "display_name": display_name,
        "followers": None,
        "email": address,
        "phone": None,
    }


def test_multipart_alternative_is_read_from_its_plain_part() -> None:
    mail = parse("alternative.eml")

    assert mail.record == {
        "channel": "email",
        "external_id": DANA_ID,
        "direction": "inbound",
        "visibility": "private",
        "created_at": "2026-11-02T09:14:00Z",
        "author": dana(),
        "text": "Hello,\n\nmy DX-300 dryer stopped heating again. Order 55812.\n\nDana",
        "in_reply_to": None,
        "brand_handle": ACME,
        "entitlement": None,
        "subject": "DX-300 dryer stopped heating again (order 55812)",
    }
    assert mail.attachments == ()


def test_html_only_mail_becomes_sanitised_text() -> None:
    record = parse("html_only.eml").record

    assert record["text"] == (
        "Please check my invoice and the order page <https://example.org/orders/55812>.\n\n"
        "Line two & more <b>not bold</b>\n\n- first\n- second"
    )
    for hostile in ("alert", "javascript:", "onerror", "onload", "document.cookie", "Phish"):
        assert hostile not in record["text"]
    # names and subjects are text: kept as written, escaped wherever shown
    assert record["author"]["display_name"] == "Mallory <script>alert(1)</script>"
    assert record["subject"] == "Invoice <script>alert(1)</script>"


def test_sanitising_keeps_structure_and_safe_links_only() -> None:
    html = (
        '<p onclick="x()">Hi <a href="javascript:alert(1)">a</a> <a href="https://ok.test/">b</a>'
        '<img src=x onerror="alert(2)"><script>alert(3)</script><style>p{}</style></p>'
    )
    assert htmltext.sanitise(html) == '<p>Hi <a>a</a> <a href="https://ok.test/">b</a></p>'


@pytest.mark.parametrize(
    ("name", "display_name", "subject", "text"),
    [
        (
            "latin1.eml",
            "Jürgen Müller",
            "Rückerstattung für Bestellung 55812 \u2013 bitte",
            "Grüße aus Köln,\nder Trockner heizt nicht mehr. Bestellung 55812.\nJürgen",
        ),
        (
            "iso2022jp.eml",
            "山田太郎",
            "乾燥機の故障",
            "乾燥機が動きません。\n注文番号は55812です。",
        ),
        # an unknown charset and raw 8-bit headers: UTF-8 where valid, else Windows-1252
        ("unknown_charset.eml", "Chloé Martin", "Café machine", "La machine à café fuit."),
    ],
)
def test_non_utf8_charsets_are_decoded(
    name: str, display_name: str, subject: str, text: str
) -> None:
    record = parse(name).record
    assert (record["author"]["display_name"], record["subject"], record["text"]) == (
        display_name,
        subject,
        text,
    )


def test_malformed_headers_are_read_leniently() -> None:
    record = parse("malformed.eml").record

    assert record["author"] == dana(display_name="")
    assert record["external_id"] == "<bare-id-1234@example.net>"
    assert record["in_reply_to"] == DANA_ID
    assert record["subject"] == "Heater broken again"
    assert record["created_at"] == "2026-11-03T08:00:00Z"  # unreadable Date: polling time
    assert record["text"] == "still broken"


def test_encoded_crlf_in_names_and_subjects_stays_on_one_line() -> None:
    record = parse("encoded_crlf.eml").record

    assert record["author"]["display_name"] == "Dana Bcc: evil@x.test"
    assert record["subject"] == "Refund please Bcc: evil@x.test"
    assert record["text"] == "=SUM(A1:A9) please refund order 55812."


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("auto_reply.eml", "auto-reply (Auto-Submitted: auto-replied)"),
        ("bulk.eml", "automatic (Precedence: bulk)"),
        ("bounce.eml", "auto-reply (Auto-Submitted: auto-replied)"),
        ("report_without_auto_submitted.eml", "delivery report (multipart/report)"),
    ],
)
def test_automatic_mail_is_not_customer_mail(name: str, reason: str) -> None:
    with pytest.raises(adapter.NotCustomerMail) as skipped:
        parse(name)
    assert str(skipped.value) == reason


def test_mail_without_a_sender_address_is_not_customer_mail() -> None:
    raw = b"From: undisclosed-recipients:;\r\nSubject: hi\r\n\r\nbody\r\n"
    with pytest.raises(adapter.NotCustomerMail, match="no usable sender address"):
        adapter.parse(raw, address=ACME, now=NOW)


def test_a_message_without_message_id_gets_a_stable_id_from_its_bytes() -> None:
    raw = eml("no_message_id.eml")
    first = adapter.parse(raw, address=ACME, now=NOW).record["external_id"]
    digest = hashlib.sha256(raw).hexdigest()[:40]

    assert first == f"<{digest}@no-message-id.invalid>"
    assert adapter.parse(raw, address=ACME, now=NOW).record["external_id"] == first
    other = adapter.parse(raw + b"P.S.\n", address=ACME, now=NOW).record["external_id"]
    assert other != first


def test_in_reply_to_falls_back_to_the_last_reference() -> None:
    assert parse("references_only.eml").record["in_reply_to"] == "<reply-from-webmail-77@acme.test>"


def test_mail_from_the_support_address_is_the_brands() -> None:
    record = parse("from_support.eml").record

    assert (record["direction"], record["author"]["external_id"]) == ("outbound", ACME)
    assert record["in_reply_to"] == DANA_ID


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@x.test>", "<abc@x.test>"),
        ("  <abc@x.test> (comment) <def@x.test>", "<abc@x.test>"),
        ("abc@x.test", "<abc@x.test>"),
        ("not an id", None),
        ("", None),
        ("<a@b>\r\nBcc: evil@x.test", "<a@b>"),
        ("<" + "x" * 300 + "@long.test>", None),  # replaced by its hash, checked below
    ],
)
def test_message_ids_are_normalised(value: str, expected: str | None) -> None:
    found = adapter.message_id(value)
    if len(value) > 300:
        digest = hashlib.sha256(value.encode()).hexdigest()[:40]
        assert found == f"<{digest}@long-message-id.invalid>"
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Mon, 2 Nov 2026 10:14:00 +0100", "2026-11-02T09:14:00Z"),
        ("Mon, 2 Nov 2026 09:14:00 -0000", "2026-11-02T09:14:00Z"),
        ("Fri, 1 Jan 2100 00:00:00 +0000", "2026-11-03T08:00:00Z"),  # future: now
        ("", "2026-11-03T08:00:00Z"),
    ],
)
def test_created_at_comes_from_the_date_header(date: str, expected: str) -> None:
    raw = f"From: a@b.test\r\nDate: {date}\r\nMessage-ID: <d@b.test>\r\n\r\nhi\r\n".encode()
    assert adapter.parse(raw, address=ACME, now=NOW).record["created_at"] == expected


def test_attachments_are_extracted_with_safe_names() -> None:
    mail = parse("attachments.eml")

    assert mail.record["text"] == "Photos and the invoice attached."
    assert [(p.filename, p.content_type, len(p.data)) for p in mail.attachments] == [
        ("invoice-55812.pdf", "application/pdf", 73),
        ("Küche foto.png", "image/png", 69),
        ("evil.html", "text/html", 73),
        ("abSet-Cookie x=1.txt", "application/octet-stream", 12),
        ("attachment.eml", "message/rfc822", 216),
    ]
    assert mail.attachments[0].data.startswith(b"%PDF-1.4")
    assert b"Subject: My first mail about the dryer" in mail.attachments[4].data


def test_attachments_over_the_caps_are_named_in_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "MAX_ATTACHMENT_BYTES", 72)
    monkeypatch.setattr(adapter, "MAX_ATTACHMENTS", 2)

    mail = parse("attachments.eml")

    assert [p.filename for p in mail.attachments] == ["Küche foto.png", "abSet-Cookie x=1.txt"]
    assert mail.record["text"] == (
        "Photos and the invoice attached.\n\n"
        "[Attachment invoice-55812.pdf (0.0 MB) not saved: over the 0.0 MB limit]\n\n"
        "[Attachment evil.html (0.0 MB) not saved: over the 0.0 MB limit]\n\n"
        "[Attachment attachment.eml (0.0 MB) not saved: over 2 files]"
    )


def test_long_text_is_capped_to_what_interchange_accepts() -> None:
    body = ("x" * 99 + "\n") * 300
    raw = f"From: a@b.test\r\nMessage-ID: <long@b.test>\r\n\r\n{body}".encode()
    text = adapter.parse(raw, address=ACME, now=NOW).record["text"]
    assert len(text) == MAX_TEXT_CHARS
    assert text.endswith("\n[… truncated]")


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("report.pdf", "application/pdf", "report.pdf"),
        ("../../etc/passwd", "text/plain", "passwd"),
        ("C:\\Users\\dana\\photo.jpg", "image/jpeg", "photo.jpg"),
        ('a"b<c>|d?.txt', "text/plain", "abcd.txt"),
        ("..", "image/png", "attachment.png"),
        ("", "application/x-unknown-thing", "attachment.bin"),
        ("n" * 200 + ".pdf", "application/pdf", "n" * 146 + ".pdf"),
    ],
)
def test_safe_filename(name: str, content_type: str, expected: str) -> None:
    assert adapter.safe_filename(name, content_type) == expected


def test_text_around_an_inline_image_is_kept_in_order() -> None:
    mail = parse("apple_inline.eml")

    assert mail.record["text"] == (
        "Here is where it makes the noise:\n\nIt only happens when it is heating.\n\nDana"
    )
    assert [(p.filename, p.content_type) for p in mail.attachments] == [("drum.jpg", "image/jpeg")]


def test_an_html_body_keeps_a_plain_footer() -> None:
    assert parse("html_with_footer.eml").record["text"] == (
        "Is the DX-300 sold in white?\n\n--\nSent through the Example Mail mobile app"
    )
