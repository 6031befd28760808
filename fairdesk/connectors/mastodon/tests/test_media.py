"""A status's ``media_attachments`` become attachment links (``url``, else ``remote_url``),
queued for the media worker when the polled mention is stored."""

from typing import Any

import pytest

from fairdesk.connectors import polling
from fairdesk.connectors.mastodon import adapter
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.tests.conftest import BRAND_ID, fixture_json, mention, status_id
from fairdesk.connectors.models import AttachmentFetch, Channel
from fairdesk.inbound.interchange import MAX_ATTACHMENT_LINKS
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace

LOCAL = "https://social.acme.example/system/cache/media_attachments/files/113/200/000"
REMOTE = "https://files.mastodon.example/media_attachments/files/113/199/999/999"
EXPECTED = [
    (f"{LOCAL}/000/101/original/e21-display.jpg", "image"),
    (f"{REMOTE}/902/original/rating-label.png", "image"),  # not cached here: the original
    (f"{LOCAL}/000/103/original/drum-noise.mp4", "video"),
    (f"{LOCAL}/000/104/original/on-hold.mp4", "gifv"),
    (f"{LOCAL}/000/105/original/voicemail.mp3", "audio"),
    (f"{REMOTE}/906/original/receipt-55812.pdf", "unknown"),
]


def parse(notification: dict[str, Any]) -> dict[str, Any]:
    [record] = adapter.parse_notifications(
        [notification], account_id=BRAND_ID, brand_handle="@AcmeSupport"
    )
    return record


def links(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(link["url"], link["kind"]) for link in record.get("attachments", [])]


def with_media(items: Any) -> dict[str, Any]:
    notification: dict[str, Any] = fixture_json("mention_media.json")
    notification["status"]["media_attachments"] = items
    return notification


def test_every_file_of_a_status_becomes_a_link_local_copy_first() -> None:
    record = parse(fixture_json("mention_media.json"))

    assert links(record) == EXPECTED
    assert record["text"].endswith(
        "[image attached: The display showing error E21]\n"
        "[image attached: Rating label: DX-300]\n"
        "[video attached]\n"
        "[gifv attached: me waiting on hold]\n"
        "[audio attached]\n"
        "[unknown attached]"
    )
    # A status without files serialises exactly as before (DESIGN §10).
    assert "attachments" not in parse(fixture_json("mention_public.json"))


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (None, []),
        ("junk", []),
        ({"url": "https://x.example/a.png"}, []),
        ([None, 1, "https://x.example/a.png", ["https://x.example/a.png"]], []),
        ([{"type": "image", "url": "javascript:alert(1)", "remote_url": None}], []),
        ([{"type": "image", "url": "data:image/png;base64,AAAA"}], []),
        ([{"type": "image", "url": "https://x.example/a\r\nX-Injected: 1"}], []),
        ([{"type": "image", "url": "https://x.example/\x00.png"}], []),
        ([{"type": "image", "url": "https://x.example/" + "a" * 2000}], []),
        ([{"type": "image", "url": {"href": "https://x.example/a.png"}}], []),
        # A hostile local url does not hide a usable original.
        (
            [{"type": "image", "url": "javascript:1", "remote_url": "https://x.example/a.png"}],
            [("https://x.example/a.png", "image")],
        ),
        ([{"type": 7, "url": "https://x.example/a.png"}], [("https://x.example/a.png", "")]),
        (
            [{"type": "<script>\n" + "x" * 40, "url": "https://x.example/a.png"}],
            [("https://x.example/a.png", "<script>" + "x" * 22)],
        ),
        (
            [{"type": "image", "url": "https://x.example/a.png"}] * 2,
            [("https://x.example/a.png", "image")],
        ),
    ],
)
def test_hostile_or_malformed_files_are_left_out_and_the_status_is_kept(
    items: Any, expected: list[tuple[str, str]]
) -> None:
    record = parse(with_media(items))

    assert links(record) == expected
    assert record["external_id"] == "113200000000000021"


def test_at_most_ten_links() -> None:
    items = [{"type": "image", "url": f"https://x.example/{n}.png"} for n in range(15)]

    record = parse(with_media(items))

    assert len(record["attachments"]) == MAX_ATTACHMENT_LINKS
    assert record["attachments"][-1]["url"] == "https://x.example/9.png"


def test_a_polled_mention_queues_its_files_in_its_own_workspace(
    workspace: Workspace,
    other_workspace: Workspace,
    acme_instance: MastodonStandIn,
    globex_instance: MastodonStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    acme_instance.add_notification(mention(1, template="mention_media.json"))
    globex_instance.add_notification(mention(1))

    assert polling.poll_channel(acme_channel).stored == 1
    assert polling.poll_channel(globex_channel).stored == 1
    assert drain() == 2

    rows = AttachmentFetch.objects.filter(workspace=workspace).order_by("position")
    assert [(r.channel, r.message_external_id, r.status) for r in rows] == [
        ("mastodon", status_id(1), "pending")
    ] * len(EXPECTED)
    assert [(r.url, r.kind) for r in rows] == EXPECTED
    assert not AttachmentFetch.objects.filter(workspace=other_workspace).exists()

    # The same status again (a re-read page, a streamed copy) queues nothing more.
    again = mention(2, template="mention_media.json")
    again["status"]["id"] = status_id(1)
    acme_instance.add_notification(again)
    assert polling.poll_channel(acme_channel).duplicates == 1
    assert drain() == 0
    assert AttachmentFetch.objects.count() == len(EXPECTED)
