"""Replies leave through the Meta connector: webhook in, case, agent reply, Graph out.

Every test runs the real path — signed webhook, pipeline, ``submit_reply``, the sender
worker — against the Graph stand-in on loopback; only the network is replaced.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fairdesk.cases.models import Case, DeliveryStatus, Message
from fairdesk.connectors import registry
from fairdesk.connectors.base import OutboundRequest, PermanentSendError
from fairdesk.connectors.meta.connector import CONNECTOR
from fairdesk.connectors.meta.standin import MetaStandIn
from fairdesk.connectors.meta.tests.conftest import (
    ACME_SECRET,
    ACME_TOKEN,
    GLOBEX_PAGE_ID,
    GLOBEX_SECRET,
    IG_ACCOUNT_ID,
    PAGE_ID,
    fixture_json,
    signature,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.inbound.pipeline import drain
from fairdesk.replies import sender
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent

GLOBEX_TOKEN = "EAAglobex-page-token-0002"
POST = f"{PAGE_ID}_220000000000001"
COMMENT = "220000000000001_330000000000001"
COMMENTER = "6100000000000001"
PSID = "6100000000000001"
IG_COMMENT = "17865799348089039"
IGSID = "6100000000000777"
VISITOR_POST = f"{PAGE_ID}_220000000000007"
REPLY = "Sorry about the dryer, Dana. A technician can come on Thursday."


@pytest.fixture
def acme(workspace: Workspace, graph: MetaStandIn) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="facebook",
        name="Acme Support (Facebook)",
        config={
            "page_id": PAGE_ID,
            "page_name": "Acme Support",
            "instagram_account_id": IG_ACCOUNT_ID,
            "instagram_username": "@acmesupport",
            "api_base": graph.url,
        },
        credentials={"app_secret": ACME_SECRET, "page_access_token": ACME_TOKEN},
    )


def deliver(channel: Channel, payload: Any, secret: str = ACME_SECRET) -> None:
    """Deliver a signed webhook and run the pipeline to the end."""
    body = json.dumps(payload).encode()
    response = Client().post(
        f"/webhooks/meta/{channel.public_id}/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature(secret, body)},
    )
    assert response.status_code == 200, response.content
    drain()


def fb_comment_case(channel: Channel, graph: MetaStandIn) -> Case:
    graph.seed_post(POST)
    graph.seed_comment(
        COMMENT, parent=POST, author_id=COMMENTER, author_name="Dana Whitfield", text="help"
    )
    deliver(channel, fixture_json("page_comment.json"))
    return Case.objects.get(workspace=channel.workspace, origin_channel="facebook")


def ig_comment_case(channel: Channel, graph: MetaStandIn) -> Case:
    graph.seed_instagram_comment(
        IG_COMMENT,
        account_id=IG_ACCOUNT_ID,
        author_id="17841455500000001",
        username="lena.k",
        text="Does the DX-300 come in white?",
    )
    deliver(channel, fixture_json("instagram_comment.json"))
    return Case.objects.get(workspace=channel.workspace, origin_channel="instagram")


def messenger_case(channel: Channel, graph: MetaStandIn, *, hours_ago: int = 1) -> Case:
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    graph.seed_message(PAGE_ID, PSID, "Hi, order 55812, the dryer is the DX-300.", at=at)
    deliver(channel, fixture_json("messenger_message.json"))
    return Case.objects.get(workspace=channel.workspace, origin_channel="messenger")


def ig_dm_case(channel: Channel, graph: MetaStandIn) -> Case:
    graph.seed_message(PAGE_ID, IGSID, "Where is my order 55813?", platform="instagram")
    deliver(channel, fixture_json("instagram_dm.json"))
    return Case.objects.get(workspace=channel.workspace, origin_channel="instagram")


def reply(case: Case, agent: Agent, visibility: str, text: str = REPLY) -> OutboxMessage:
    return submit_reply(
        case=case, agent=agent, text=text, visibility=visibility, idempotency_key=f"k-{case.pk}"
    )


def sent_message(outbox: OutboxMessage) -> Message:
    return Message.objects.get(pk=outbox.message_id)


def test_a_page_comment_gets_exactly_one_comment_reply(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(fb_comment_case(acme, graph), agent, "public")

    assert send_pending() == 1
    [posted] = graph.replies_to(COMMENT)
    assert (posted.text, posted.author_id, posted.parent) == (f"{REPLY} ^JC", PAGE_ID, COMMENT)
    assert posted.id.startswith("220000000000001_")
    message = sent_message(outbox)
    assert (message.channel, message.external_id) == ("facebook", posted.id)
    assert message.delivery_status == DeliveryStatus.SENT
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts, outbox.account_id) == ("sent", 1, acme.pk)
    [request] = graph.requests_to("POST", r"/comments$")
    assert request.path == f"/v25.0/{COMMENT}/comments"
    assert request.headers["authorization"] == f"Bearer {ACME_TOKEN}"
    # Meta's feed webhook for our own comment folds into the reply: one message, not two.
    deliver(acme, graph.feed_webhook(posted.id))
    assert list(Message.objects.filter(external_id=posted.id).values_list("pk", flat=True)) == [
        message.pk
    ]


def test_an_instagram_comment_gets_a_reply_under_it(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(ig_comment_case(acme, graph), agent, "public", "Yes, in white and in grey.")

    assert send_pending() == 1
    [posted] = graph.replies_to(IG_COMMENT)
    assert (posted.text, posted.author_id, posted.instagram) == (
        "Yes, in white and in grey. ^JC",
        IG_ACCOUNT_ID,
        True,
    )
    assert [r.path for r in graph.requests] == [f"/v25.0/{IG_COMMENT}/replies"]
    assert sent_message(outbox).external_id == posted.id


def test_a_messenger_message_is_answered_in_messenger(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(messenger_case(acme, graph), agent, "private")

    assert send_pending() == 1
    assert graph.sent == [
        {
            "page_id": PAGE_ID,
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"text": f"{REPLY} ^JC"},
        }
    ]
    mid = graph.messages_with(PAGE_ID, PSID)[-1]["id"]
    assert mid.startswith("m_")
    message = sent_message(outbox)
    assert (message.channel, message.external_id) == ("messenger", mid)
    # The message_echoes webhook of this very reply is the same message.
    deliver(acme, graph.echo_webhook(PAGE_ID, PSID, mid))
    assert list(Message.objects.filter(external_id=mid).values_list("pk", flat=True)) == [
        message.pk
    ]


def test_an_instagram_dm_is_answered_by_dm_with_the_parsers_id(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(ig_dm_case(acme, graph), agent, "private", "It left our depot today.")

    assert send_pending() == 1
    [body] = graph.sent
    assert body["recipient"] == {"id": IGSID}
    sent = graph.messages_with(PAGE_ID, IGSID)[-1]
    assert (sent["from"], sent["message"]) == (
        {"id": IG_ACCOUNT_ID},
        "It left our depot today. ^JC",
    )
    message = sent_message(outbox)
    assert (message.channel, message.external_id) == ("instagram", "dm-" + sent["id"])
    deliver(acme, graph.echo_webhook(PAGE_ID, IGSID, sent["id"]))
    assert Message.objects.filter(external_id="dm-" + sent["id"]).count() == 1


def test_a_private_reply_to_a_page_comment_uses_the_comment_id(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(fb_comment_case(acme, graph), agent, "private", "I sent you the details.")

    assert send_pending() == 1
    assert graph.sent == [
        {
            "page_id": PAGE_ID,
            "recipient": {"comment_id": COMMENT},
            "messaging_type": "RESPONSE",
            "message": {"text": "I sent you the details. ^JC"},
        }
    ]
    [private] = graph.messages_with(PAGE_ID, COMMENTER)
    assert private["message"] == "I sent you the details. ^JC"
    assert graph.replies_to(COMMENT) == []  # nothing public
    assert sent_message(outbox).external_id == private["id"]


def visitor_post_case(channel: Channel, graph: MetaStandIn) -> Case:
    graph.seed_post(VISITOR_POST)
    payload = fixture_json("visitor_photo_post.json")
    payload["entry"][0]["changes"] = payload["entry"][0]["changes"][1:2]  # the text post
    deliver(channel, payload)
    return Case.objects.get(workspace=channel.workspace, origin_channel="facebook")


def test_a_visitor_post_gets_a_public_comment_or_one_private_reply(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    case = visitor_post_case(acme, graph)
    public = reply(case, agent, "public", "Yes, 10:00 to 16:00.")
    private = submit_reply(
        case=case,
        agent=agent,
        text="Here is the address.",
        visibility="private",
        idempotency_key="k-private",
    )

    assert send_pending() == 2

    [comment] = graph.replies_to(VISITOR_POST)
    assert (comment.text, comment.author_id) == ("Yes, 10:00 to 16:00. ^JC", PAGE_ID)
    assert comment.id.startswith("220000000000007_")
    assert sent_message(public).external_id == comment.id
    [body] = graph.sent
    assert body["recipient"] == {"post_id": VISITOR_POST}
    [message] = graph.messages_with(PAGE_ID, VISITOR_POST)  # the stand-in keys it by post
    assert sent_message(private).external_id == message["id"]


def test_throttling_waits_until_meta_says_without_spending_an_attempt(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(fb_comment_case(acme, graph), agent, "public")
    usage = {
        PAGE_ID: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 31,
                "total_time": 44,
                "estimated_time_to_regain_access": 17,
            }
        ]
    }
    graph.refuse_next(
        613,
        "(#613) Calls to this api have exceeded the rate limit.",
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )

    before = timezone.now()
    assert send_pending() == 0
    after = timezone.now()

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("pending", 0)
    assert before + timedelta(minutes=17) <= outbox.available_at <= after + timedelta(minutes=17)
    assert outbox.last_error.startswith("waiting: rate limited until")
    assert "Graph error 613" in outbox.last_error
    acme.refresh_from_db()
    assert acme.send_blocked_until == outbox.available_at
    assert graph.replies_to(COMMENT) == []
    assert send_pending() == 0  # nothing is due before Meta's regain time
    assert len(graph.requests_to("POST", "/comments")) == 1
    # Once the time has passed the reply goes out, once.
    past = timezone.now() - timedelta(seconds=1)
    OutboxMessage.objects.filter(pk=outbox.pk).update(available_at=past)
    Channel.objects.filter(pk=acme.pk).update(send_blocked_until=past)
    assert send_pending() == 1
    assert [c.text for c in graph.replies_to(COMMENT)] == [f"{REPLY} ^JC"]


def test_outside_the_24_hour_window_the_reply_is_dead_at_once_with_the_reason(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(messenger_case(acme, graph, hours_ago=25), agent, "private")

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("dead", 1)
    assert outbox.last_error == (
        "PermanentSendError: HTTP 400 Graph error 10/2018278 (OAuthException): (#10) This "
        "message is sent outside of allowed window. — the customer's 24-hour messaging "
        "window has closed"
    )
    assert sent_message(outbox).delivery_status == DeliveryStatus.FAILED
    assert graph.sent == []


def test_a_server_error_is_retried_later_and_reconciled_first(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    outbox = reply(fb_comment_case(acme, graph), agent, "public")
    graph.fail_next(503, body=b"<html>Service Unavailable</html>", method="POST")

    before = timezone.now()
    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("pending", 1)
    assert outbox.available_at >= before + timedelta(seconds=30)
    assert outbox.last_error == "SendError: HTTP 503 <html>Service Unavailable</html>"
    OutboxMessage.objects.filter(pk=outbox.pk).update(available_at=timezone.now())
    assert send_pending() == 1
    assert len(graph.requests_to("GET", f"/{COMMENT}/comments$")) == 1  # looked first
    assert [c.text for c in graph.replies_to(COMMENT)] == [f"{REPLY} ^JC"]


def test_a_transient_graph_code_is_retried(acme: Channel, graph: MetaStandIn, agent: Agent) -> None:
    outbox = reply(messenger_case(acme, graph), agent, "private")
    graph.refuse_next(2, "An unexpected error has occurred. Please retry your request later.")

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("pending", 1)
    assert "Graph error 2 (OAuthException)" in outbox.last_error


Opener = Callable[[Channel, MetaStandIn], Case]


def _count_fb(graph: MetaStandIn) -> int:
    return len(graph.replies_to(COMMENT))


def _count_ig(graph: MetaStandIn) -> int:
    return len(graph.replies_to(IG_COMMENT))


def _count_messenger(graph: MetaStandIn) -> int:
    return len(graph.messages_with(PAGE_ID, PSID)) - 1  # less the customer's message


def _count_private(graph: MetaStandIn) -> int:
    return len(graph.messages_with(PAGE_ID, COMMENTER))


def _count_ig_dm(graph: MetaStandIn) -> int:
    return len(graph.messages_with(PAGE_ID, IGSID)) - 1


@pytest.mark.parametrize(
    ("opener", "visibility", "count"),
    [
        (fb_comment_case, "public", _count_fb),
        (ig_comment_case, "public", _count_ig),
        (messenger_case, "private", _count_messenger),
        (fb_comment_case, "private", _count_private),
        (ig_dm_case, "private", _count_ig_dm),
    ],
    ids=["page-comment", "instagram-comment", "messenger", "private-reply", "instagram-dm"],
)
def test_a_crash_after_meta_accepted_is_reconciled_not_posted_twice(
    acme: Channel,
    graph: MetaStandIn,
    agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
    opener: Opener,
    visibility: str,
    count: Callable[[MetaStandIn], int],
) -> None:
    outbox = reply(opener(acme, graph), agent, visibility)

    def killed(**kwargs: object) -> None:
        raise SystemExit("worker killed between the Graph call and the commit")

    monkeypatch.setattr(sender, "_commit_sent", killed)
    with pytest.raises(SystemExit):
        send_pending()
    monkeypatch.undo()
    assert count(graph) == 1
    writes = len(graph.requests_to("POST", ""))
    # The dead worker's lease runs out; another worker claims the row and looks first.
    OutboxMessage.objects.filter(pk=outbox.pk).update(lease_until=datetime(2020, 1, 1, tzinfo=UTC))

    assert send_pending() == 1

    assert count(graph) == 1
    assert len(graph.requests_to("POST", "")) == writes
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("sent", 2)
    assert sent_message(outbox).external_id not in (None, "")


def test_each_workspace_sends_through_its_own_page_and_token(
    acme: Channel,
    graph: MetaStandIn,
    agent: Agent,
    other_workspace: Workspace,
) -> None:
    graph.add_page(GLOBEX_PAGE_ID, GLOBEX_TOKEN, name="Globex Help")
    globex = create_channel(
        workspace=other_workspace,
        kind="facebook",
        name="Globex Help",
        config={"page_id": GLOBEX_PAGE_ID, "api_base": graph.url},
        credentials={"app_secret": GLOBEX_SECRET, "page_access_token": GLOBEX_TOKEN},
    )
    globex_post, globex_comment = f"{GLOBEX_PAGE_ID}_220000000000077", "220000000000077_3300077"
    graph.seed_post(globex_post)
    graph.seed_comment(
        globex_comment,
        parent=globex_post,
        author_id="6100000000000099",
        author_name="Lee",
        text="x",
    )
    payload = fixture_json("page_comment.json")
    payload["entry"][0]["id"] = GLOBEX_PAGE_ID
    value = payload["entry"][0]["changes"][0]["value"]
    value.update(
        post_id=globex_post,
        parent_id=globex_post,
        comment_id=globex_comment,
        **{"from": {"id": "6100000000000099", "name": "Lee"}},
    )
    deliver(globex, payload, GLOBEX_SECRET)
    globex_agent = create_agent(
        workspace=other_workspace,
        username="gg",
        password="pw-1234567890",
        display_name="G",
        initials="GG",
    )
    reply(fb_comment_case(acme, graph), agent, "public", "Acme here.")
    reply(Case.objects.get(workspace=other_workspace), globex_agent, "public", "Globex here.")

    assert send_pending() == 2

    [acme_reply] = graph.replies_to(COMMENT)
    [globex_reply] = graph.replies_to(globex_comment)
    assert (acme_reply.author_id, acme_reply.text) == (PAGE_ID, "Acme here. ^JC")
    assert (globex_reply.author_id, globex_reply.text) == (GLOBEX_PAGE_ID, "Globex here. ^GG")
    tokens = {r.path: r.headers["authorization"] for r in graph.requests_to("POST", "")}
    assert tokens == {
        f"/v25.0/{COMMENT}/comments": f"Bearer {ACME_TOKEN}",
        f"/v25.0/{globex_comment}/comments": f"Bearer {GLOBEX_TOKEN}",
    }
    # Acme's token cannot answer on Globex's Page, even if asked to.
    request = OutboundRequest(
        idempotency_key="cross",
        text="hi",
        visibility="public",
        channel="facebook",
        in_reply_to=globex_comment,
    )
    with pytest.raises(PermanentSendError, match="Unsupported post request"):
        CONNECTOR.send(registry.account(acme), request)
    assert len(graph.replies_to(globex_comment)) == 1


def test_hostile_text_goes_out_verbatim_as_json(
    acme: Channel, graph: MetaStandIn, agent: Agent
) -> None:
    hostile = (
        '<script>alert("x")</script> <b>bold</b>\r\nBcc: all@example.com\r\n'
        '=HYPERLINK("https://evil.example","open") & ; %0d%0a'
    )
    outbox = reply(fb_comment_case(acme, graph), agent, "public", hostile)

    assert send_pending() == 1

    [request] = graph.requests_to("POST", "/comments$")
    assert request.headers["content-type"] == "application/json"
    assert "bcc" not in request.headers
    assert json.loads(request.body) == {"message": f"{hostile} ^JC"}
    [posted] = graph.replies_to(COMMENT)
    assert posted.text == f"{hostile} ^JC"
    assert sent_message(outbox).external_id == posted.id


def test_a_channel_without_a_page_token_is_dead_at_once(
    workspace: Workspace, graph: MetaStandIn, agent: Agent
) -> None:
    channel = create_channel(
        workspace=workspace,
        kind="facebook",
        name="No token",
        config={"page_id": PAGE_ID, "api_base": graph.url},
        credentials={"app_secret": ACME_SECRET},
    )
    outbox = reply(fb_comment_case(channel, graph), agent, "public")

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("dead", 1)
    assert outbox.last_error == (
        "MissingToken: Meta channel 'No token' has no page_access_token: connect the Page "
        "with a Page access token (pages_manage_engagement, pages_messaging, "
        "instagram_manage_comments, instagram_manage_messages)"
    )
    assert graph.requests == []
