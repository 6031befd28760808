"""The demo against its stand-in platforms: channels connected to them once, customers'
posts in through webhooks and polling, agents' replies out through the connectors."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from fairdesk.cases.models import Case, Message
from fairdesk.connectors import registry
from fairdesk.connectors.models import Channel
from fairdesk.connectors.polling import poll_all
from fairdesk.connectors.secrets import credentials
from fairdesk.connectors.services import WebhookRejected, create_channel
from fairdesk.demo import platform_ids as ids
from fairdesk.demo.channels import connect_channels
from fairdesk.demo.delivery import deliver
from fairdesk.demo.guide import story_cases
from fairdesk.demo.loading import (
    ORDINARY_MESSAGES,
    LoadSummary,
    dana_case,
    load_demo_stream,
    send_all,
)
from fairdesk.demo.platforms import DemoPlatforms, register, start_platforms
from fairdesk.demo.received import (
    Received,
    bluesky_received,
    mastodon_received,
    meta_received,
    x_received,
)
from fairdesk.demo.setup import DemoWorkspace, ensure_demo_workspace
from fairdesk.demo.stream import author, message, ordinary_records
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace

from .conftest import NOW

REPLY = "Thanks for telling us, we are checking this for you right now."
SIGNED = REPLY + " ^JC"
RECEIVED_BY = {
    "x": x_received,
    "facebook": meta_received,
    "instagram": meta_received,
    "mastodon": mastodon_received,
    "bluesky": bluesky_received,
}


def reply(
    demo: DemoWorkspace, case: Case, text: str, *, key: str, private_on: str = ""
) -> OutboxMessage:
    """Jo's reply on ``case``: public, or private on the channel ``private_on``."""
    return submit_reply(
        case=case,
        agent=demo.agents["jo"],
        text=text,
        visibility="private" if private_on else "public",
        idempotency_key=key,
        channel=private_on,
    )


def test_restarting_twice_keeps_one_channel_per_platform_with_the_new_addresses(
    db: None, tmp_path: Path, other_workspace: Workspace
) -> None:
    demo = ensure_demo_workspace(data_dir=tmp_path)
    theirs = create_channel(
        workspace=other_workspace,
        kind="x",
        name="@AcmeSupport",
        config={"brand_user_id": "1000000999", "brand_handle": "@AcmeSupport"},
        credentials={"consumer_secret": "globex-secret", "access_token": "globex-token"},
    )
    first_ids = None
    for _start in range(3):  # the first start and two restarts
        Channel.objects.filter(workspace=demo.workspace).update(cursor={"since_id": "99"})
        platforms = start_platforms()
        try:
            connected = connect_channels(workspace=demo.workspace, platforms=platforms)
            urls = [platforms.x.url, platforms.meta.url, platforms.mastodon.url]
            urls.append(platforms.bluesky.url)
        finally:
            platforms.stop()
        ids_now = {kind: channel.pk for kind, channel in connected.items()}
        first_ids = first_ids or ids_now
        assert ids_now == first_ids
    channels = {c.kind: c for c in Channel.objects.filter(workspace=demo.workspace)}
    assert sorted(channels) == ["bluesky", "facebook", "mastodon", "x"]
    assert Channel.objects.count() == 5
    keys = platforms.secrets
    x, meta = channels["x"], channels["facebook"]
    mastodon, bluesky = channels["mastodon"], channels["bluesky"]
    assert [
        x.config["api_base"],
        meta.config["api_base"],
        mastodon.config["instance_url"],
        bluesky.config["service_url"],
    ] == urls
    assert credentials(x) == {
        "consumer_secret": keys.x_consumer_secret,
        "access_token": keys.x_access_token,
    }
    assert credentials(meta) == {
        "app_secret": keys.meta_app_secret,
        "verify_token": keys.meta_verify_token,
        "page_access_token": keys.meta_page_token,
    }
    assert credentials(mastodon) == {"access_token": keys.mastodon_token}
    assert credentials(bluesky) == {
        "identifier": ids.BLUESKY_HANDLE,
        "app_password": keys.bluesky_password,
    }
    assert [c.cursor for c in channels.values()] == [{}, {}, {}, {}]
    theirs.refresh_from_db()
    assert theirs.config["api_base"] == "https://api.x.com"
    assert credentials(theirs)["access_token"] == "globex-token"


def test_every_story_arrived_through_its_platform(demo: DemoWorkspace, loaded: LoadSummary) -> None:
    """Webhooks (source x, meta), polling (mastodon, bluesky); the rest as before, and the
    brand's earlier replies on Mastodon and Bluesky, which no notification carries."""
    history = {
        (r["channel"], "demo")
        for r in ordinary_records(NOW, ORDINARY_MESSAGES)
        if r["channel"] in ("mastodon", "bluesky") and r["direction"] == "outbound"
    }
    sources = set(
        InboundEvent.objects.filter(workspace=demo.workspace).values_list("channel", "source")
    )
    assert sources == {
        ("x", "x"),
        ("facebook", "meta"),
        ("instagram", "meta"),
        ("mastodon", "mastodon"),
        ("bluesky", "bluesky"),
        ("email", "demo"),
        ("webform", "demo"),
        ("phone", "demo"),
        *history,
    }


