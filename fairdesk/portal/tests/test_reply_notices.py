"""An agent answers a customer in the portal: the customer is told on their own channel,
privately, once per burst of answers, never with the answer itself and never anyone but
the case's own contact — with two workspaces and two customers."""

import uuid
from datetime import datetime, timedelta

from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import Case, CaseEvent, Direction, Message
from fairdesk.cases.tests.factories import add_inbound
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.followthrough.models import ReplyNotice
from fairdesk.followthrough.reply_notices import NOTICE, send_due_reply_notices
from fairdesk.followthrough.resolution import propose_resolution
from fairdesk.portal.tests.conftest import Customer, sign_in
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import approve_held_reply, request_override, submit_reply
from fairdesk.workspaces.models import Agent

HOSTILE = "<script>alert('x')</script>\r\nBcc: evil@example.com =cmd|'/c calc'!A1"
ANSWER = "The technician comes Tuesday; the door code you gave us is 4711."


def _write_in_portal(client: Client, customer: Customer, text: str) -> None:
    url = reverse("portal:reply", args=[customer.workspace.slug, customer.case.public_id])
    response = client.post(url, {"text": text, "idempotency_key": str(uuid.uuid4())})
    assert response.status_code == 302


def _answer(case: Case, agent: Agent, text: str = ANSWER) -> OutboxMessage:
    outbox = submit_reply(
        case=case,
        agent=agent,
        text=text,
        visibility="private",
        idempotency_key=str(uuid.uuid4()),
    )
    assert outbox.channel == "portal"
    return outbox


def _notices(case: Case) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(case=case, tone_verdict__automatic="portal_reply_notice")
        .select_related("message", "case")
        .order_by("id")
    )


def _due(case: Case) -> datetime:
    due = ReplyNotice.objects.get(case=case).due_at
    assert due is not None
    return due


def test_a_burst_of_answers_is_one_private_notice_without_their_text(
    dana: Customer, bob: Customer, agent: Agent
) -> None:
    client = Client()
    sign_in(client, dana, agent)
    _write_in_portal(client, dana, "My model is DR-550; I am home after 3pm.")
    for text in (ANSWER, HOSTILE, "One more thing: bring the receipt."):
        _answer(dana.case, agent, text)
    send_pending()
    due = _due(dana.case)

    assert send_due_reply_notices(now=due - timedelta(seconds=1)) == 0
    assert send_due_reply_notices(now=due) == 1
    assert send_due_reply_notices(now=due + timedelta(hours=5)) == 0

    [notice] = _notices(dana.case)
    message = notice.message
    assert (message.channel, message.visibility, message.direction) == ("x", "private", "outbound")
    assert message.text == NOTICE.format(reference=dana.case.reference)
    for secret in (ANSWER, "4711", "<script>", "receipt"):
        assert secret not in message.text
    request = build_request(notice)
    assert request.recipient is not None
    assert request.recipient.external_id == dana.x.external_id
    assert notice.author is None  # automatic: it does not stop the case's clock
    event = CaseEvent.objects.get(case=dana.case, params__automatic="portal_reply_notice")
    assert (event.type, event.params["visibility"]) == ("reply_queued", "private")
    assert not ReplyNotice.objects.filter(case=bob.case).exists()
    assert ReplyNotice.objects.get(case=dana.case).due_at is None


def test_a_later_answer_waits_for_the_update_interval(dana: Customer, agent: Agent) -> None:
    client = Client()
    sign_in(client, dana, agent)
    _write_in_portal(client, dana, "Is Tuesday still on?")
    _answer(dana.case, agent)
    send_pending()
    first = _due(dana.case)
    assert send_due_reply_notices(now=first) == 1

    _write_in_portal(client, dana, "And what time?")
    _answer(dana.case, agent, "Between 9 and 11.")
    send_pending()
    second = _due(dana.case)

    assert second == first + timedelta(minutes=30)  # FAIRDESK_UPDATE_INTERVAL_MINUTES
    assert send_due_reply_notices(now=second - timedelta(seconds=1)) == 0
    assert send_due_reply_notices(now=second) == 1
    texts = [n.message.text for n in _notices(dana.case)]
    assert texts == [NOTICE.format(reference=dana.case.reference)] * 2
    assert ReplyNotice.objects.get(case=dana.case).sent_count == 2


