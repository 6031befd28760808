"""Photos, videos and GIFs of tweets become attachment links (``extended_entities.media``
in Account Activity deliveries, ``includes.media`` in the v2 mention backfill), queued for
the media worker when the message is stored; DM media, which X serves only to signed
requests, are not."""

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fairdesk.cases.models import Attachment
from fairdesk.connectors import media, polling
from fairdesk.connectors.models import AttachmentFetch
from fairdesk.connectors.payloads import PayloadError
from fairdesk.connectors.standin import Request, Response, StandIn
from fairdesk.connectors.x import adapter
from fairdesk.connectors.x.connector import mention_records
from fairdesk.connectors.x.standin import Media, XStandIn
from fairdesk.connectors.x.tests.accounts import ACME_TOKEN, DANA_ID, connect, deliver, running_x
from fairdesk.connectors.x.tests.conftest import BRAND_ID, GLOBEX_BRAND_ID, fixture_json
from fairdesk.inbound.interchange import MAX_ATTACHMENT_LINKS
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace

PHOTO_1 = "https://pbs.twimg.com/media/GbX3dryerE1a.jpg"
PHOTO_2 = "https://pbs.twimg.com/media/GbX3labelQ2b.png"
VIDEO_HD = (
    "https://video.twimg.com/ext_tw_video/1849099990000000003/pu/vid/1280x720/noise.mp4?tag=12"
)
GIF = "https://video.twimg.com/tweet_video/GbX3waitG4.mp4"
CDN_HOST = "pbs.cdn.test"
PHOTO_BYTES = b"\xff\xd8\xff\xe0 the E21 error on the display"


def parse(payload: Any) -> list[dict[str, Any]]:
    return adapter.parse(payload, brand_user_id=BRAND_ID, brand_handle="@AcmeSupport")


def photos_payload() -> dict[str, Any]:
    payload: dict[str, Any] = fixture_json("tweet_with_photos.json")
    return payload


def with_media(items: Any) -> dict[str, Any]:
    """The recorded photo tweet with ``extended_entities.media`` replaced."""
    payload = photos_payload()
    payload["tweet_create_events"][0]["extended_entities"]["media"] = items
    return payload


def links(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(link["url"], link["kind"]) for link in record.get("attachments", [])]


# -- Account Activity tweets --------------------------------------------------------------
def test_the_photos_of_a_tweet_become_links_in_order() -> None:
    [record] = parse(photos_payload())

    assert links(record) == [(PHOTO_1, "photo"), (PHOTO_2, "photo")]
    assert record["text"].startswith("@AcmeSupport this is the error on the display")
    # A tweet without media serialises exactly as before (DESIGN §10).
    [plain] = parse(fixture_json("tweet_mention.json"))
    assert "attachments" not in plain


def test_a_video_gives_its_best_mp4_and_an_animated_gif_its_only_one() -> None:
    video, gif = parse(fixture_json("tweet_video_and_gif.json"))

    assert links(video) == [(VIDEO_HD, "video")]  # not the HLS playlist, not a smaller mp4
    assert links(gif) == [(GIF, "animated_gif")]


def test_a_long_tweet_carries_its_media_in_extended_tweet() -> None:
    payload = photos_payload()
    tweet = payload["tweet_create_events"][0]
    tweet["extended_tweet"] = {
        "full_text": "@AcmeSupport " + "the whole story " * 20,
        "extended_entities": tweet.pop("extended_entities"),
    }

    [record] = parse(payload)

    assert links(record) == [(PHOTO_1, "photo"), (PHOTO_2, "photo")]


