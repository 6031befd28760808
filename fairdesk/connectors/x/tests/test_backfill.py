"""Mention backfill: the real poller reads the X stand-in's mention timeline from each
channel's cursor and stores what webhooks missed, exactly once, in the right workspace."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import Case, Message
from fairdesk.connectors import polling
from fairdesk.connectors.models import Channel
from fairdesk.connectors.secrets import set_credentials
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.connectors.x.tests.accounts import (
    ACME_TOKEN,
    DANA_ID,
    EVE_ID,
    GLOBEX_TOKEN,
    connect,
    deliver,
    running_x,
)
from fairdesk.connectors.x.tests.conftest import (
    BRAND_ID,
    GLOBEX_BRAND_ID,
    GLOBEX_SECRET,
    fixture_bytes,
)
from fairdesk.inbound import services as inbound_services
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace

MENTIONS = rf"^/2/users/{BRAND_ID}/mentions$"
HOSTILE = (
    "<script>alert('pwned')</script> & <img src=x onerror=alert(1)>\r\n"
    'X-Injected: yes\r\n=HYPERLINK("http://evil.example","refund") @AcmeSupport'
)


@pytest.fixture
def api() -> Iterator[XStandIn]:
    with running_x() as standin:
        yield standin


@pytest.fixture
def acme(workspace: Workspace, api: XStandIn) -> Channel:
    return connect(workspace, api)


def mention(api: XStandIn, text: str, author: str = DANA_ID) -> str:
    return api.add_mention(of=BRAND_ID, author_id=author, text=text).id


def stored_ids(workspace: Workspace) -> list[str]:
    return sorted(
        InboundEvent.objects.filter(workspace=workspace).values_list("external_id", flat=True)
    )


def test_seeded_mentions_are_stored_once_and_a_second_poll_stores_nothing(
    workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    reply_to = api.add_tweet(author_id=BRAND_ID, text="How can we help?").id
    ids = [mention(api, f"dryer broken, order {n}") for n in range(3)]
    answer = api.add_mention(
        of=BRAND_ID, author_id=DANA_ID, text="still broken", in_reply_to=reply_to
    )

    first = polling.poll_channel(acme)

    assert (first.stored, first.duplicates, first.pages, first.error) == (4, 0, 1, "")
    assert stored_ids(workspace) == sorted([*ids, answer.id])
    [request] = api.requests_to("GET", MENTIONS)
    assert request.query == {
        "max_results": ["100"],
        "expansions": ["author_id,referenced_tweets.id,attachments.media_keys"],
        "user.fields": ["username,name,public_metrics"],
        "tweet.fields": [
            "created_at,conversation_id,in_reply_to_user_id,referenced_tweets,author_id,"
            "note_tweet,attachments"
        ],
        "media.fields": ["type,url,preview_image_url,variants"],
    }
    assert request.headers["authorization"] == f"Bearer {ACME_TOKEN}"
    acme.refresh_from_db()
    assert acme.cursor == {"since_id": answer.id}
    event = InboundEvent.objects.get(external_id=answer.id)
    assert event.source == "x"
    assert event.payload == {
        "channel": "x",
        "external_id": answer.id,
        "direction": "inbound",
        "visibility": "public",
        "created_at": answer.created_at.isoformat().replace("+00:00", "Z"),
        "author": {
            "external_id": DANA_ID,
            "handle": "@dana_w",
            "display_name": "Dana Whitfield",
            "followers": 1200,
            "email": None,
            "phone": None,
        },
        "text": "@AcmeSupport still broken",
        "in_reply_to": reply_to,
        "brand_handle": "@AcmeSupport",
        "entitlement": None,
    }

    second = polling.poll_channel(acme)

    assert (second.stored, second.duplicates, second.pages) == (0, 0, 1)
    assert api.requests_to("GET", MENTIONS)[1].arg("since_id") == answer.id
    assert InboundEvent.objects.filter(workspace=workspace).count() == 4


def test_the_first_poll_reads_only_the_newest_page(
    workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    ids = [mention(api, f"old complaint {n}") for n in range(150)]

    outcome = polling.poll_channel(acme)

    assert (outcome.stored, outcome.pages) == (100, 1)
    assert stored_ids(workspace) == sorted(ids[50:])
    acme.refresh_from_db()
    assert acme.cursor == {"since_id": ids[-1]}


def test_paging_reads_every_page_then_moves_since_id(
    workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    start = mention(api, "first")
    polling.poll_channel(acme)
    ids = [mention(api, f"outage report {n}") for n in range(250)]

    outcome = polling.poll_channel(acme)

    assert (outcome.stored, outcome.duplicates, outcome.pages) == (250, 0, 3)
    assert stored_ids(workspace) == sorted([start, *ids])
    pages = api.requests_to("GET", MENTIONS)[1:]
    assert [(r.arg("since_id"), r.arg("pagination_token")) for r in pages] == [
        (start, ""),
        (start, ids[149]),
        (start, ids[49]),
    ]
    acme.refresh_from_db()
    assert acme.cursor == {"since_id": ids[-1]}


def test_a_crash_between_pages_neither_skips_nor_loses_mentions(
    workspace: Workspace, api: XStandIn, acme: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = mention(api, "first")
    polling.poll_channel(acme)
    ids = [mention(api, f"outage report {n}") for n in range(250)]
    monkeypatch.setattr(polling, "MAX_PAGES", 1)

    polling.poll_channel(acme)  # page 1 of 3, then the round ends
    acme.refresh_from_db()
    assert acme.cursor == {"since_id": start, "pagination_token": ids[149], "newest_id": ids[-1]}
    late = mention(api, "arrived while we were paging")

    def crash(**kwargs: object) -> None:
        raise RuntimeError("worker killed while storing page 2")

    monkeypatch.setattr(polling, "store_events", crash)
    with pytest.raises(RuntimeError):
        polling.poll_channel(acme)
    acme.refresh_from_db()
    assert acme.cursor["pagination_token"] == ids[149]  # nothing of page 2 was committed
    monkeypatch.setattr(polling, "store_events", inbound_services.store_events)

    rounds = [polling.poll_channel(Channel.objects.get(pk=acme.pk)) for _ in range(4)]

    assert [(r.stored, r.duplicates) for r in rounds] == [(100, 0), (50, 0), (1, 0), (0, 0)]
    assert stored_ids(workspace) == sorted([start, *ids, late])
    acme.refresh_from_db()
    assert acme.cursor == {"since_id": late}


def test_a_mention_for_another_workspaces_channel_never_lands_in_this_one(
    workspace: Workspace, other_workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    globex = connect(other_workspace, api, globex=True)
    for_acme = mention(api, "Acme dryer broken")
    for_globex = api.add_mention(of=GLOBEX_BRAND_ID, author_id=EVE_ID, text="Globex bill wrong").id

    outcomes = polling.poll_all()

    assert sorted((o.channel_id, o.stored) for o in outcomes) == sorted(
        [(acme.pk, 1), (globex.pk, 1)]
    )
    assert stored_ids(workspace) == [for_acme]
    assert stored_ids(other_workspace) == [for_globex]
    [globex_read] = api.requests_to("GET", rf"^/2/users/{GLOBEX_BRAND_ID}/mentions$")
    assert globex_read.headers["authorization"] == f"Bearer {GLOBEX_TOKEN}"
    drain()
    assert list(
        Message.objects.filter(workspace=workspace).values_list("external_id", flat=True)
    ) == [for_acme]
    assert list(
        Message.objects.filter(workspace=other_workspace).values_list("external_id", flat=True)
    ) == [for_globex]


def test_a_mention_seen_by_webhook_and_by_the_poll_is_stored_once(
    workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    assert deliver(acme, fixture_bytes("tweet_mention.json"))[0] == 200
    api.add_mention(
        of=BRAND_ID,
        author_id=DANA_ID,
        text="@AcmeSupport my 3 year old dryer stopped heating again, order 55812. "
        "Can someone help?",
        tweet_id="1849100000000000001",
        created_at=datetime(2026, 11, 2, 9, 14, tzinfo=UTC),
    )

    outcome = polling.poll_channel(acme)

    assert (outcome.stored, outcome.duplicates) == (0, 1)
    assert InboundEvent.objects.filter(workspace=workspace).count() == 1


def test_hostile_text_is_stored_verbatim_and_escaped_on_display(
    workspace: Workspace, api: XStandIn, acme: Channel, agent_client: Client
) -> None:
    tweet_id = mention(api, HOSTILE, author=EVE_ID)

    assert polling.poll_channel(acme).stored == 1

    # X sends the text HTML-escaped; what is stored is what Eve wrote, byte for byte.
    event = InboundEvent.objects.get(external_id=tweet_id)
    assert event.payload["text"] == HOSTILE
    assert event.payload["author"]["display_name"] == "Eve\r\nBcc: victim@example.com <b>"
    drain()
    case = Case.objects.get(workspace=workspace)
    assert Message.objects.get(external_id=tweet_id).text == HOSTILE
    content = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in content
    assert "<img src=x" not in content
    assert "victim@example.com &lt;b&gt;" in content


def test_a_failed_poll_stores_nothing_and_keeps_the_cursor(
    workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    start = mention(api, "first")
    polling.poll_channel(acme)
    mention(api, "second")
    api.fail_next(503, body={"title": "Service Unavailable"}, path=MENTIONS)

    outcome = polling.poll_channel(acme)

    assert (outcome.stored, outcome.error) == (0, 'HTTP 503 {"title": "Service Unavailable"}')
    acme.refresh_from_db()
    assert acme.cursor == {"since_id": start}
    assert acme.last_error == 'poll: HTTP 503 {"title": "Service Unavailable"}'
    assert stored_ids(workspace) == [start]


def test_a_page_of_the_wrong_shape_stores_nothing(
    workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    api.fail_next(200, body={"data": [{"id": "1849", "text": "no author"}]}, path=MENTIONS)

    outcome = polling.poll_channel(acme)

    assert outcome.error == "mentions page: malformed tweet: KeyError 'author_id'"
    assert InboundEvent.objects.count() == 0
    acme.refresh_from_db()
    assert acme.cursor == {}


def test_a_channel_without_an_access_token_reports_why_it_cannot_poll(
    workspace: Workspace, api: XStandIn, acme: Channel
) -> None:
    set_credentials(acme, {"consumer_secret": GLOBEX_SECRET})
    mention(api, "hello")

    outcome = polling.poll_channel(acme)

    assert outcome.error.startswith("X channel '@AcmeSupport' has no access_token")
    assert api.requests == []
    assert InboundEvent.objects.count() == 0
