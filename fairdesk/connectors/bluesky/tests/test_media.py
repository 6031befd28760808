"""A post's embedded images and video become attachment links: blob references fetched
with ``com.atproto.sync.getBlob`` on the channel's service host, or a hydrated view's
CDN URLs; queued when the polled post is stored and fetched by the media worker."""

import copy
from datetime import timedelta
from typing import Any

import pytest

from conftest import T0
from fairdesk.cases.models import Attachment
from fairdesk.connectors import media, polling
from fairdesk.connectors.bluesky import adapter
from fairdesk.connectors.bluesky.standin import BlueskyStandIn
from fairdesk.connectors.bluesky.tests.conftest import ACME_DID, DANA, GLOBEX_DID, fixture_json
from fairdesk.connectors.models import AttachmentFetch, Channel
from fairdesk.inbound.interchange import MAX_ATTACHMENT_LINKS
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace

SERVICE = "https://bsky.social"
DANA_DID = "did:plc:fspaujmf3r2amwe2g4spaaty"
OMAR_DID = "did:plc:eeux43uwnl55a3upbdcfewxc"
E21 = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"
LABEL = "bafkreiffsgtnic7uebaeuaixgph3pmmq2ywglpfyzo2pi6ygubuy4foqcq"
PHOTO = b"\xff\xd8\xff\xe0 the E21 error on the display"


def blob_url(did: str, cid: str, service: str = SERVICE) -> str:
    return f"{service}/xrpc/com.atproto.sync.getBlob?did={did}&cid={cid}"


def parse(notifications: list[dict[str, Any]], service_url: str = SERVICE) -> list[dict]:
    return adapter.parse(
        notifications, brand_did=ACME_DID, brand_handle="@acme", service_url=service_url
    )


def links(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(link["url"], link["kind"]) for link in record.get("attachments", [])]


def recorded() -> list[dict[str, Any]]:
    notifications: list[dict[str, Any]] = fixture_json("notifications_media.json")["notifications"]
    return notifications


def with_embed(embed: Any) -> list[dict[str, Any]]:
    """The recorded images mention with its ``embed`` replaced."""
    notification = copy.deepcopy(recorded()[2])
    notification["record"]["embed"] = embed
    return [notification]


def images_embed(*images: Any) -> dict[str, Any]:
    return {"$type": "app.bsky.embed.images", "images": list(images)}


