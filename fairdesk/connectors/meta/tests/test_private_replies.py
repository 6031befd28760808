"""A private reply to a public comment, its Messenger echo and the customer's answer: one
case, one outbound message.

Meta sends a Facebook private reply (Send API, ``recipient: {comment_id}``) into a
Messenger thread with the commenter, whose Messenger id (PSID) need not equal their id in
the Page feed. The reply is stored on the "facebook" channel (it answers a comment); its
``message_echoes`` webhook and the customer's answers arrive on Messenger. The echo must
fold onto the stored reply and name the PSID, so the answer continues the same case.
"""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fairdesk.cases.models import Case, CaseStatus, DeliveryStatus, Direction, Message
from fairdesk.connectors.meta import adapter
from fairdesk.connectors.meta.standin import MetaStandIn
from fairdesk.connectors.meta.tests.conftest import (
    ACME_SECRET,
    ACME_TOKEN,
    GLOBEX_PAGE_ID,
    GLOBEX_SECRET,
    PAGE_ID,
    fixture_json,
    signature,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace

POST = f"{PAGE_ID}_220000000000001"
COMMENT = "220000000000001_330000000000001"
COMMENTER = "6100000000000001"  # the commenter's id in the Page feed
PSID = "7300000000000042"  # the same person in Messenger (private_reply_*.json)
ECHO_MID = "m_Pr1vRpLy-9f3c2a7be04d1c6e5f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5"
ANSWER_MID = "m_AnSwEr-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
PRIVATE_TEXT = "Sorry about the dryer, Dana. Could you send me the order's postcode?"


@pytest.fixture
def acme(workspace: Workspace, graph: MetaStandIn) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="facebook",
        name="Acme Support (Facebook)",
        config={"page_id": PAGE_ID, "page_name": "Acme Support", "api_base": graph.url},
        credentials={"app_secret": ACME_SECRET, "page_access_token": ACME_TOKEN},
    )


def post(channel: Channel, payload: Any, secret: str = ACME_SECRET) -> None:
    body = json.dumps(payload).encode()
    response = Client().post(
        f"/webhooks/meta/{channel.public_id}/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature(secret, body)},
    )
    assert response.status_code == 200, response.content


def deliver(channel: Channel, payload: Any, secret: str = ACME_SECRET) -> None:
    """A signed webhook, then the pipeline to the end."""
    post(channel, payload, secret)
    drain()


def comment_case(channel: Channel, graph: MetaStandIn | None = None) -> Case:
    if graph is not None:
        graph.seed_post(POST)
        graph.seed_comment(
            COMMENT,
            parent=POST,
            author_id=COMMENTER,
            author_name="Dana Whitfield",
            text="My DX-300 dryer stopped heating again",
            messenger_id=PSID,
        )
    deliver(channel, fixture_json("page_comment.json"))
    return Case.objects.get(workspace=channel.workspace)


def private_reply(case: Case, agent: Agent, text: str = PRIVATE_TEXT) -> OutboxMessage:
    return submit_reply(
        case=case, agent=agent, text=text, visibility="private", idempotency_key=f"k-{text[:9]}"
    )


def stored_reply(case: Case, agent: Agent, mid: str = ECHO_MID) -> Message:
    """The private reply as the sender leaves it: sent on "facebook" with Meta's mid."""
    outbox = private_reply(case, agent)
    OutboxMessage.objects.filter(pk=outbox.pk).update(status=OutboxMessage.Status.SENT)
    Message.objects.filter(pk=outbox.message_id).update(
        external_id=mid, delivery_status=DeliveryStatus.SENT
    )
    return Message.objects.get(pk=outbox.message_id)


def messages(workspace: Workspace) -> list[tuple[str, str, str | None, int | None]]:
    rows = Message.objects.filter(workspace=workspace).order_by("id")
    return list(rows.values_list("channel", "direction", "external_id", "case_id"))