def test_replies_elsewhere_or_held_tell_nobody_until_they_reach_the_portal(
    dana: Customer, bob: Customer, agent: Agent, supervisor: Agent
) -> None:
    client = Client()
    sign_in(client, dana, agent)
    public = submit_reply(
        case=bob.case, agent=agent, text="We are on it.", visibility="public", idempotency_key="b1"
    )
    assert public.channel == "x"
    _write_in_portal(client, dana, "Any news?")
    held = request_override(
        case=dana.case,
        agent=agent,
        text="That is your fault, obviously.",
        visibility="private",
        idempotency_key="held-1",
    )
    assert (held.status, held.channel) == ("held", "portal")
    send_pending()
    assert not ReplyNotice.objects.exists()

    approve_held_reply(outbox=held, supervisor=supervisor)
    due = _due(dana.case)
    assert send_due_reply_notices(now=due) == 0  # approved, not yet delivered: look again
    assert _due(dana.case) > due
    send_pending()
    assert send_due_reply_notices(now=_due(dana.case)) == 1
    assert len(_notices(dana.case)) == 1
    assert not ReplyNotice.objects.filter(case=bob.case).exists()


def test_the_notice_never_goes_to_a_stranger_in_the_thread_or_another_workspace(
    dana: Customer, globex_dana: Customer, agent: Agent, outsider: Agent
) -> None:
    stranger = ContactIdentity.objects.create(
        workspace=dana.workspace,
        contact=Contact.objects.create(workspace=dana.workspace, display_name="Mallory"),
        channel="x",
        external_id="u-mallory",
        handle="@mallory",
    )
    client = Client()
    sign_in(client, dana, agent)
    add_inbound(dana.case, stranger, text="@AcmeSupport DM me instead", external_id="mal-1")
    _write_in_portal(client, dana, "Please do not answer in public.")
    _answer(dana.case, agent)
    send_pending()
    assert send_due_reply_notices(now=_due(dana.case)) == 1

    [notice] = _notices(dana.case)
    request = build_request(notice)
    assert request.recipient is not None
    assert request.recipient.external_id == dana.x.external_id != stranger.external_id
    assert not OutboxMessage.objects.filter(workspace=globex_dana.workspace).exists()
    assert not ReplyNotice.objects.filter(case=globex_dana.case).exists()


def test_without_a_private_route_nothing_is_sent(dana: Customer, agent: Agent) -> None:
    client = Client()
    sign_in(client, dana, agent)
    _write_in_portal(client, dana, "Here is my model number: DR-550.")
    _answer(dana.case, agent)
    send_pending()
    ContactIdentity.objects.filter(contact=dana.case.contact).exclude(channel="portal").delete()
    outbox_rows = OutboxMessage.objects.count()

    assert send_due_reply_notices(now=_due(dana.case)) == 0

    assert OutboxMessage.objects.count() == outbox_rows
    assert ReplyNotice.objects.get(case=dana.case).due_at is None
    assert not Message.objects.filter(
        case=dana.case, direction=Direction.OUTBOUND, text__startswith="You have a new reply"
    ).exists()


def test_automatic_messages_after_a_portal_message_go_to_the_customers_channel_privately(
    dana: Customer, bob: Customer, agent: Agent
) -> None:
    """Nobody is told anything in the portal: "Is this fixed for you?" after Dana wrote
    there goes to her X account, privately (her case began in public); Bob's stays public."""
    client = Client()
    sign_in(client, dana, agent)
    _write_in_portal(client, dana, "Tuesday works for me.")

    asked = [propose_resolution(case=c.case, agent=agent).question for c in (dana, bob)]

    assert [(q.channel, q.message.visibility) for q in asked if q] == [
        ("x", "private"),
        ("x", "public"),
    ]
    assert asked[0] is not None
    dm = build_request(asked[0])
    assert dm.recipient is not None and dm.recipient.external_id == dana.x.external_id
