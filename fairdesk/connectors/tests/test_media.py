"""Attachment links (Meta's ``payload.url``) are fetched by the media worker, after the
webhook was acknowledged, through the SSRF-safe fetcher, into stored attachments.

A real HTTP server on loopback plays the platform's CDN. The fetcher refuses loopback by
design, so these tests name the CDN's host through an injected resolver and allow its
address explicitly, as ``test_fetch.py`` injects its resolver; one test runs with the
production defaults and shows the same link refused.
"""

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from fairdesk.cases.models import Attachment, Message
from fairdesk.connectors import media
from fairdesk.connectors.meta import adapter
from fairdesk.connectors.meta.tests.conftest import ACME_SECRET, PAGE_ID, fixture_json, signature
from fairdesk.connectors.models import AttachmentFetch, Channel
from fairdesk.connectors.services import create_channel
from fairdesk.connectors.standin import Request, Response, StandIn
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace

MID = "m_AtTaChMeNtS-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978"
CDN_HOST = "scontent.cdn.test"
LABEL = b"\xff\xd8\xff\xe0 a photo of the DX-300 rating label"
RECEIPT = b"%PDF-1.7 receipt 55812"
STICKER = b"\x89PNG sticker"


class Cdn(StandIn):
    """A platform CDN: files by path, with their content types."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, tuple[bytes, str]] = {}
        self.route("GET", r"/v/.+", self.serve)

    def serve(self, request: Request) -> Response:
        found = self.files.get(request.path)
        if found is None:
            return Response(404, b"not found", {"Content-Type": "text/plain"})
        body, content_type = found
        return Response(200, body, {"Content-Type": content_type})


@pytest.fixture
def meta_channel(workspace: Workspace) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="facebook",
        name="Acme Support (Facebook)",
        config={"page_id": PAGE_ID, "page_name": "Acme Support"},
        credentials={"app_secret": ACME_SECRET},
    )


@pytest.fixture
def cdn() -> Iterator[Cdn]:
    with Cdn() as server:
        assert isinstance(server, Cdn)
        server.files = {
            "/v/t1.15752-9/461234567_dryer_label.jpg": (LABEL, "image/jpeg"),
            "/v/t59.2708-21/receipt-55812.pdf": (RECEIPT, "application/pdf; name=receipt"),
            "/v/t39.1997-6/851557_369239266556155_759568595_n.png": (STICKER, "image/png"),
        }
        yield server


def port(cdn: Cdn) -> str:
    return cdn.url.rsplit(":", 1)[1]


def resolver(host: str, _port: int) -> list[str]:
    return ["127.0.0.1"] if host == CDN_HOST else ["93.184.216.34"]  # a public address


def run(**overrides: Any) -> media.MediaOutcome:
    """The media worker as the tests allow it to reach the loopback CDN."""
    options: dict[str, Any] = {"allow": frozenset({"127.0.0.1"}), "resolver": resolver}
    return media.fetch_due(**{**options, **overrides})


def recorded_payload(cdn: Cdn, host: str = CDN_HOST) -> dict[str, Any]:
    """``messenger_attachments.json`` with Meta's CDN hosts pointing at the stand-in."""
    text = json.dumps(fixture_json("messenger_attachments.json"))
    for real in ("https://scontent.xx.fbcdn.net", "https://cdn.fbsbx.com"):
        text = text.replace(real, f"http://{host}:{port(cdn)}")
    payload: dict[str, Any] = json.loads(text)
    return payload


def webhook(channel: Channel, payload: Any) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    response = Client().post(
        f"/webhooks/meta/{channel.public_id}/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature(ACME_SECRET, body)},
    )
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def stored(workspace: Workspace) -> list[tuple[int, str, str, bytes]]:
    return [
        (a.position, a.filename, a.content_type, a.path.read_bytes())
        for a in Attachment.objects.filter(workspace=workspace).order_by("position")
    ]


def test_the_adapter_keeps_only_web_links_of_attachments() -> None:
    [record] = adapter.parse(fixture_json("messenger_attachments.json"), page_id=PAGE_ID)

    assert record["attachments"] == [
        {
            "url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/461234567_dryer_label.jpg"
            "?_nc_cat=1&oh=00_AfB1&oe=6745A1B2",
            "kind": "image",
        },
        {
            "url": "https://cdn.fbsbx.com/v/t59.2708-21/receipt-55812.pdf"
            "?_nc_cat=1&oh=03_Q7cD&oe=6745B2C3",
            "kind": "file",
        },
        {
            "url": "https://scontent.xx.fbcdn.net/v/t39.1997-6/"
            "851557_369239266556155_759568595_n.png",
            "kind": "sticker",
        },
    ]
    assert record["text"] == "[image] [file] [location] [image] [fallback] [sticker]"
    # A message without links or recipient serialises exactly as before (DESIGN §10).
    [plain] = adapter.parse(fixture_json("messenger_message.json"), page_id=PAGE_ID)
    assert "attachments" not in plain and "recipient" not in plain


