"""Posts on the Page arrive in the ``feed`` field by kind ("status" for text, "photo",
"video", "share", "link", or "post"), not only as "post"; each is a public message."""

from fairdesk.connectors.meta import adapter
from fairdesk.connectors.meta.tests.conftest import PAGE_ID, fixture_json


def test_visitor_posts_of_every_kind_are_public_facebook_messages() -> None:
    records = adapter.parse(fixture_json("visitor_photo_post.json"), page_id=PAGE_ID)

    # The edit of the status post is not a new message.
    assert [
        (r["channel"], r["external_id"], r["in_reply_to"], r["visibility"], r["direction"])
        for r in records
    ] == [
        ("facebook", f"{PAGE_ID}_220000000000005", None, "public", "inbound"),
        ("facebook", f"{PAGE_ID}_220000000000007", None, "public", "inbound"),
    ]
    assert [(r["author"]["display_name"], r["text"]) for r in records] == [
        ("Priya N", "The DX-300 door hinge arrived broken, photo attached."),
        ("Tom B", "Is the Leeds store open on Sunday?"),
    ]
    assert records[0]["created_at"] == "2026-11-02T10:23:20Z"


def test_a_post_by_the_page_itself_is_outbound() -> None:
    payload = fixture_json("visitor_photo_post.json")
    payload["entry"][0]["changes"][0]["value"]["from"] = {"id": PAGE_ID, "name": "Acme"}

    [own, _] = adapter.parse(payload, page_id=PAGE_ID)

    assert (own["external_id"], own["direction"]) == (f"{PAGE_ID}_220000000000005", "outbound")