def test_after_loading_the_platforms_received_the_acknowledgement_and_danas_dms(
    demo: DemoWorkspace, platforms: DemoPlatforms, loaded: LoadSummary
) -> None:
    case = story_cases(demo.workspace).security
    assert case is not None
    ack, *dms = x_received(platforms)
    # Dana's portal link, her sign-in code, the notice of Jo's answer in the portal and
    # the thanks for confirming (dryer.py).
    assert [(d.what, d.to) for d in dms] == [("direct message", ids.x_user_id("x-dana-r"))] * 4
    assert "/portal/demo/l/" in dms[0].text
    assert dms[1].text.startswith("Your code for the Acme Appliances & Air support portal is ")
    assert dms[2].text.startswith("You have a new reply on your case")
    assert dms[3].text.startswith("Thank you for confirming.")
    assert (ack.what, ack.to) == ("reply", ids.x_tweet_id("story-security"))
    assert case.reference in ack.text
    sent = OutboxMessage.objects.get(case=case)
    assert (sent.message.external_id, sent.message.text) == (ack.platform_id, ack.text)
    assert meta_received(platforms) == []
    assert mastodon_received(platforms) == []
    assert bluesky_received(platforms) == []


def test_an_agents_public_reply_reaches_the_cases_platform_once(
    demo: DemoWorkspace, platforms: DemoPlatforms, loaded: LoadSummary
) -> None:
    """One case per platform (ordinary traffic; the security case has its acknowledgement)."""
    for channel, received_by in RECEIVED_BY.items():
        case = (
            Case.objects.filter(workspace=demo.workspace, origin_channel=channel)
            .exclude(outbox__isnull=False)
            .order_by("id")
            .first()
        )
        assert case is not None
        answered = case.messages.filter(direction="inbound", visibility="public").latest("sent_at")
        assert answered.identity is not None
        # Mastodon replies start with the customer's @handle, or they would notify nobody.
        mention = answered.identity.handle + " " if channel == "mastodon" else ""
        before = received_by(platforms)
        outbox = reply(demo, case, REPLY, key=f"demo-{channel}")
        assert send_all() == 1
        assert reply(demo, case, REPLY, key=f"demo-{channel}") == outbox  # the same click
        assert send_all() == 0
        new = [item for item in received_by(platforms) if item not in before]
        assert [(n.to, n.text) for n in new] == [(answered.external_id, mention + SIGNED)]
        outbox.refresh_from_db()
        assert outbox.status == OutboxMessage.Status.SENT
        assert outbox.message.external_id == new[0].platform_id
        assert outbox.account is not None
        assert outbox.account.kind == ("facebook" if channel == "instagram" else channel)


def test_an_x_reply_is_posted_once_even_when_the_sender_died_after_posting(
    demo: DemoWorkspace, platforms: DemoPlatforms, loaded: LoadSummary
) -> None:
    case = story_cases(demo.workspace).loud_customer
    assert case is not None
    outbox = reply(demo, case, REPLY, key="killed-after-posting")
    channel = Channel.objects.get(workspace=demo.workspace, kind="x")
    connector = registry.connector("x")
    assert connector is not None
    # A sender posted it, then was killed before recording that: its claim runs out.
    posted = connector.send(registry.account(channel), build_request(outbox))
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        status=OutboxMessage.Status.SENDING,
        claim_token="killed-worker",
        lease_until=NOW - timedelta(minutes=1),
        attempts=1,
    )
    assert send_all() == 1
    replies = [t for t in x_received(platforms) if t.to == ids.x_tweet_id("story-angry")]
    assert replies == [Received("reply", ids.x_tweet_id("story-angry"), SIGNED, posted)]
    outbox.refresh_from_db()
    assert (outbox.status, outbox.message.external_id) == (OutboxMessage.Status.SENT, posted)


def test_a_private_reply_to_dana_is_an_x_dm_to_her(
    demo: DemoWorkspace, platforms: DemoPlatforms, loaded: LoadSummary
) -> None:
    case = dana_case(demo.workspace)
    assert case is not None
    before = x_received(platforms)
    reply(demo, case, REPLY, key="dana-dm", private_on="x")
    assert send_all() == 1
    dms = [item for item in x_received(platforms) if item not in before]
    assert [(d.to, d.text) for d in dms] == [(ids.x_user_id("x-dana-r"), SIGNED)]


HOSTILE_NAME = 'Eve\r\nBcc: victim@example.com <script>alert("name")</script>'
HOSTILE_TEXT = (
    '<img src=x onerror=alert(1)> =HYPERLINK("http://evil.example","x") & my AP-200 '
    "filter leaks\r\nsince Monday"
)