def test_control_characters_in_a_meta_link_leave_it_out() -> None:
    """A NUL would be refused by PostgreSQL's text columns and fail the whole batch, a CRLF
    could split a request line: such a link is left out, the message is kept."""
    payload = fixture_json("messenger_attachments.json")
    good = "https://scontent.xx.fbcdn.net/v/ok.jpg"
    payload["entry"][0]["messaging"][0]["message"]["attachments"] = [
        {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/a\x00.jpg"}},
        {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/a\r\nX: y"}},
        {"type": "image\x00", "payload": {"url": good}},
        {"type": "image", "payload": {"url": good}},
    ]
    [record] = adapter.parse(payload, page_id=PAGE_ID)
    assert record["attachments"] == [{"url": good, "kind": "image"}]


def test_a_bad_link_is_refused_by_the_interchange_format() -> None:
    record = adapter.parse(fixture_json("messenger_message.json"), page_id=PAGE_ID)[0]
    for url in (
        "javascript:alert(1)",
        "http://a b",
        "ftp://x/y",
        "http://x/\nSet-Cookie: a",
        "http://x/\x00",
        "http://x/\x7f",
    ):
        with pytest.raises(ValueError, match="attachments"):
            InterchangeMessage.model_validate({**record, "attachments": [{"url": url}]})


def test_links_are_fetched_after_the_webhook_by_the_media_worker(
    meta_channel: Channel, workspace: Workspace, cdn: Cdn
) -> None:
    assert webhook(meta_channel, recorded_payload(cdn))["stored"] == 1
    assert drain() == 1
    assert cdn.requests == []  # neither the webhook nor the pipeline downloads anything
    queued = AttachmentFetch.objects.filter(workspace=workspace).order_by("position")
    assert [(q.position, q.kind, q.status) for q in queued] == [
        (0, "image", "pending"),
        (1, "file", "pending"),
        (2, "sticker", "pending"),
    ]

    outcome = run()

    assert (outcome.done, outcome.failed, outcome.retried) == (3, 0, 0)
    assert stored(workspace) == [
        (0, "461234567_dryer_label.jpg", "image/jpeg", LABEL),
        (1, "receipt-55812.pdf", "application/pdf", RECEIPT),
        (2, "851557_369239266556155_759568595_n.png", "image/png", STICKER),
    ]
    assert set(Attachment.objects.values_list("channel", "message_external_id")) == {
        ("messenger", MID)
    }
    assert [r.path for r in cdn.requests] == [
        "/v/t1.15752-9/461234567_dryer_label.jpg",
        "/v/t59.2708-21/receipt-55812.pdf",
        "/v/t39.1997-6/851557_369239266556155_759568595_n.png",
    ]
    assert set(queued.values_list("status", "attempts", "error")) == {("done", 1, "")}


def test_processing_again_adds_no_second_fetch_or_attachment(
    meta_channel: Channel, workspace: Workspace, cdn: Cdn
) -> None:
    payload = recorded_payload(cdn)
    webhook(meta_channel, payload)
    drain()
    run()
    message = InterchangeMessage.model_validate(adapter.parse(payload, page_id=PAGE_ID)[0])

    assert webhook(meta_channel, payload)["duplicates"] == 1
    assert media.enqueue(workspace=workspace, messages=[message]) == 3  # offered, not added
    assert (drain(), run().done) == (0, 0)

    assert AttachmentFetch.objects.count() == 3
    assert Attachment.objects.count() == 3
    assert len(cdn.requests) == 3


def test_production_defaults_refuse_a_loopback_link_and_say_so(
    meta_channel: Channel, workspace: Workspace, cdn: Cdn
) -> None:
    webhook(meta_channel, recorded_payload(cdn))
    drain()

    outcome = media.fetch_due(resolver=resolver)  # no allowance: loopback is never fetched

    assert (outcome.done, outcome.failed, outcome.retried) == (0, 3, 0)
    assert cdn.requests == []
    first = AttachmentFetch.objects.get(position=0)
    assert (first.status, first.attempts) == ("failed", 1)
    assert first.error == f"'{CDN_HOST}' resolves to a non-public address"
    assert stored(workspace)[0] == (
        0,
        "image-1 (could not fetch).txt",
        "text/plain",
        f"Could not fetch this image from {CDN_HOST}: {first.error}\n".encode(),
    )
    assert media.fetch_due(resolver=resolver).failed == 0  # never tried again


def test_the_media_command_drains_with_production_rules(
    meta_channel: Channel, workspace: Workspace, cdn: Cdn
) -> None:
    webhook(meta_channel, recorded_payload(cdn, host="127.0.0.1"))  # no DNS lookup
    drain()
    out = io.StringIO()

    call_command("media", "--drain", "--json", stdout=out)

    assert json.loads(out.getvalue()) == {"done": 0, "failed": 3, "retried": 0}
    assert cdn.requests == []
    assert set(AttachmentFetch.objects.values_list("status", flat=True)) == {"failed"}


def test_a_body_over_the_cap_fails_without_being_kept(
    meta_channel: Channel, workspace: Workspace, cdn: Cdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "MAX_BYTES", len(LABEL) - 1)
    webhook(meta_channel, recorded_payload(cdn))
    drain()

    outcome = run(limit=1)

    assert (outcome.done, outcome.failed) == (0, 1)
    row = AttachmentFetch.objects.get(position=0)
    assert (row.status, row.error) == ("failed", f"body larger than {len(LABEL) - 1} bytes")
    [(position, name, content_type, body)] = stored(workspace)
    assert (position, name, content_type) == (0, "image-1 (could not fetch).txt", "text/plain")
    assert LABEL not in body


def test_server_errors_are_retried_a_few_times_then_given_up(
    meta_channel: Channel, workspace: Workspace, cdn: Cdn
) -> None:
    webhook(meta_channel, recorded_payload(cdn))
    drain()
    AttachmentFetch.objects.exclude(position=0).delete()
    cdn.fail_next(503, times=10, body=b"busy")
    waits = []

    for _ in range(media.MAX_ATTEMPTS):
        before = timezone.now()
        outcome = run()
        row = AttachmentFetch.objects.get()
        if row.status == "pending":
            assert (outcome.retried, row.error) == (1, "HTTP 503")
            waits.append(round((row.available_at - before).total_seconds() / 30))
            AttachmentFetch.objects.update(available_at=timezone.now())

    assert waits == [1, 4, 16]  # 30 s, 2 min, 8 min
    assert (row.status, row.attempts, outcome.failed) == ("failed", 4, 1)
    assert run().failed + run().retried == 0
    assert len(cdn.requests) == 4
    assert stored(workspace)[0][1] == "image-1 (could not fetch).txt"


def test_a_timeout_is_retried_and_the_worker_carries_on(workspace: Workspace) -> None:
    calls: list[str] = []

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ReadTimeout("read timed out", request=request)

    message = InterchangeMessage.model_validate(
        {
            "channel": "instagram",
            "external_id": "dm-aWdf1",
            "created_at": "2026-11-02T09:14:00Z",
            "author": {"external_id": "6100000000000777"},
            "text": "[video]",
            "attachments": [{"url": "https://lookaside.cdn.test/clip.mp4", "kind": "video"}],
        }
    )
    assert media.enqueue(workspace=workspace, messages=[message]) == 1

    outcome = run(transport=httpx.MockTransport(slow))

    assert (outcome.retried, calls) == (1, ["/clip.mp4"])
    row = AttachmentFetch.objects.get()
    assert (row.status, row.error, row.attempts) == ("pending", "timed out", 1)
    assert row.available_at > timezone.now() + timedelta(seconds=25)
    assert Attachment.objects.count() == 0


def test_an_unexpected_error_never_stops_the_worker(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, cdn: Cdn
) -> None:
    def disk_full(data: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(media, "write_file", disk_full)
    links = [{"url": f"http://{CDN_HOST}:{port(cdn)}/v/t59.2708-21/receipt-55812.pdf"}]
    message = InterchangeMessage.model_validate(
        {
            "channel": "messenger",
            "external_id": "m_disk",
            "created_at": "2026-11-02T09:14:00Z",
            "author": {"external_id": "6100000000000001"},
            "text": "[file]",
            "attachments": links,
        }
    )
    media.enqueue(workspace=workspace, messages=[message])

    outcome = run()  # does not raise

    assert (outcome.done, outcome.failed, outcome.retried) == (0, 0, 0)
    row = AttachmentFetch.objects.get()
    assert row.status == "processing"  # its lease runs out; it is claimed again later
    AttachmentFetch.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    monkeypatch.undo()
    assert run().done == 1
    assert Attachment.objects.get().path.read_bytes() == RECEIPT


def test_links_and_files_stay_in_their_workspace(
    workspace: Workspace, other_workspace: Workspace, cdn: Cdn
) -> None:
    url = f"http://{CDN_HOST}:{port(cdn)}/v/t1.15752-9/461234567_dryer_label.jpg"
    message = InterchangeMessage.model_validate(
        {
            "channel": "messenger",
            "external_id": "m_same_id",
            "created_at": "2026-11-02T09:14:00Z",
            "author": {"external_id": "6100000000000001"},
            "text": "[image]",
            "attachments": [{"url": url, "kind": "image"}],
        }
    )
    media.enqueue(workspace=workspace, messages=[message])
    media.enqueue(workspace=other_workspace, messages=[message])

    assert run().done == 2

    for space in (workspace, other_workspace):
        [(position, name, _, body)] = stored(space)
        assert (position, name, body) == (0, "461234567_dryer_label.jpg", LABEL)
    assert Attachment.objects.count() == 2
    assert not Message.objects.exists()  # queued from the records, no message needed
