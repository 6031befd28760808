"""The workspace pages over cases built by the real inbound pipeline."""

from collections.abc import Callable

from django.test import Client
from django.urls import reverse

from conftest import record
from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import submit_reply
from fairdesk.workspaces.models import Agent, Workspace


def test_pipeline_case_through_queue_page_reply_and_send(
    workspace: Workspace, agent: Agent, agent_client: Client, ingest: Callable[..., int]
) -> None:
    ingest(
        workspace,
        [
            record("t-1", "My <script>x()</script> heater is broken", handle="@dana"),
            record("d-1", "Here is my order number 1234", visibility="private", minutes=5),
        ],
    )
    case = Case.objects.get(workspace=workspace)
    queue = agent_client.get(reverse("queue")).content.decode()
    assert case.reference in queue
    page = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "My &lt;script&gt;x()&lt;/script&gt; heater is broken" in page
    assert "Here is my order number 1234" in page

    outbox = submit_reply(
        case=case, agent=agent, text="Thanks, booked.", visibility="private", idempotency_key="k"
    )
    assert outbox.channel == "x"
    assert outbox.message.in_reply_to == "d-1"
    sent_before = OutboxMessage.objects.filter(status="sent").count()
    assert send_pending() >= 1
    assert send_pending() == 0
    assert OutboxMessage.objects.filter(status="sent").count() == sent_before + 1
    message = Message.objects.get(pk=outbox.message_id)
    assert message.external_id == "fd-k"
    assert CaseEvent.objects.filter(case=case, type=CaseEvent.Type.REPLY_SENT).count() >= 1
    case.refresh_from_db()
    assert case.first_response_at is not None


def test_security_acknowledgement_is_sent_and_case_stays_queued(
    workspace: Workspace, agent_client: Client, ingest: Callable[..., int]
) -> None:
    ingest(
        workspace,
        [record("s-1", "I found a security vulnerability: I can see other customers' invoices")],
    )
    case = Case.objects.get(workspace=workspace)
    acks = OutboxMessage.objects.filter(case=case, author=None)
    assert acks.count() == 1
    assert send_pending() == 1
    assert set(acks.values_list("status", flat=True)) == {"sent"}
    case.refresh_from_db()
    assert case.first_response_at is None
    assert case.reference in agent_client.get(reverse("queue")).content.decode()
    page = agent_client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "Fairdesk (automatic)" in page