def test_private_reply_echo_and_messenger_answer_stay_in_one_case_end_to_end(
    acme: Channel, graph: MetaStandIn, agent: Agent, workspace: Workspace
) -> None:
    case = comment_case(acme, graph)
    outbox = private_reply(case, agent)

    assert send_pending() == 1
    [body] = graph.sent
    assert body["recipient"] == {"comment_id": COMMENT}
    [sent] = graph.messages_with(PAGE_ID, PSID)
    mid = sent["id"]
    reply = Message.objects.get(pk=outbox.message_id)
    assert (reply.channel, reply.external_id, reply.delivery_status) == ("facebook", mid, "sent")

    deliver(acme, graph.echo_webhook(PAGE_ID, PSID, mid))

    # Folded: the reply is the one outbound message, still sent, no stray Messenger copy.
    assert list(Message.objects.filter(external_id=mid).values_list("pk", flat=True)) == [reply.pk]
    assert Message.objects.filter(workspace=workspace, channel="messenger").count() == 0
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.case_id) == (DeliveryStatus.SENT, case.pk)
    assert InboundEvent.objects.get(external_id=mid).status == InboundEvent.Status.DONE
    psid = ContactIdentity.objects.get(workspace=workspace, channel="messenger")
    assert (psid.external_id, psid.contact_id) == (PSID, case.contact_id)

    answer = graph.seed_message(PAGE_ID, PSID, "Sure, it's 4021. Thursday works.")
    deliver(acme, graph.message_webhook(PAGE_ID, PSID, answer))

    assert Case.objects.filter(workspace=workspace).count() == 1
    assert Contact.objects.filter(workspace=workspace).count() == 1
    assert messages(workspace) == [
        ("facebook", "inbound", COMMENT, case.pk),
        ("facebook", "outbound", mid, case.pk),
        ("messenger", "inbound", answer, case.pk),
    ]
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN
    assert case.first_response_at is not None  # the clock did not start over

    # The next private reply goes on in that Messenger thread, to the PSID.
    private_reply(case, agent, "Thursday 9-12 is booked for you.")
    assert send_pending() == 1
    assert graph.sent[-1]["recipient"] == {"id": PSID}
    assert [m["message"] for m in graph.messages_with(PAGE_ID, PSID)][-1] == (
        "Thursday 9-12 is booked for you. ^JC"
    )


def test_recorded_echo_folds_and_the_recorded_answer_joins_the_case(
    meta_channel: Channel, agent: Agent, workspace: Workspace
) -> None:
    case = comment_case(meta_channel)
    reply = stored_reply(case, agent)

    deliver(meta_channel, fixture_json("private_reply_echo.json"))
    deliver(meta_channel, fixture_json("private_reply_answer.json"))
    # Meta redelivers: nothing changes.
    deliver(meta_channel, fixture_json("private_reply_echo.json"))

    assert messages(workspace) == [
        ("facebook", "inbound", COMMENT, case.pk),
        ("facebook", "outbound", ECHO_MID, case.pk),
        ("messenger", "inbound", ANSWER_MID, case.pk),
    ]
    assert Message.objects.get(external_id=ECHO_MID).pk == reply.pk
    assert sorted(
        ContactIdentity.objects.filter(workspace=workspace).values_list(
            "channel", "external_id", "contact_id"
        )
    ) == [("facebook", COMMENTER, case.contact_id), ("messenger", PSID, case.contact_id)]
    assert Case.objects.filter(workspace=workspace).count() == 1


def test_echo_and_answer_in_one_batch_still_join_the_case(
    meta_channel: Channel, agent: Agent, workspace: Workspace
) -> None:
    case = comment_case(meta_channel)
    stored_reply(case, agent)
    post(meta_channel, fixture_json("private_reply_answer.json"))  # answer stored first
    post(meta_channel, fixture_json("private_reply_echo.json"))

    assert drain() == 2

    assert Case.objects.filter(workspace=workspace).count() == 1
    assert Message.objects.get(external_id=ANSWER_MID).case_id == case.pk
    assert Message.objects.filter(external_id=ECHO_MID).count() == 1


def test_an_echo_that_beats_the_senders_commit_waits_and_then_folds(
    meta_channel: Channel, agent: Agent, workspace: Workspace
) -> None:
    case = comment_case(meta_channel)
    outbox = private_reply(case, agent)
    OutboxMessage.objects.filter(pk=outbox.pk).update(status=OutboxMessage.Status.SENDING)

    deliver(meta_channel, fixture_json("private_reply_echo.json"))

    event = InboundEvent.objects.get(external_id=ECHO_MID)
    assert (event.status, event.attempts) == (InboundEvent.Status.PENDING, 1)
    assert Message.objects.filter(external_id=ECHO_MID).count() == 0

    # The sender commits the mid; the echo's next attempt folds onto the reply.
    OutboxMessage.objects.filter(pk=outbox.pk).update(status=OutboxMessage.Status.SENT)
    Message.objects.filter(pk=outbox.message_id).update(
        external_id=ECHO_MID, delivery_status=DeliveryStatus.SENT
    )
    InboundEvent.objects.filter(pk=event.pk).update(available_at=timezone.now())
    assert drain() == 1

    assert list(Message.objects.filter(external_id=ECHO_MID).values_list("pk", flat=True)) == [
        outbox.message_id
    ]
    assert ContactIdentity.objects.get(channel="messenger").contact_id == case.contact_id


