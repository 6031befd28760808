"""Replies out through the real sender worker to the X stand-in: tweets, DMs, the
platform's limits and failures, and reconciliation after a crash."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from fairdesk.cases.models import Case, DeliveryStatus, Direction, Message
from fairdesk.cases.tests.factories import make_case
from fairdesk.connectors.base import RateLimit
from fairdesk.connectors.models import Channel
from fairdesk.connectors.secrets import set_credentials
from fairdesk.connectors.x.connector import XConnector
from fairdesk.connectors.x.standin import Tweet, XStandIn
from fairdesk.connectors.x.tests.accounts import (
    ACME_TOKEN,
    DANA_ID,
    connect,
    deliver,
    running_x,
)
from fairdesk.connectors.x.tests.conftest import BRAND_ID, fixture_bytes, fixture_json
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.replies import sender
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace

MENTION_ID = "1849100000000000001"
DM_EVENT_ID = "1849100000000000101"
REPLY = "Sorry to hear that, Dana. We will book a repair visit today."
TWEETS = r"^/2/tweets$"
DMS = rf"^/2/dm_conversations/with/{DANA_ID}/messages$"
TIMELINE = rf"^/2/users/{BRAND_ID}/tweets$"


@pytest.fixture
def api() -> Iterator[XStandIn]:
    with running_x() as standin:
        yield standin


@pytest.fixture
def acme(workspace: Workspace, api: XStandIn) -> Channel:
    return connect(workspace, api)


def case_from(channel: Channel, fixture: str) -> Case:
    """A case made by the real path: signed webhook delivery, then the pipeline."""
    assert deliver(channel, fixture_bytes(fixture))[0] == 200
    drain()
    return Case.objects.get(workspace_id=channel.workspace_id)


def reply(
    case: Case, agent: Agent, text: str = REPLY, key: str = "r-1", visibility: str = "public"
) -> OutboxMessage:
    return submit_reply(
        case=case, agent=agent, text=text, visibility=visibility, idempotency_key=key
    )


def tweet_echo(tweet: Tweet) -> bytes:
    """X's Account Activity delivery of the brand's own tweet (recorded shape)."""
    payload = fixture_json("brand_reply.json")
    event = payload["tweet_create_events"][0]
    event.update(id=int(tweet.id), id_str=tweet.id, text=tweet.text)
    event.update(in_reply_to_status_id=int(MENTION_ID), in_reply_to_status_id_str=MENTION_ID)
    return json.dumps(payload).encode()


def dm_echo(event_id: str, text: str) -> bytes:
    """X's Account Activity delivery of the brand's own DM (recorded shape)."""
    payload = fixture_json("direct_message.json")
    event = payload["direct_message_events"][0]
    event["id"] = event_id
    event["message_create"]["sender_id"] = BRAND_ID
    event["message_create"]["target"]["recipient_id"] = DANA_ID
    event["message_create"]["message_data"]["text"] = text
    return json.dumps(payload).encode()


def make_due(outbox: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=outbox.pk).update(available_at=timezone.now())


# --- replies that go out ------------------------------------------------------------
def test_public_reply_posts_one_tweet_and_its_echo_is_not_a_second_message(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    case = case_from(acme, "tweet_mention.json")
    outbox = reply(case, agent)

    assert send_pending() == 1

    [tweet] = api.posted_by(BRAND_ID)
    [request] = api.requests_to("POST", TWEETS)
    assert request.json() == {
        "text": f"{REPLY} ^JC",
        "reply": {"in_reply_to_tweet_id": MENTION_ID},
    }
    assert request.headers["authorization"] == f"Bearer {ACME_TOKEN}"
    assert (tweet.text, tweet.in_reply_to, tweet.in_reply_to_user_id) == (
        f"{REPLY} ^JC",
        MENTION_ID,
        None,  # the mention came by webhook, the stand-in never saw it
    )
    message = Message.objects.get(pk=outbox.message_id)
    assert (message.external_id, message.delivery_status) == (tweet.id, DeliveryStatus.SENT)

    assert deliver(acme, tweet_echo(tweet)) == (200, {"ok": True, "stored": 1, "duplicates": 0})
    drain()

    assert list(
        Message.objects.filter(case=case)
        .order_by("sent_at")
        .values_list("direction", "external_id")
    ) == [(Direction.INBOUND, MENTION_ID), (Direction.OUTBOUND, tweet.id)]
    assert Message.objects.filter(workspace=workspace).count() == 2
    assert not Message.objects.filter(workspace=other_workspace).exists()
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"done"}


def test_private_reply_is_a_dm_to_the_customer_and_its_echo_is_not_a_second_message(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    case = case_from(acme, "direct_message.json")
    outbox = reply(
        case, agent, text="Thanks Dana, a technician will call you.", visibility="private"
    )

    assert send_pending() == 1

    [request] = api.requests_to("POST", DMS)
    assert request.json() == {"text": "Thanks Dana, a technician will call you. ^JC"}
    assert api.requests_to("POST", TWEETS) == []
    [event] = api.dms_from(BRAND_ID)
    assert event.conversation_id == f"{BRAND_ID}-{DANA_ID}"
    message = Message.objects.get(pk=outbox.message_id)
    assert message.external_id == f"dm-{event.id}"

    assert deliver(acme, dm_echo(event.id, event.text))[0] == 200
    drain()

    assert list(
        Message.objects.filter(case=case)
        .order_by("sent_at")
        .values_list("direction", "external_id")
    ) == [(Direction.INBOUND, f"dm-{DM_EVENT_ID}"), (Direction.OUTBOUND, f"dm-{event.id}")]


def test_public_reply_after_a_dm_continues_the_tweet_thread(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    case = case_from(acme, "tweet_mention.json")
    assert deliver(acme, fixture_bytes("direct_message.json"))[0] == 200
    drain()
    reply(case, agent)

    assert send_pending() == 1

    [request] = api.requests_to("POST", TWEETS)
    assert request.json()["reply"] == {"in_reply_to_tweet_id": MENTION_ID}


# --- the platform says no, or not now ----------------------------------------------
def test_429_waits_until_the_reset_without_spending_an_attempt(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    case = case_from(acme, "tweet_mention.json")
    first = reply(case, agent)
    reset = int(timezone.now().timestamp()) + 900
    reset_at = datetime.fromtimestamp(reset, tz=UTC)
    api.fail_next(
        429,
        headers={
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
        body={
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
        method="POST",
        path=TWEETS,
    )

    assert send_pending() == 0

    first.refresh_from_db()
    assert (first.status, first.attempts, first.available_at) == ("pending", 0, reset_at)
    assert first.last_error.startswith("waiting: rate limited until")
    acme.refresh_from_db()
    assert acme.send_blocked_until == reset_at
    # Nothing is due before the reset, and a reply queued meanwhile waits without asking X.
    second = reply(make_case(workspace, external_id="1849100000000000777"), agent, key="r-2")
    requests_so_far = len(api.requests)
    assert send_pending() == 0
    assert len(api.requests) == requests_so_far
    second.refresh_from_db()
    assert (second.status, second.attempts, second.available_at) == ("pending", 0, reset_at)

    # The reset passes: both go out, each exactly once.
    Channel.objects.filter(pk=acme.pk).update(send_blocked_until=timezone.now())
    OutboxMessage.objects.update(available_at=timezone.now())
    assert send_pending() == 2
    assert len(api.posted_by(BRAND_ID)) == 2


def test_503_is_retried_later_and_posts_once(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    outbox = reply(case_from(acme, "tweet_mention.json"), agent)
    api.fail_next(503, body={"title": "Service Unavailable"}, method="POST", path=TWEETS)
    before = timezone.now()

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("pending", 1)
    assert outbox.last_error.startswith("SendError: HTTP 503")
    assert outbox.available_at >= before + timedelta(seconds=30)
    assert api.posted_by(BRAND_ID) == []

    make_due(outbox)
    assert send_pending() == 1

    # The retry looked for an earlier post first (found none), then posted once.
    assert len(api.requests_to("GET", TIMELINE)) == 1
    [tweet] = api.posted_by(BRAND_ID)
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("sent", 2)
    assert Message.objects.get(pk=outbox.message_id).external_id == tweet.id


def test_403_goes_to_the_dead_letters_at_once(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    outbox = reply(case_from(acme, "tweet_mention.json"), agent)
    api.fail_next(
        403,
        body={
            "title": "Forbidden",
            "status": 403,
            "type": "about:blank",
            "detail": "You are not permitted to reply to this Tweet.",
        },
        method="POST",
        path=TWEETS,
    )

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("dead", 1)
    assert "HTTP 403" in outbox.last_error
    assert "not permitted to reply" in outbox.last_error
    message = Message.objects.get(pk=outbox.message_id)
    assert (message.external_id, message.delivery_status) == (None, DeliveryStatus.FAILED)
    assert api.posted_by(BRAND_ID) == []


def test_a_reply_too_long_for_x_is_refused_with_a_reason_and_never_truncated(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    # 140 Japanese characters count 280 on X; the signature " ^JC" pushes it over.
    text = "ご不便をおかけして申し訳ございません。" * 7 + "確認いたします"
    assert len(text) == 140
    outbox = reply(case_from(acme, "tweet_mention.json"), agent, text="short")
    # submit_reply refuses it now (replies/limits.py); one queued before that rule, or
    # under another limit, is still refused here for good, never truncated.
    Message.objects.filter(pk=outbox.message_id).update(text=f"{text} ^JC")

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("dead", 1)
    assert outbox.last_error == (
        "PermanentSendError: this reply is 284 characters as X counts them (a URL counts 23, "
        "an emoji or a CJK character 2) and a post may have at most 280: shorten it or send "
        "it as a private message"
    )
    assert Message.objects.get(pk=outbox.message_id).text == f"{text} ^JC"
    assert api.requests == []


def test_a_channel_without_an_access_token_refuses_clearly(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    set_credentials(acme, {"consumer_secret": "kept-for-webhooks"})
    outbox = reply(make_case(workspace, external_id=MENTION_ID), agent)

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert outbox.status == "dead"
    assert outbox.last_error.startswith(
        "MissingToken: X channel '@AcmeSupport' has no access_token: connect the account"
    )
    assert api.requests == []


def test_a_wrong_token_is_refused_by_x_and_nothing_is_posted(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    set_credentials(acme, {"access_token": "revoked-token"})
    outbox = reply(make_case(workspace, external_id=MENTION_ID), agent)

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert outbox.status == "dead"
    assert outbox.last_error.startswith("PermanentSendError: HTTP 401")
    assert len(api.requests_to("POST", TWEETS)) == 1
    assert api.posted_by(BRAND_ID) == []


# --- crash between the platform call and the commit ----------------------------------
def crash_after_posting(monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(**kwargs: object) -> None:
        raise SystemExit("worker killed between the platform call and the commit")

    monkeypatch.setattr(sender, "_commit_sent", killed)
    with pytest.raises(SystemExit):
        send_pending()
    monkeypatch.undo()


def expire_lease(outbox: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=outbox.pk).update(lease_until=datetime(2020, 1, 1, tzinfo=UTC))


def test_a_crash_after_x_accepted_the_tweet_is_reconciled_not_posted_twice(
    workspace: Workspace,
    agent: Agent,
    api: XStandIn,
    acme: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outbox = reply(case_from(acme, "tweet_mention.json"), agent, text="Tom & Jerry <fixed> it ^_^")
    crash_after_posting(monkeypatch)
    [tweet] = api.posted_by(BRAND_ID)
    expire_lease(outbox)

    assert send_pending() == 1

    assert api.posted_by(BRAND_ID) == [tweet]
    assert len(api.requests_to("POST", TWEETS)) == 1
    [lookup] = api.requests_to("GET", TIMELINE)
    assert lookup.arg("max_results") == "100"
    assert lookup.arg("tweet.fields") == "referenced_tweets,in_reply_to_user_id,created_at"
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("sent", 2)
    assert Message.objects.get(pk=outbox.message_id).external_id == tweet.id


def test_a_crash_after_x_accepted_the_dm_is_reconciled_not_sent_twice(
    workspace: Workspace,
    agent: Agent,
    api: XStandIn,
    acme: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = case_from(acme, "direct_message.json")
    outbox = reply(case, agent, text="We have booked you for Tuesday.", visibility="private")
    crash_after_posting(monkeypatch)
    [event] = api.dms_from(BRAND_ID)
    expire_lease(outbox)

    assert send_pending() == 1

    assert api.dms_from(BRAND_ID) == [event]
    assert len(api.requests_to("GET", rf"^/2/dm_conversations/with/{DANA_ID}/dm_events$")) == 1
    assert Message.objects.get(pk=outbox.message_id).external_id == f"dm-{event.id}"


def test_an_identical_earlier_reply_is_not_taken_for_the_interrupted_one(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    case = case_from(acme, "tweet_mention.json")
    first = reply(case, agent, text="Thanks, we are on it.", key="r-1")
    assert send_pending() == 1
    second = reply(case, agent, text="Thanks, we are on it.", key="r-2")
    api.fail_next(503, method="POST", path=TWEETS)
    send_pending()
    make_due(second)

    assert send_pending() == 1

    earlier, later = api.posted_by(BRAND_ID)
    assert Message.objects.get(pk=first.message_id).external_id == earlier.id
    assert Message.objects.get(pk=second.message_id).external_id == later.id


# --- our own budget ----------------------------------------------------------------
def test_x_budget_is_the_documented_per_user_posting_window() -> None:
    assert XConnector.rate_limit == RateLimit(posts=100, window=timedelta(minutes=15))


def test_the_101st_reply_in_15_minutes_waits_for_the_window(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    boxes = [
        reply(make_case(workspace, external_id=str(1849100000000001000 + n)), agent, key=f"b-{n}")
        for n in range(101)
    ]

    assert send_pending(limit=200) == 100

    assert len(api.posted_by(BRAND_ID)) == 100
    waiting = OutboxMessage.objects.get(status="pending")
    first_sent = OutboxMessage.objects.filter(status="sent").order_by("sent_at").first()
    assert first_sent is not None and first_sent.sent_at is not None
    assert waiting.pk == boxes[100].pk
    assert (waiting.attempts, waiting.available_at) == (
        0,
        first_sent.sent_at + timedelta(minutes=15),
    )
    assert waiting.last_error == "waiting: this account's sending budget is spent"
    make_due(waiting)
    assert send_pending() == 0  # still inside the window: deferred again, X not asked
    assert len(api.requests_to("POST", TWEETS)) == 100


def test_a_retry_after_the_token_was_removed_goes_to_the_dead_letters(
    workspace: Workspace, agent: Agent, api: XStandIn, acme: Channel
) -> None:
    outbox = reply(make_case(workspace, external_id=MENTION_ID), agent)
    api.fail_next(503, method="POST", path=TWEETS)
    send_pending()
    set_credentials(acme, {"consumer_secret": "kept-for-webhooks"})
    make_due(outbox)

    assert send_pending() == 0

    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == ("dead", 2)
    assert outbox.last_error.startswith("MissingToken: X channel '@AcmeSupport' has no")
    assert api.requests_to("GET", TIMELINE) == []
