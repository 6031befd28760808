"""Replies end to end: a polled mention becomes a case, an agent answers it, the sender
posts exactly one status on the stand-in instance."""

import re
from datetime import UTC, datetime

import pytest

from fairdesk.cases.models import Case, CaseEvent, DeliveryStatus, Message
from fairdesk.connectors import polling, registry
from fairdesk.connectors.base import OutboundRequest, PermanentSendError
from fairdesk.connectors.mastodon.connector import CONNECTOR
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.tests.conftest import (
    ACME_TOKEN,
    GLOBEX_TOKEN,
    fixture_json,
    mention,
)
from fairdesk.connectors.models import Channel
from fairdesk.inbound.pipeline import drain
from fairdesk.replies import sender
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent

PUBLIC_ID = "113200000000000001"
DIRECT_ID = "113200000000000002"


def case_for(workspace: Workspace, channel: Channel, instance: MastodonStandIn, name: str) -> Case:
    """Poll the recorded mention ``name`` from the instance and run the pipeline."""
    instance.add_notification(fixture_json(name))
    polling.poll_channel(channel)
    drain()
    return Case.objects.filter(workspace=workspace).latest("id")


def reply(
    case: Case, agent: Agent, *, visibility: str = "public", text: str = "On it"
) -> OutboxMessage:
    return submit_reply(
        case=case, agent=agent, text=text, visibility=visibility, idempotency_key="reply-6f1d2c0b"
    )


def posts(instance: MastodonStandIn) -> list[dict]:
    return [r.json() for r in instance.requests_to("POST", r"^/api/v1/statuses$")]