def test_an_unmatched_echo_waits_only_while_a_send_is_in_flight_and_only_so_long(
    meta_channel: Channel, agent: Agent, workspace: Workspace
) -> None:
    case = comment_case(meta_channel)
    outbox = private_reply(case, agent)
    OutboxMessage.objects.filter(pk=outbox.pk).update(status=OutboxMessage.Status.SENDING)

    post(meta_channel, fixture_json("private_reply_echo.json"))
    for _ in range(3):
        drain()
        InboundEvent.objects.update(available_at=timezone.now() - timedelta(seconds=1))

    # After its deferrals it is stored as a message of its own, never lost.
    event = InboundEvent.objects.get(external_id=ECHO_MID)
    assert (event.status, event.attempts) == (InboundEvent.Status.DONE, 3)
    stray = Message.objects.get(external_id=ECHO_MID)
    assert (stray.channel, stray.direction, stray.case_id) == ("messenger", "outbound", None)
    assert not ContactIdentity.objects.filter(channel="messenger").exists()


def test_a_recipient_known_as_someone_else_is_not_merged_by_an_echo(
    meta_channel: Channel, agent: Agent, workspace: Workspace
) -> None:
    earlier = fixture_json("private_reply_answer.json")
    earlier["entry"][0]["messaging"][0]["message"]["mid"] = "m_earlier-dm"
    deliver(meta_channel, earlier)
    case = Case.objects.get(workspace=workspace)
    other = fixture_json("page_comment.json")
    other["entry"][0]["changes"][0]["value"]["from"]["id"] = "6100000000000077"
    deliver(meta_channel, other)
    comment_case_ = Case.objects.exclude(pk=case.pk).get(workspace=workspace)
    stored_reply(comment_case_, agent)

    deliver(meta_channel, fixture_json("private_reply_echo.json"))

    assert ContactIdentity.objects.get(channel="messenger").contact_id == case.contact_id
    assert Message.objects.filter(external_id=ECHO_MID).count() == 1  # still folded


def test_an_echo_in_another_workspace_never_folds_onto_this_ones_reply(
    meta_channel: Channel, globex_channel: Channel, agent: Agent, workspace: Workspace
) -> None:
    case = comment_case(meta_channel)
    reply = stored_reply(case, agent)
    echo = json.loads(
        json.dumps(fixture_json("private_reply_echo.json")).replace(PAGE_ID, GLOBEX_PAGE_ID)
    )

    deliver(globex_channel, echo, GLOBEX_SECRET)

    stray = Message.objects.get(workspace=globex_channel.workspace, external_id=ECHO_MID)
    assert (stray.direction, stray.case_id) == (Direction.OUTBOUND, None)
    reply.refresh_from_db()
    assert (reply.workspace_id, reply.case_id) == (workspace.pk, case.pk)
    assert not ContactIdentity.objects.filter(channel="messenger").exists()


def test_an_echo_names_its_recipient_and_a_customer_message_names_none() -> None:
    [echo] = adapter.parse(fixture_json("private_reply_echo.json"), page_id=PAGE_ID)
    [answer] = adapter.parse(fixture_json("private_reply_answer.json"), page_id=PAGE_ID)

    assert (echo["channel"], echo["direction"], echo["author"]["external_id"]) == (
        "messenger",
        "outbound",
        PAGE_ID,
    )
    assert (echo["external_id"], echo["recipient"]) == (ECHO_MID, PSID)
    assert (answer["direction"], answer["author"]["external_id"]) == ("inbound", PSID)
    assert "recipient" not in answer


def test_a_stray_echo_is_dropped_when_the_sender_commits_the_reply_it_echoes(
    meta_channel: Channel, agent: Agent, workspace: Workspace
) -> None:
    # The sender posted, then crashed before committing; the echo gave up waiting and
    # was stored on Messenger. The retry's commit (reconciled to the same id) keeps our
    # Facebook reply and drops the stray copy, as it does for same-channel echoes.
    from fairdesk.replies.sender import _commit_sent

    case = comment_case(meta_channel)
    outbox = private_reply(case, agent)
    OutboxMessage.objects.filter(pk=outbox.pk).update(status=OutboxMessage.Status.SENDING)
    post(meta_channel, fixture_json("private_reply_echo.json"))
    for _ in range(3):
        drain()
        InboundEvent.objects.update(available_at=timezone.now() - timedelta(seconds=1))
    assert Message.objects.filter(external_id=ECHO_MID, channel="messenger").exists()

    OutboxMessage.objects.filter(pk=outbox.pk).update(claim_token="retry")
    outbox.refresh_from_db()
    _commit_sent(outbox=outbox, token="retry", external_id=ECHO_MID)

    kept = Message.objects.get(external_id=ECHO_MID)
    assert (kept.pk, kept.channel, kept.case_id) == (outbox.message_id, "facebook", case.pk)
    assert kept.delivery_status == DeliveryStatus.SENT