def image(cid: Any) -> dict[str, Any]:
    return {"alt": "", "image": {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/jpeg"}}


def test_images_video_and_quoted_media_become_get_blob_links_of_their_author() -> None:
    quote, video, images = parse(recorded())

    assert links(images) == [
        (blob_url(DANA_DID, E21), "image"),
        (blob_url(DANA_DID, LABEL), "image"),
    ]
    assert links(video) == [
        (blob_url(OMAR_DID, "bafkreihyqnswsq2l5gbtdclwr4ivwqiqvxp4ynk6lmhwqzvyiaxdt4ov4a"), "video")
    ]
    assert links(quote) == [
        (blob_url(DANA_DID, "bafkreigdkdqmngp4rtx4ecdikkt7vgfi3tqvrbbcwhbuqzbkkwjqsn2z2u"), "image")
    ]
    # A post without media serialises exactly as before (DESIGN §10).
    [plain] = parse(fixture_json("notifications_mention.json")["notifications"])
    assert "attachments" not in plain


def test_the_link_uses_the_channels_service_host_and_needs_one() -> None:
    [record] = parse([recorded()[2]], service_url="https://pds.acme.example/")

    assert links(record)[0] == (blob_url(DANA_DID, E21, "https://pds.acme.example"), "image")
    [without] = parse([recorded()[2]], service_url="")
    assert "attachments" not in without and without["external_id"] == recorded()[2]["uri"]


def test_a_legacy_blob_names_its_cid_directly() -> None:
    legacy = {"alt": "", "image": {"cid": E21, "mimeType": "image/jpeg"}}

    [record] = parse(with_embed(images_embed(legacy)))

    assert links(record) == [(blob_url(DANA_DID, E21), "image")]


def test_a_hydrated_view_gives_its_cdn_urls() -> None:
    cdn = "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:fspaujmf3r2amwe2g4spaaty"
    thumb = "https://cdn.bsky.app/img/feed_thumbnail/plain/did:plc:fspaujmf3r2amwe2g4spaaty"
    view = {
        "$type": "app.bsky.embed.images#view",
        "images": [
            {"alt": "", "fullsize": f"{cdn}/{E21}@jpeg", "thumb": f"{thumb}/{E21}@jpeg"},
            {"alt": "", "fullsize": "javascript:alert(1)", "thumb": f"{thumb}/{LABEL}@jpeg"},
        ],
    }
    video_view = {
        "$type": "app.bsky.embed.video#view",
        "cid": E21,
        "playlist": "https://video.bsky.app/watch/did/cid/playlist.m3u8",
    }

    [record] = parse(with_embed(view))
    [quoted] = parse(
        with_embed({"$type": "app.bsky.embed.recordWithMedia#view", "media": view, "record": {}})
    )
    [playlist] = parse(with_embed(video_view))

    assert links(record) == [(f"{cdn}/{E21}@jpeg", "image"), (f"{thumb}/{LABEL}@jpeg", "image")]
    assert links(quoted) == links(record)
    assert "attachments" not in playlist  # an HLS playlist is not a file


@pytest.mark.parametrize(
    "embed",
    [
        None,
        "app.bsky.embed.images",
        ["junk"],
        {"$type": "app.bsky.embed.external", "external": {"uri": "https://evil.example/x.jpg"}},
        {"$type": "app.bsky.embed.record", "record": {"uri": "at://x", "cid": E21}},
        {"$type": "app.bsky.embed.images", "images": "junk"},
        images_embed(None, 1, "x", {"image": "junk"}, {"image": {"ref": "junk"}}),
        images_embed(image(None), image(7), image(["x"])),
        images_embed(image(f"{E21}&did=did:plc:evil"), image("bafk rei"), image("b" * 300)),
        images_embed(image("../../xrpc/com.atproto.server.deleteAccount")),
        {"$type": "app.bsky.embed.video", "video": "junk"},
        {"$type": "app.bsky.embed.recordWithMedia", "media": "junk"},
        {"$type": "app.bsky.embed.recordWithMedia", "media": {"$type": "app.bsky.embed.external"}},
        # Nesting is not followed: recordWithMedia's media are images or video.
        {
            "$type": "app.bsky.embed.recordWithMedia",
            "media": {"$type": "app.bsky.embed.recordWithMedia", "media": images_embed(image(E21))},
        },
    ],
)
def test_malformed_or_hostile_embeds_give_no_link_and_keep_the_post(embed: Any) -> None:
    [record] = parse(with_embed(embed))

    assert "attachments" not in record
    assert record["text"].startswith("@acmesupport.bsky.social this is the error")


def test_an_author_did_that_could_change_the_query_gives_no_link() -> None:
    embed = images_embed(image(E21))

    assert adapter.post_media(embed, did="did:plc:x&cid=bafkreievil", service_url=SERVICE) == []
    assert adapter.post_media(embed, did="did:plc:x\r\nHost: evil", service_url=SERVICE) == []
    assert adapter.post_media(embed, did=DANA_DID + "\n", service_url=SERVICE) == []
    assert (
        adapter.post_media(images_embed(image(E21 + "\n")), did=DANA_DID, service_url=SERVICE) == []
    )
    assert adapter.post_media(embed, did=DANA_DID, service_url=SERVICE) == [
        {"url": blob_url(DANA_DID, E21), "kind": "image"}
    ]


def test_at_most_ten_links_each_once() -> None:
    cids = [E21, E21, *(f"bafkreiaaaa{n:02d}aaaaaaaaaaaaaaaa" for n in range(14))]

    [record] = parse(with_embed(images_embed(*(image(c) for c in cids))))

    assert len(record["attachments"]) == MAX_ATTACHMENT_LINKS
    assert [url for url, _ in links(record)][:2] == [
        blob_url(DANA_DID, E21),
        blob_url(DANA_DID, "bafkreiaaaa00aaaaaaaaaaaaaaaa"),
    ]


# -- end to end ---------------------------------------------------------------------------
def test_a_polled_post_queues_its_blobs_and_the_worker_fetches_them_from_the_service(
    workspace: Workspace,
    other_workspace: Workspace,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    photo = bsky.seed_blob(did=DANA["did"], data=PHOTO, mime_type="image/jpeg")
    missing = {**photo, "ref": {"$link": "bafkreimissingmissingmissingmissing"}}
    post = bsky.seed_post(
        author=DANA,
        text="@acmesupport.bsky.social the error, and the label",
        at=T0 + timedelta(minutes=1),
        embed=images_embed({"alt": "E21", "image": photo}, {"alt": "label", "image": missing}),
    )
    bsky.notify(did=ACME_DID, reason="mention", post=post)
    bsky.notify(
        did=GLOBEX_DID,
        reason="mention",
        post=bsky.seed_post(author=DANA, text="no media", at=T0 + timedelta(minutes=2)),
    )

    assert polling.poll_channel(acme_channel).stored == 1
    assert polling.poll_channel(globex_channel).stored == 1
    assert drain() == 2
    assert bsky.requests_to("GET", "getBlob") == []  # polling downloads nothing

    rows = AttachmentFetch.objects.filter(workspace=workspace).order_by("position")
    cid = photo["ref"]["$link"]
    assert [(r.channel, r.message_external_id, r.url, r.kind) for r in rows] == [
        ("bluesky", post["uri"], blob_url(DANA["did"], cid, bsky.url), "image"),
        ("bluesky", post["uri"], blob_url(DANA["did"], missing["ref"]["$link"], bsky.url), "image"),
    ]
    assert not AttachmentFetch.objects.filter(workspace=other_workspace).exists()

    outcome = media.fetch_due(allow=frozenset({"127.0.0.1"}))

    assert (outcome.done, outcome.failed) == (1, 1)
    files = Attachment.objects.filter(workspace=workspace).order_by("position")
    assert [(f.filename, f.content_type) for f in files] == [
        ("image-1.jpg", "image/jpeg"),  # named by its type, not by the XRPC method
        ("image-2 (could not fetch).txt", "text/plain"),
    ]
    assert files[0].path.read_bytes() == PHOTO
    assert b"HTTP 400" in files[1].path.read_bytes()
    assert [r.query["did"] for r in bsky.requests_to("GET", "getBlob")] == [[DANA["did"]]] * 2
