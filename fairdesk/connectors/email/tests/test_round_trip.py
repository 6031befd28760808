"""The whole path against real servers: a customer's e-mail in the IMAP inbox →
``fairdesk poll`` → worker → case; the agent's reply → sender → SMTP, threaded; the
customer's answer to that reply → the same case."""

import hashlib
from email import message_from_bytes
from email.policy import default as default_policy

from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import Case, DeliveryStatus, Direction, Message
from fairdesk.connectors.email.tests.conftest import ACME, eml
from fairdesk.connectors.email.tests.servers import Dovecot, SmtpRecorder
from fairdesk.connectors.models import Channel
from fairdesk.contacts.models import Contact
from fairdesk.inbound.pipeline import drain
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace

DANA = "dana.whitfield@example.net"
DANA_ID = "<4f1c2a77-9d3e-4b8a-a1f0-6c2e5d9b1a10@example.net>"
SUBJECT = "DX-300 dryer stopped heating again (order 55812)"


def poll_and_process() -> None:
    call_command("poll", "--once")
    drain()


def test_mail_reply_and_answer_stay_one_case(
    acme_mailbox: Channel,
    globex_mailbox: Channel,
    dovecot: Dovecot,
    smtp_recorder: SmtpRecorder,
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
) -> None:
    dovecot.deliver(eml("alternative.eml"))
    dovecot.deliver(eml("latin1.eml"), user="help")  # Globex's own customer
    poll_and_process()

    case = Case.objects.get(workspace=workspace)
    assert (case.subject, case.origin_channel) == (SUBJECT, "email")
    assert Contact.objects.get(workspace=workspace).email == DANA
    assert Case.objects.get(workspace=other_workspace).subject.startswith("Rückerstattung")

    outbox = submit_reply(
        case=case,
        agent=agent,
        text="Sorry about the dryer. A technician will call you today.",
        visibility="private",
        idempotency_key="reply-55812",
    )
    assert send_pending() == 1

    our_id = f"<fd-{hashlib.sha256(b'reply-55812').hexdigest()[:32]}@acme.test>"
    [sent] = smtp_recorder.received
    assert (sent.mail_from, sent.rcpt_tos) == (ACME, [DANA])
    message = message_from_bytes(sent.content, policy=default_policy)
    assert message["Message-ID"] == our_id
    assert message["In-Reply-To"] == DANA_ID
    assert message["References"] == DANA_ID
    assert message["Subject"] == f"Re: {SUBJECT}"
    assert message["From"] == "Acme Support <support@acme.test>"
    assert "A technician will call you today. ^JC" in message.get_content()
    outbox.refresh_from_db()
    assert outbox.status == OutboxMessage.Status.SENT
    assert outbox.message.external_id == our_id
    assert outbox.message.delivery_status == DeliveryStatus.SENT
    assert [m["raw"] for m in dovecot.messages("Sent")] == [sent.content]

    # The copy of our reply comes back (the customer copied us), then their answer.
    dovecot.deliver(sent.content)
    answer = eml("customer_reply.eml").replace(b"IN_REPLY_TO", our_id.encode())
    dovecot.deliver(answer)
    poll_and_process()

    assert Case.objects.filter(workspace=workspace).count() == 1
    timeline = Message.objects.filter(case=case).order_by("id")
    assert [(m.direction, m.external_id) for m in timeline] == [
        (Direction.INBOUND, DANA_ID),
        (Direction.OUTBOUND, our_id),
        (Direction.INBOUND, "<c0ffee00-1111-4a2b-9c3d-55812reply@example.net>"),
    ]
    assert timeline[2].in_reply_to == our_id
    assert len(smtp_recorder.received) == 1
    assert Case.objects.filter(workspace=other_workspace).count() == 1


def test_hostile_html_mail_never_reaches_a_page_unsanitised(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace, agent: Agent
) -> None:
    dovecot.deliver(eml("html_only.eml"))
    poll_and_process()
    case = Case.objects.get(workspace=workspace)
    client = Client()
    client.force_login(agent.user)

    page = client.get(reverse("case", args=[case.public_id])).content.decode()

    assert "Please check my invoice and the order page" in page
    assert "Invoice &lt;script&gt;alert(1)&lt;/script&gt;" in page
    for hostile in ("<script>alert", "javascript:", "onerror", "onload", "document.cookie"):
        assert hostile not in page
    stored = Message.objects.get(case=case).text
    assert "<a " not in stored and "<script" not in stored