def test_a_public_reply_is_one_status_in_the_thread(
    workspace: Workspace, agent: Agent, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    case = case_for(workspace, acme_channel, acme_instance, "mention_public.json")
    outbox = reply(case, agent)

    assert send_pending() == 1

    [request] = acme_instance.requests_to("POST", r"^/api/v1/statuses$")
    assert request.json() == {
        "status": "@dana_w@mastodon.example On it ^JC",
        "visibility": "public",
        "in_reply_to_id": PUBLIC_ID,
    }
    assert request.headers["idempotency-key"] == "reply-6f1d2c0b"
    assert request.headers["authorization"] == f"Bearer {ACME_TOKEN}"
    [status] = acme_instance.posted
    assert status["in_reply_to_id"] == PUBLIC_ID
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.SENT
    message = Message.objects.get(pk=outbox.message_id)
    assert message.external_id == status["id"]
    assert message.delivery_status == DeliveryStatus.SENT
    event = CaseEvent.objects.get(type=CaseEvent.Type.REPLY_SENT)
    assert event.params["external_id"] == status["id"]


def test_a_reply_keeps_the_visibility_of_an_unlisted_thread(
    workspace: Workspace, agent: Agent, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    acme_instance.statuses["113100000000000009"] = fixture_json("brand_status.json")
    case = case_for(workspace, acme_channel, acme_instance, "mention_reply.json")
    reply(case, agent)

    send_pending()

    [body] = posts(acme_instance)
    assert body["visibility"] == "unlisted"
    assert body["in_reply_to_id"] == "113200000000000004"


def test_a_private_reply_is_direct_and_mentions_the_customer_first(
    workspace: Workspace, agent: Agent, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    case = case_for(workspace, acme_channel, acme_instance, "mention_direct.json")
    reply(case, agent, visibility="private", text="We refunded order 4411-20.")

    assert send_pending() == 1

    assert posts(acme_instance) == [
        {
            "status": "@sam_k We refunded order 4411-20. ^JC",
            "visibility": "direct",
            "in_reply_to_id": DIRECT_ID,
        }
    ]
    # a direct reply needs no look-up of the post it answers
    assert acme_instance.requests_to("GET", r"^/api/v1/statuses/") == []


def test_a_resend_after_a_crash_is_still_one_status(
    workspace: Workspace,
    agent: Agent,
    acme_instance: MastodonStandIn,
    acme_channel: Channel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = case_for(workspace, acme_channel, acme_instance, "mention_public.json")
    outbox = reply(case, agent)

    def killed(**kwargs: object) -> None:
        raise SystemExit("worker killed between the platform call and the commit")

    monkeypatch.setattr(sender, "_commit_sent", killed)
    with pytest.raises(SystemExit):
        send_pending()
    monkeypatch.undo()
    assert len(acme_instance.posted) == 1
    # the dead worker's lease runs out; another worker claims the row and sends again
    OutboxMessage.objects.filter(pk=outbox.pk).update(lease_until=datetime(2020, 1, 1, tzinfo=UTC))

    assert send_pending() == 1

    assert len(posts(acme_instance)) == 2  # two attempts reached the instance…
    keys = [r.headers["idempotency-key"] for r in acme_instance.requests_to("POST", "statuses")]
    assert keys == ["reply-6f1d2c0b", "reply-6f1d2c0b"]
    [status] = acme_instance.posted  # …and it made one status
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == (OutboxMessage.Status.SENT, 2)
    assert Message.objects.get(pk=outbox.message_id).external_id == status["id"]


def test_a_429_waits_until_the_instance_reset_time(
    workspace: Workspace, agent: Agent, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    case = case_for(workspace, acme_channel, acme_instance, "mention_public.json")
    outbox = reply(case, agent)
    acme_instance.fail_next(
        429,
        headers={"X-RateLimit-Reset": "2030-01-01T00:05:00.000000Z", "X-RateLimit-Remaining": "0"},
        body={"error": "Too many requests"},
        method="POST",
        path="/api/v1/statuses",
    )

    assert send_pending() == 0

    reset = datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts, outbox.available_at) == ("pending", 0, reset)
    assert Channel.objects.get(pk=acme_channel.pk).send_blocked_until == reset
    assert acme_instance.posted == []
    assert send_pending() == 0  # nothing is due before the reset
    assert len(acme_instance.requests_to("POST", "statuses")) == 1


@pytest.mark.parametrize(("length", "status"), [(488, "sent"), (489, "dead")])
def test_a_reply_over_the_instance_limit_is_refused_for_good(
    workspace: Workspace,
    agent: Agent,
    acme_instance: MastodonStandIn,
    acme_channel: Channel,
    length: int,
    status: str,
) -> None:
    case = case_for(workspace, acme_channel, acme_instance, "mention_public.json")
    # Mastodon counts "@dana_w" (7) + " " + the text + " ^JC" (4): 488 x make 500
    outbox = reply(case, agent)
    # submit_reply refuses 489 already (replies/limits.py); the connector is the backstop.
    Message.objects.filter(pk=outbox.message_id).update(text="x" * length + " ^JC")

    send_pending()

    outbox.refresh_from_db()
    assert outbox.status == status
    if status == "dead":
        assert outbox.last_error == (
            "PermanentSendError: this reply counts 501 characters and the Mastodon instance "
            "allows 500 per post: shorten it"
        )
    assert len(acme_instance.posted) == (1 if status == "sent" else 0)


def test_the_instance_may_allow_longer_posts(
    workspace: Workspace, agent: Agent, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    acme_instance.max_characters = 1000
    # The channel records its instance's limit, so the reply is accepted when written.
    Channel.objects.filter(pk=acme_channel.pk).update(
        config={**acme_channel.config, "max_characters": 1000}
    )
    case = case_for(workspace, acme_channel, acme_instance, "mention_public.json")
    reply(case, agent, text="y" * 700)

    assert send_pending() == 1

    assert len(acme_instance.posted) == 1


def test_an_answered_post_that_is_gone_is_a_permanent_refusal(
    workspace: Workspace, agent: Agent, acme_instance: MastodonStandIn, acme_channel: Channel
) -> None:
    case = case_for(workspace, acme_channel, acme_instance, "mention_public.json")
    outbox = reply(case, agent)
    del acme_instance.statuses[PUBLIC_ID]

    send_pending()

    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.DEAD
    assert outbox.last_error.startswith(
        f"PermanentSendError: the post answered ({PUBLIC_ID}) cannot be read: HTTP 404"
    )
    assert acme_instance.posted == []


def test_each_workspace_replies_through_its_own_instance_and_token(
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    acme_instance: MastodonStandIn,
    globex_instance: MastodonStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    acme_case = case_for(workspace, acme_channel, acme_instance, "mention_public.json")
    globex_instance.add_notification(mention(7, template="mention_direct.json"))
    polling.poll_channel(globex_channel)
    drain()
    globex_case = Case.objects.get(workspace=other_workspace)
    globex_agent = create_agent(
        workspace=other_workspace,
        username="gia",
        password="correct-horse-battery",
        display_name="Gia Ng",
        initials="GN",
    )
    reply(acme_case, agent)
    submit_reply(
        case=globex_case,
        agent=globex_agent,
        text="Refund on its way",
        visibility="private",
        idempotency_key="reply-6f1d2c0b",  # the same key in another workspace
    )

    assert send_pending() == 2

    assert [b["status"] for b in posts(acme_instance)] == ["@dana_w@mastodon.example On it ^JC"]
    assert [b["status"] for b in posts(globex_instance)] == ["@sam_k Refund on its way ^GN"]
    assert {r.headers["authorization"] for r in globex_instance.requests} == {
        f"Bearer {GLOBEX_TOKEN}"
    }
    assert {r.headers["authorization"] for r in acme_instance.requests} == {f"Bearer {ACME_TOKEN}"}


@pytest.mark.parametrize(
    ("in_reply_to", "visibility", "reason"),
    [
        ("../../admin", "public", "'../../admin' is not a Mastodon status id"),
        ("113200000000000001", "private", "must mention the customer's @handle"),
    ],
)
def test_replies_that_cannot_be_addressed_are_refused_before_any_call(
    acme_instance: MastodonStandIn,
    acme_channel: Channel,
    in_reply_to: str,
    visibility: str,
    reason: str,
) -> None:
    request = OutboundRequest(
        idempotency_key="k-1", text="On it ^JC", visibility=visibility, in_reply_to=in_reply_to
    )

    with pytest.raises(PermanentSendError, match=re.escape(reason)):
        CONNECTOR.send(registry.account(acme_channel), request)

    assert acme_instance.requests == []