def _video(variants: Any, thumb: Any = "https://pbs.twimg.com/thumb.jpg") -> dict[str, Any]:
    return {"type": "video", "media_url_https": thumb, "video_info": {"variants": variants}}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("not a list", []),
        ({"media_url_https": PHOTO_1}, []),
        ([None, 7, "x", [PHOTO_1]], []),
        ([{"type": "photo", "media_url_https": "javascript:alert(1)"}], []),
        ([{"type": "photo", "media_url_https": "https://evil.example/a\r\nSet-Cookie: x"}], []),
        ([{"type": "photo", "media_url_https": "https://evil.example/a\x00.jpg"}], []),
        ([{"type": "photo", "media_url_https": "https://" + "a" * 2000 + ".jpg"}], []),
        ([{"type": "photo", "media_url_https": "http:///no-host.jpg"}], []),
        ([{"type": "photo", "media_url_https": "ftp://pbs.twimg.com/a.jpg"}], []),
        ([{"type": "photo", "media_url_https": {"url": PHOTO_1}}], []),
        ([{"type": ["photo"], "media_url_https": PHOTO_1}], [(PHOTO_1, "")]),
        ([{"type": "photo\r\n<b>", "media_url_https": PHOTO_1}], [(PHOTO_1, "photo<b>")]),
        # A video without a usable mp4 gives its still image rather than nothing.
        (
            [_video([{"content_type": "application/x-mpegURL", "url": "https://v/a.m3u8"}])],
            [("https://pbs.twimg.com/thumb.jpg", "video")],
        ),
        ([_video("junk")], [("https://pbs.twimg.com/thumb.jpg", "video")]),
        (
            [_video([{"content_type": "video/mp4", "url": "javascript:1"}])],
            [("https://pbs.twimg.com/thumb.jpg", "video")],
        ),
        # A bitrate that is not a number counts as 0, never as the best.
        (
            [
                _video(
                    [
                        {
                            "bitrate": "9999999",
                            "content_type": "video/mp4",
                            "url": "https://v/s.mp4",
                        },
                        {"bitrate": True, "content_type": "video/mp4", "url": "https://v/b.mp4"},
                        {"bitrate": 320000, "content_type": "video/mp4", "url": "https://v/r.mp4"},
                    ]
                )
            ],
            [("https://v/r.mp4", "video")],
        ),
        (
            [{"type": "photo", "media_url_https": "javascript:1"}, {"media_url_https": PHOTO_2}],
            [(PHOTO_2, "")],
        ),
    ],
)
def test_hostile_or_malformed_media_are_left_out_and_the_tweet_is_kept(
    items: Any, expected: list[tuple[str, str]]
) -> None:
    [record] = parse(with_media(items))

    assert links(record) == expected
    assert record["external_id"] == "1849100000000000011"


def test_at_most_ten_links_each_once() -> None:
    photo = photos_payload()["tweet_create_events"][0]["extended_entities"]["media"][0]
    items = [photo, photo] + [
        {**photo, "media_url_https": f"https://pbs.twimg.com/media/p{n}.jpg"} for n in range(14)
    ]

    [record] = parse(with_media(items))

    assert len(record["attachments"]) == MAX_ATTACHMENT_LINKS
    assert [url for url, _ in links(record)][:2] == [PHOTO_1, "https://pbs.twimg.com/media/p0.jpg"]


def test_dm_media_are_not_fetched_since_x_serves_them_only_to_signed_requests() -> None:
    [record] = parse(fixture_json("direct_message_media.json"))

    assert "attachments" not in record
    assert record["text"] == "here is the receipt https://t.co/R3c31pTxyz"
    assert record["external_id"] == "dm-1849100000000000102"


# -- v2 mention backfill ------------------------------------------------------------------
def test_a_backfilled_page_links_its_expanded_media() -> None:
    video, photos, gif = mention_records(
        fixture_json("mentions_page_media.json"), brand_user_id=BRAND_ID, brand_handle=None
    )

    assert links(video) == [
        (
            "https://video.twimg.com/ext_tw_video/1849099990000000013/pu/vid/720x1280/drum.mp4"
            "?tag=12",
            "video",
        )
    ]
    # The third key has no expanded media object: it is left out, not an error.
    assert links(photos) == [
        ("https://pbs.twimg.com/media/GbY1errC0de.jpg", "photo"),
        ("https://pbs.twimg.com/media/GbY1labeL22.jpg", "photo"),
    ]
    assert links(gif) == [("https://video.twimg.com/tweet_video/GbY1sameTh.mp4", "animated_gif")]
    # Without the media expansion the records are exactly as before.
    page = fixture_json("mentions_page_media.json")
    del page["includes"]["media"]
    assert all(
        "attachments" not in r
        for r in mention_records(page, brand_user_id=BRAND_ID, brand_handle=None)
    )


