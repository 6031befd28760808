"""Customers' Bluesky chat messages come in by polling ``chat.bsky.convo.getLog``: a
conversation moved to chat goes on, on the same case, and nothing is read twice."""

from datetime import timedelta

import pytest

from conftest import T0
from fairdesk.cases.models import Case, Message
from fairdesk.connectors import polling, registry
from fairdesk.connectors.base import OutboundRequest, Recipient
from fairdesk.connectors.bluesky import adapter
from fairdesk.connectors.bluesky.connector import CONNECTOR
from fairdesk.connectors.bluesky.standin import BlueskyStandIn
from fairdesk.connectors.bluesky.tests.conftest import ACME_DID, DANA, GLOBEX_DID, OMAR, mention
from fairdesk.connectors.models import Channel
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Workspace

LOG = r"getLog"
HOSTILE = '<script>alert(1)</script>\r\nBcc: x@evil.test =HYPERLINK("http://evil")'


def poll(channel: Channel) -> polling.PollOutcome:
    channel.refresh_from_db()
    return polling.poll_channel(channel)


def chat_events(workspace: Workspace) -> list[InboundEvent]:
    return list(
        InboundEvent.objects.filter(workspace=workspace, external_id__startswith="chat:").order_by(
            "external_id"
        )
    )


def test_a_customer_chat_message_is_stored_once_as_private(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    sent = bsky.chat(sender=DANA["did"], to=ACME_DID, text=HOSTILE, at=T0)

    assert poll(acme_channel).stored == 1
    [event] = chat_events(workspace)
    convo = bsky.convos[frozenset({DANA["did"], ACME_DID})]
    assert event.external_id == f"chat:{convo.id}:{sent['id']}"
    assert event.payload["visibility"] == "private"
    assert event.payload["direction"] == "inbound"
    assert event.payload["author"]["external_id"] == DANA["did"]
    assert event.payload["text"] == HOSTILE  # stored verbatim; escaped where shown
    acme_channel.refresh_from_db()
    assert acme_channel.cursor[adapter.CHAT_CURSOR_KEY] == sent["rev"]

    again = poll(acme_channel)
    assert (again.stored, again.duplicates) == (0, 0)
    assert bsky.requests_to("GET", LOG)[-1].query == {"cursor": [sent["rev"]]}


def test_the_brands_own_messages_and_other_accounts_chats_are_not_read(
    workspace: Workspace,
    other_workspace: Workspace,
    bsky: BlueskyStandIn,
    acme_channel: Channel,
    globex_channel: Channel,
) -> None:
    account = registry.account(acme_channel)
    CONNECTOR.send(
        account,
        OutboundRequest(
            text="Let's continue here. ^JO",
            idempotency_key="k-1",
            channel="bluesky",
            visibility="private",
            recipient=Recipient(external_id=DANA["did"], handle="@dana.bsky.social"),
        ),
    )
    bsky.chat(sender=OMAR["did"], to=GLOBEX_DID, text="globex only", at=T0)

    assert poll(acme_channel).stored == 0
    assert poll(globex_channel).stored == 1
    assert chat_events(workspace) == []
    assert [e.payload["text"] for e in chat_events(other_workspace)] == ["globex only"]


def test_a_conversation_moved_to_chat_continues_on_the_same_case(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    mention(bsky, DANA, "@acme my dryer stopped heating", minutes=0)
    poll(acme_channel)
    drain()
    case = Case.objects.get(workspace=workspace)

    bsky.chat(
        sender=DANA["did"],
        to=ACME_DID,
        text="Model DV-42, home after 5",
        at=T0 + timedelta(minutes=9),
    )
    poll(acme_channel)
    drain()

    assert Case.objects.filter(workspace=workspace).count() == 1
    texts = list(
        Message.objects.filter(case=case).order_by("created_at").values_list("text", "visibility")
    )
    assert texts == [
        ("@acme my dryer stopped heating", "public"),
        ("Model DV-42, home after 5", "private"),
    ]


@pytest.mark.parametrize("status", [429, 502])
def test_a_failed_log_read_stores_nothing_and_keeps_the_cursor(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel, status: int
) -> None:
    mention(bsky, DANA, "waiting", minutes=0)
    bsky.chat(sender=DANA["did"], to=ACME_DID, text="also in chat", at=T0)
    bsky.fail_next(status, path=LOG, headers={"ratelimit-reset": "1893456000"})

    outcome = poll(acme_channel)

    assert (outcome.stored, outcome.pages) == (0, 0)
    acme_channel.refresh_from_db()
    assert acme_channel.cursor == {}
    assert poll(acme_channel).stored == 2


def test_malformed_log_entries_are_skipped_and_the_log_moves_on(
    workspace: Workspace, bsky: BlueskyStandIn, acme_channel: Channel
) -> None:
    good = bsky.chat(sender=DANA["did"], to=ACME_DID, text="good one", at=T0)
    bsky.chat_log.insert(
        0,
        {
            "$type": "chat.bsky.convo.defs#logCreateMessage",
            "rev": "0000000000000",
            "convoId": bsky.chat_log[0]["convoId"],
            "message": {"id": "x", "sender": {"did": 42}, "text": None, "sentAt": "yesterday"},
        },
    )
    bsky.chat_log.append(
        {"$type": "chat.bsky.convo.defs#logDeleteMessage", "rev": "9999999999998", "convoId": "c"}
    )

    assert poll(acme_channel).stored == 1
    assert [e.payload["text"] for e in chat_events(workspace)] == ["good one"]
    acme_channel.refresh_from_db()
    assert acme_channel.cursor[adapter.CHAT_CURSOR_KEY] == good["rev"]