def test_a_mastodon_mention_arrives_by_polling_into_a_case(
    demo: DemoWorkspace, platforms: DemoPlatforms, other_workspace: Workspace
) -> None:
    eve = author("mastodon-eve", "@eve", HOSTILE_NAME, followers=3)
    omar = author("mastodon-omar", "@omar", "Omar", followers=None)
    records = [
        message("mastodon", "eve-1", HOSTILE_TEXT, by=eve, at=NOW),
        message("mastodon", "omar-1", "Where is my order 88341?", by=omar, at=NOW),
    ]
    delivered = deliver(workspace=demo.workspace, platforms=platforms, records=records)
    assert (delivered.stored, delivered.seeded) == (0, 2)
    assert not InboundEvent.objects.exists()  # on Mastodon only, until polled
    outcomes = {o.channel_id: o for o in poll_all()}
    mastodon = Channel.objects.get(workspace=demo.workspace, kind="mastodon")
    assert (outcomes[mastodon.pk].stored, outcomes[mastodon.pk].error) == (2, "")
    drain()
    eve_message = Message.objects.get(
        channel="mastodon", external_id=ids.mastodon_status_id("eve-1")
    )
    assert eve_message.text == HOSTILE_TEXT.replace("\r\n", "\n")
    assert eve_message.case is not None and eve_message.case.origin_channel == "mastodon"
    identity = eve_message.identity
    assert identity is not None
    assert identity.display_name == HOSTILE_NAME
    assert (identity.external_id, identity.handle) == (
        ids.mastodon_account_id("mastodon-eve"),
        "@eve",
    )
    omar_message = Message.objects.get(
        channel="mastodon", external_id=ids.mastodon_status_id("omar-1")
    )
    assert omar_message.case is not None and omar_message.case != eve_message.case
    assert not Message.objects.filter(workspace=other_workspace).exists()
    again = deliver(workspace=demo.workspace, platforms=platforms, records=records)
    assert (again.seeded, again.duplicates) == (0, 2)
    assert sum(o.stored for o in poll_all()) == 0


def test_the_platforms_page_shows_what_left_escaped(
    client: Client,
    settings: Any,
    demo: DemoWorkspace,
    platforms: DemoPlatforms,
    loaded: LoadSummary,
    outsider: Agent,
) -> None:
    settings.ROOT_URLCONF = "fairdesk.demo.urls"
    register(platforms)
    case = Case.objects.filter(workspace=demo.workspace, origin_channel="mastodon").first()
    assert case is not None
    hostile = '<script>alert("reply")</script> Thanks & see you =SUM(A1)'
    reply(demo, case, hostile, key="hostile")
    assert send_all() == 1
    client.force_login(demo.agents["jo"].user)
    page = client.get("/demo/platforms/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "&lt;script&gt;alert(&quot;reply&quot;)&lt;/script&gt; Thanks &amp; see you" in body
    assert "<script>alert" not in body
    assert "Our security team has it now" in body
    client.force_login(outsider.user)
    assert client.get("/demo/platforms/").status_code == 404
    client.force_login(demo.agents["jo"].user)
    register(None)
    assert client.get("/demo/platforms/").status_code == 404


def test_the_platforms_page_exists_only_in_the_demo(
    client: Client, demo: DemoWorkspace, platforms: DemoPlatforms
) -> None:
    register(platforms)
    client.force_login(demo.agents["jo"].user)
    assert client.get("/demo/platforms/").status_code == 404


def test_a_restarted_demo_delivers_the_stream_again_as_duplicates_and_can_reply(
    demo: DemoWorkspace, platforms: DemoPlatforms, loaded: LoadSummary
) -> None:
    messages = Message.objects.count()
    case = Case.objects.filter(workspace=demo.workspace, origin_channel="bluesky").first()
    assert case is not None
    restarted = start_platforms()
    try:
        connect_channels(workspace=demo.workspace, platforms=restarted)
        again = load_demo_stream(demo.workspace, NOW + timedelta(minutes=5), platforms=restarted)
        assert (again.stored, again.duplicates, again.sent) == (0, loaded.stored, 0)
        assert Message.objects.count() == messages
        # The new Bluesky holds the earlier posts again, so they can still be answered.
        reply(demo, case, REPLY, key="after-restart")
        assert send_all() == 1
        [sent] = bluesky_received(restarted)
        answered = case.messages.get(direction="inbound")
        assert (sent.to, sent.text) == (answered.external_id, SIGNED)
    finally:
        restarted.stop()


def test_a_delivery_signed_with_a_previous_starts_secret_is_refused(
    demo: DemoWorkspace, platforms: DemoPlatforms
) -> None:
    restarted = start_platforms()
    try:
        connect_channels(workspace=demo.workspace, platforms=restarted)
        tweet = message(
            "x", "stale-1", "Is anyone there?", by=author("x-sam", "@sam", "Sam"), at=NOW
        )
        with pytest.raises(WebhookRejected) as refused:
            deliver(workspace=demo.workspace, platforms=platforms, records=[tweet])
        assert (refused.value.status, refused.value.reason) == (401, "bad signature")
        assert not InboundEvent.objects.exists()
        delivered = deliver(workspace=demo.workspace, platforms=restarted, records=[tweet])
        assert (delivered.stored, delivered.duplicates) == (1, 0)
    finally:
        restarted.stop()