def _v2(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    page: dict[str, Any] = fixture_json("mentions_page_media.json")
    mutate(page)
    return page


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["includes"].update(media="junk"),
        lambda p: p["includes"].update(media=[1, None, {"media_key": ["unhashable"]}]),
        lambda p: p["data"][1].update(attachments="junk"),
        lambda p: p["data"][1].update(attachments={"media_keys": [["x"], None, 3]}),
        lambda p: p["includes"]["media"][1].update(url="javascript:alert(1)"),
        lambda p: p["includes"]["media"][0].update(variants={"url": "x"}, preview_image_url=7),
    ],
)
def test_malformed_v2_media_never_cost_the_mentions(
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    records = mention_records(_v2(mutate), brand_user_id=BRAND_ID, brand_handle=None)

    assert [r["external_id"] for r in records] == [
        "1849100000000000212",
        "1849100000000000211",
        "1849100000000000210",
    ]
    for record in records:
        assert all(link["url"].startswith("https://") for link in record.get("attachments", []))


def test_a_page_whose_includes_is_not_an_object_is_still_refused() -> None:
    with pytest.raises(PayloadError, match="includes"):
        mention_records({"data": [], "includes": "junk"}, brand_user_id=BRAND_ID, brand_handle=None)


# -- end to end ---------------------------------------------------------------------------
class Cdn(StandIn):
    """pbs.twimg.com on loopback: one photo, everything else 404."""

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/media/.+", self.serve)

    def serve(self, request: Request) -> Response:
        if request.path == "/media/GbX3dryerE1a.jpg":
            return Response(200, PHOTO_BYTES, {"Content-Type": "image/jpeg"})
        return Response(404, b"not found", {"Content-Type": "text/plain"})


@pytest.fixture
def api() -> Iterator[XStandIn]:
    with running_x() as standin:
        yield standin


@pytest.fixture
def cdn() -> Iterator[Cdn]:
    with Cdn() as server:
        assert isinstance(server, Cdn)
        yield server


def queued(workspace: Workspace) -> list[tuple[str, int, str, str, str]]:
    rows = AttachmentFetch.objects.filter(workspace=workspace).order_by(
        "message_external_id", "position"
    )
    return [(r.message_external_id, r.position, r.url, r.kind, r.status) for r in rows]


def test_a_webhook_tweet_queues_its_photos_and_the_worker_fetches_them(
    workspace: Workspace, other_workspace: Workspace, api: XStandIn, cdn: Cdn
) -> None:
    acme = connect(workspace, api)
    connect(other_workspace, api, globex=True)
    port = cdn.url.rsplit(":", 1)[1]
    body = json.dumps(photos_payload()).replace(
        "https://pbs.twimg.com", f"http://{CDN_HOST}:{port}"
    )

    assert deliver(acme, body.encode()) == (200, {"ok": True, "stored": 1, "duplicates": 0})
    assert cdn.requests == []  # the webhook downloads nothing
    assert drain() == 1

    base = f"http://{CDN_HOST}:{port}/media"
    assert queued(workspace) == [
        ("1849100000000000011", 0, f"{base}/GbX3dryerE1a.jpg", "photo", "pending"),
        ("1849100000000000011", 1, f"{base}/GbX3labelQ2b.png", "photo", "pending"),
    ]
    assert queued(other_workspace) == []

    def resolver(host: str, _port: int) -> list[str]:
        return ["127.0.0.1"] if host == CDN_HOST else ["93.184.216.34"]

    outcome = media.fetch_due(allow=frozenset({"127.0.0.1"}), resolver=resolver)

    assert (outcome.done, outcome.failed) == (1, 1)
    files = Attachment.objects.filter(workspace=workspace).order_by("position")
    assert [(f.channel, f.message_external_id, f.filename) for f in files] == [
        ("x", "1849100000000000011", "GbX3dryerE1a.jpg"),
        ("x", "1849100000000000011", "photo-2 (could not fetch).txt"),
    ]
    assert files[0].path.read_bytes() == PHOTO_BYTES
    assert not Attachment.objects.filter(workspace=other_workspace).exists()


def test_a_webhook_dm_with_media_queues_nothing(workspace: Workspace, api: XStandIn) -> None:
    acme = connect(workspace, api)
    body = json.dumps(fixture_json("direct_message_media.json")).encode()

    assert deliver(acme, body)[1]["stored"] == 1
    assert drain() == 1
    assert AttachmentFetch.objects.count() == 0


def test_a_backfilled_mention_queues_its_media_in_its_own_workspace(
    workspace: Workspace, other_workspace: Workspace, api: XStandIn
) -> None:
    acme = connect(workspace, api)
    globex = connect(other_workspace, api, globex=True)
    variants: list[dict[str, Any]] = [
        {
            "bit_rate": 256000,
            "content_type": "video/mp4",
            "url": "https://video.twimg.com/v/small.mp4",
        },
        {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/v/pl.m3u8"},
        {
            "bit_rate": 2176000,
            "content_type": "video/mp4",
            "url": "https://video.twimg.com/v/hd.mp4",
        },
    ]
    tweet = api.add_mention(
        of=BRAND_ID,
        author_id=DANA_ID,
        text="the drum, and the label",
        media=[
            Media(
                "7_1860000000000000001",
                "video",
                preview_image_url="https://pbs.twimg.com/t.jpg",
                variants=variants,
            ),
            Media("3_1860000000000000002", "photo", url="https://pbs.twimg.com/media/label.jpg"),
        ],
    )
    api.add_mention(of=GLOBEX_BRAND_ID, author_id=DANA_ID, text="no media for Globex")

    assert polling.poll_channel(acme).stored == 1
    assert polling.poll_channel(globex).stored == 1
    assert drain() == 2

    assert queued(workspace) == [
        (tweet.id, 0, "https://video.twimg.com/v/hd.mp4", "video", "pending"),
        (tweet.id, 1, "https://pbs.twimg.com/media/label.jpg", "photo", "pending"),
    ]
    assert queued(other_workspace) == []
    # Polling again stores and queues nothing more.
    assert polling.poll_channel(acme).stored == 0
    assert AttachmentFetch.objects.count() == 2


def test_the_stand_in_expands_media_only_when_asked() -> None:
    tweet_media = [Media("3_1", "photo", url="https://pbs.twimg.com/media/a.jpg")]
    with running_x() as api:
        api.add_mention(
            of=BRAND_ID, author_id=DANA_ID, text="photo", media=copy.deepcopy(tweet_media)
        )

        def get(params: dict[str, str]) -> dict[str, Any]:
            answer = httpx.get(
                f"{api.url}/2/users/{BRAND_ID}/mentions",
                params={"max_results": "10", **params},
                headers={"Authorization": f"Bearer {ACME_TOKEN}"},
            )
            result: dict[str, Any] = answer.json()
            return result

        bare = get({"tweet.fields": "author_id"})
        assert "attachments" not in bare["data"][0] and "media" not in bare.get("includes", {})
        full = get(
            {
                "tweet.fields": "attachments",
                "expansions": "attachments.media_keys",
                "media.fields": "url",
            }
        )
        assert full["data"][0]["attachments"] == {"media_keys": ["3_1"]}
        assert full["includes"]["media"] == [
            {"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/a.jpg"}
        ]
