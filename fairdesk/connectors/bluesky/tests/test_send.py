"""Replies leaving through the outbox to a Bluesky stand-in: posts, chat, crashes, limits."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from fairdesk.cases.models import Case, DeliveryStatus, Message
from fairdesk.connectors import http, polling, registry
from fairdesk.connectors.base import OutboundRequest, PermanentSendError, SendError
from fairdesk.connectors.bluesky.adapter import record_key
from fairdesk.connectors.bluesky.connector import CONNECTOR
from fairdesk.connectors.bluesky.standin import BlueskyStandIn
from fairdesk.connectors.bluesky.tests.conftest import ACME_DID, DANA, GLOBEX_DID, OMAR, mention
from fairdesk.connectors.models import Channel
from fairdesk.inbound.pipeline import drain
from fairdesk.replies import sender
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent

CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ANSWER = "Sorry about the dryer, Dana. A technician will call you today."


def ref(post: dict[str, Any]) -> dict[str, str]:
    return {"uri": post["uri"], "cid": post["cid"]}


def case_for(channel: Channel, post: dict[str, Any]) -> Case:
    """Poll the channel and run the pipeline; the case holding ``post``."""
    polling.poll_channel(Channel.objects.get(pk=channel.pk))
    drain()
    case = Message.objects.get(workspace_id=channel.workspace_id, external_id=post["uri"]).case
    assert case is not None
    return case


def created(bsky: BlueskyStandIn, did: str, key: str, workspace: Workspace) -> dict[str, Any]:
    rkey = record_key(workspace_id=workspace.pk, idempotency_key=key)
    [found] = [r for r in bsky.created_posts(did) if r["uri"].endswith("/" + rkey)]
    return found


def root_time(post: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(post["indexedAt"])


def test_a_reply_is_posted_in_the_thread_of_the_mention(
    workspace: Workspace,
    agent: Agent,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social my dryer stopped heating", minutes=0)
    case = case_for(acme_channel, post)
    outbox = submit_reply(
        case=case, agent=agent, text=ANSWER, visibility="public", idempotency_key="k-1"
    )
    assert send_pending() == 1
    [record] = bsky.created_posts(ACME_DID)
    rkey = record_key(workspace_id=workspace.pk, idempotency_key="k-1")
    assert record["uri"] == f"at://{ACME_DID}/app.bsky.feed.post/{rkey}"
    value = dict(record["value"])
    assert CREATED_AT.match(value.pop("createdAt"))
    assert value == {
        "$type": "app.bsky.feed.post",
        "text": f"{ANSWER} ^JC",
        "reply": {"root": ref(post), "parent": ref(post)},
    }
    message = Message.objects.get(pk=outbox.message_id)
    assert (message.external_id, message.delivery_status) == (record["uri"], DeliveryStatus.SENT)
    [lookup] = bsky.requests_to("GET", "getPosts")
    assert lookup.query == {"uris": [post["uri"]]}
    assert bsky.created_posts(GLOBEX_DID) == []


def test_a_reply_to_a_reply_keeps_the_root_and_answers_the_parent(
    workspace: Workspace, agent: Agent, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    root = mention(bsky, DANA, "@acmesupport.bsky.social dryer broken", minutes=0)
    brand = bsky.accounts[ACME_DID].profile
    ours = bsky.seed_post(
        author=brand,
        text="Sorry! A replacement element is on its way. ^JC",
        at=root_time(root) + timedelta(minutes=5),
        reply_to=root["uri"],
    )
    follow_up = mention(
        bsky,
        DANA,
        "Arrived, still trips the breaker",
        minutes=10,
        reason="reply",
        reply_to=ours["uri"],
    )
    case = case_for(acme_channel, follow_up)
    submit_reply(case=case, agent=agent, text=ANSWER, visibility="public", idempotency_key="k-2")
    assert send_pending() == 1
    reply = created(bsky, ACME_DID, "k-2", workspace)["value"]["reply"]
    assert reply == {"root": ref(root), "parent": ref(follow_up)}


def test_a_crash_after_posting_is_reconciled_to_exactly_one_post(
    workspace: Workspace,
    agent: Agent,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social dryer broken", minutes=0)
    outbox = submit_reply(
        case=case_for(acme_channel, post),
        agent=agent,
        text=ANSWER,
        visibility="public",
        idempotency_key="k-crash",
    )

    def killed(**kwargs: object) -> None:
        raise SystemExit("worker killed between the platform call and the commit")

    monkeypatch.setattr(sender, "_commit_sent", killed)
    with pytest.raises(SystemExit):
        send_pending()
    assert len(bsky.created_posts(ACME_DID)) == 1
    monkeypatch.undo()
    OutboxMessage.objects.filter(pk=outbox.pk).update(lease_until=datetime(2020, 1, 1, tzinfo=UTC))
    assert send_pending() == 1
    [record] = bsky.created_posts(ACME_DID)
    assert len(bsky.requests_to("POST", "createRecord")) == 1
    assert len(bsky.requests_to("GET", "getRecord")) == 1
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == (OutboxMessage.Status.SENT, 2)
    assert Message.objects.get(pk=outbox.message_id).external_id == record["uri"]


def test_a_second_create_at_the_same_key_is_the_first_post(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social hello", minutes=0)
    account = registry.account(acme_channel)
    request = OutboundRequest(
        idempotency_key="k-race", text="On it ^JC", visibility="public", in_reply_to=post["uri"]
    )
    assert CONNECTOR.find_sent(account, request) is None
    first = CONNECTOR.send(account, request)
    # a worker whose lease ran out sends again: the PDS refuses the key, the post is found
    assert CONNECTOR.send(account, request) == first
    assert CONNECTOR.find_sent(account, request) == first
    assert [r["uri"] for r in bsky.created_posts(ACME_DID)] == [first]
    assert len(bsky.requests_to("POST", "createRecord")) == 2


def test_an_expired_access_token_is_refreshed_before_posting(
    workspace: Workspace, agent: Agent, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social dryer", minutes=0)
    submit_reply(
        case=case_for(acme_channel, post),
        agent=agent,
        text=ANSWER,
        visibility="public",
        idempotency_key="k-3",
    )
    bsky.expire_access_tokens()
    assert send_pending() == 1
    assert len(bsky.created_posts(ACME_DID)) == 1
    assert len(bsky.requests_to("POST", "refreshSession")) == 1
    assert len(bsky.requests_to("POST", "createSession")) == 1


def test_a_429_waits_until_the_reset_without_spending_an_attempt(
    workspace: Workspace, agent: Agent, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social dryer", minutes=0)
    outbox = submit_reply(
        case=case_for(acme_channel, post),
        agent=agent,
        text=ANSWER,
        visibility="public",
        idempotency_key="k-4",
    )
    bsky.fail_next(
        429,
        path="createRecord",
        headers={
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": "1893456000",
            "ratelimit-policy": "5000;w=3600",
        },
        body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
    )
    reset = datetime(2030, 1, 1, tzinfo=UTC)
    assert send_pending() == 0
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts, outbox.available_at) == ("pending", 0, reset)
    assert Channel.objects.get(pk=acme_channel.pk).send_blocked_until == reset
    assert send_pending() == 0  # nothing is due before the reset: no spinning
    assert len(bsky.requests_to("POST", "createRecord")) == 1
    assert bsky.created_posts(ACME_DID) == []
    OutboxMessage.objects.filter(pk=outbox.pk).update(available_at=timezone.now())
    Channel.objects.filter(pk=acme_channel.pk).update(send_blocked_until=None)
    assert send_pending() == 1
    assert len(bsky.created_posts(ACME_DID)) == 1


def test_the_own_budget_follows_blueskys_points() -> None:
    # 5,000 points an hour per account; a created record costs 3 (docs.bsky.app Rate Limits)
    assert CONNECTOR.rate_limit is not None
    assert (CONNECTOR.rate_limit.posts, CONNECTOR.rate_limit.window) == (1666, timedelta(hours=1))


def test_over_300_graphemes_is_refused_not_truncated(
    workspace: Workspace, agent: Agent, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social dryer", minutes=0)
    case = case_for(acme_channel, post)
    fits = "We are on it " + "🛠️" * 283  # + " ^JC": exactly 300 graphemes, 1,998 bytes
    too_long = "a" * 297  # + " ^JC": 301
    ok = submit_reply(case=case, agent=agent, text=fits, visibility="public", idempotency_key="a")
    refused = submit_reply(
        case=case, agent=agent, text="short", visibility="public", idempotency_key="b"
    )
    # submit_reply refuses it now (replies/limits.py); the connector is the backstop.
    Message.objects.filter(pk=refused.message_id).update(text=too_long + " ^JC")
    assert send_pending() == 1
    ok.refresh_from_db()
    refused.refresh_from_db()
    assert ok.status == OutboxMessage.Status.SENT
    assert created(bsky, ACME_DID, "a", workspace)["value"]["text"] == fits + " ^JC"
    assert refused.status == OutboxMessage.Status.DEAD
    assert refused.last_error == (
        "PermanentSendError: a Bluesky post holds at most 300 characters; this one has 301"
    )
    assert len(bsky.requests_to("POST", "createRecord")) == 1


def test_a_deleted_parent_is_a_permanent_failure(
    workspace: Workspace, agent: Agent, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social dryer", minutes=0)
    outbox = submit_reply(
        case=case_for(acme_channel, post),
        agent=agent,
        text=ANSWER,
        visibility="public",
        idempotency_key="k-5",
    )
    del bsky.posts[post["uri"]]  # the customer deleted the post
    send_pending()
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.DEAD
    assert outbox.last_error.endswith("the post being answered is deleted or not visible")
    assert bsky.created_posts(ACME_DID) == []


def test_a_private_reply_is_a_chat_message_sent_once_despite_a_crash(
    workspace: Workspace,
    agent: Agent,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post = mention(bsky, DANA, "@acmesupport.bsky.social my account number is private", minutes=0)
    outbox = submit_reply(
        case=case_for(acme_channel, post),
        agent=agent,
        text="Let's continue here, Dana.",
        visibility="private",
        idempotency_key="dm-1",
    )

    def killed(**kwargs: object) -> None:
        raise SystemExit("worker killed")

    monkeypatch.setattr(sender, "_commit_sent", killed)
    with pytest.raises(SystemExit):
        send_pending()
    monkeypatch.undo()
    OutboxMessage.objects.filter(pk=outbox.pk).update(lease_until=datetime(2020, 1, 1, tzinfo=UTC))
    assert send_pending() == 1
    [message] = bsky.messages(ACME_DID, DANA["did"])
    assert (message["text"], message["sender"]) == (
        "Let's continue here, Dana. ^JC",
        {"did": ACME_DID},
    )
    [convo] = bsky.convos.values()
    stored = Message.objects.get(pk=outbox.message_id)
    assert stored.external_id == f"chat:{convo.id}:{message['id']}"
    assert len(bsky.requests_to("POST", "sendMessage")) == 1
    chat = bsky.requests_to("GET", r"chat\.bsky") + bsky.requests_to("POST", r"chat\.bsky")
    assert {r.headers["atproto-proxy"] for r in chat} == {"did:web:api.bsky.chat#bsky_chat"}
    assert bsky.created_posts(ACME_DID) == []


def test_a_private_reply_without_a_bluesky_identity_is_refused(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    request = OutboundRequest(idempotency_key="dm-2", text="Hi ^JC", visibility="private")
    with pytest.raises(PermanentSendError, match="no Bluesky account to message"):
        CONNECTOR.send(registry.account(acme_channel), request)
    assert bsky.requests == []


def test_two_workspaces_never_mix(
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    acme_post = mention(bsky, DANA, "@acmesupport.bsky.social dryer", minutes=0)
    globex_post = mention(bsky, OMAR, "@globexhelp.bsky.social router", minutes=0, brand=GLOBEX_DID)
    globex_agent = create_agent(
        workspace=other_workspace,
        username="gh",
        password="correct-horse-battery",
        display_name="Gil Hart",
        initials="GH",
    )
    acme_case = case_for(acme_channel, acme_post)
    globex_case = case_for(globex_channel, globex_post)
    submit_reply(
        case=acme_case, agent=agent, text=ANSWER, visibility="public", idempotency_key="same"
    )
    submit_reply(
        case=globex_case,
        agent=globex_agent,
        text="We are resetting your router line, Omar.",
        visibility="public",
        idempotency_key="same",
    )
    assert send_pending() == 2
    [acme_reply] = bsky.created_posts(ACME_DID)
    [globex_reply] = bsky.created_posts(GLOBEX_DID)
    assert acme_reply["value"]["text"] == f"{ANSWER} ^JC"
    assert acme_reply["value"]["reply"]["parent"] == ref(acme_post)
    assert globex_reply["value"]["text"] == "We are resetting your router line, Omar. ^GH"
    assert globex_reply["value"]["reply"]["parent"] == ref(globex_post)
    assert acme_reply["uri"].rsplit("/", 1)[1] != globex_reply["uri"].rsplit("/", 1)[1]


def test_the_standin_lists_created_records_newest_key_first(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    account = registry.account(acme_channel)
    uris = [
        CONNECTOR.send(account, OutboundRequest(idempotency_key=k, text=k, visibility="public"))
        for k in ("one", "two", "three")
    ]
    with http.client(bsky.url) as client:
        answer = client.get(
            "/xrpc/com.atproto.repo.listRecords",
            params={"repo": ACME_DID, "collection": "app.bsky.feed.post", "limit": 2},
        ).json()
        rest = client.get(
            "/xrpc/com.atproto.repo.listRecords",
            params={
                "repo": ACME_DID,
                "collection": "app.bsky.feed.post",
                "cursor": answer["cursor"],
            },
        ).json()
    listed = [r["uri"] for r in answer["records"] + rest["records"]]
    assert listed == sorted(uris, reverse=True)
    assert "cursor" not in rest


def test_an_unreachable_pds_is_a_retryable_error(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    account = registry.account(acme_channel)
    bsky.stop()
    request = OutboundRequest(idempotency_key="k-down", text="On it ^JC", visibility="public")
    with pytest.raises(SendError) as failed:
        CONNECTOR.send(account, request)
    assert not isinstance(failed.value, PermanentSendError)
    with pytest.raises(SendError) as lookup:
        CONNECTOR.find_sent(account, request)
    assert not isinstance(lookup.value, PermanentSendError)
