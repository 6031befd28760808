"""The signed-in portal: only this customer's cases in this workspace, only what the
customer may see, and their private replies and CSAT on their own case."""

import hashlib
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseStatus,
    DeliveryStatus,
    Direction,
    Message,
    Visibility,
)
from fairdesk.cases.tests.factories import add_inbound
from fairdesk.followthrough.models import WorkOrder
from fairdesk.followthrough.services import NewWorkOrder, create_work_order, update_work_order
from fairdesk.portal import services
from fairdesk.portal.models import CsatResponse, PortalSession
from fairdesk.portal.queries import customer_timeline
from fairdesk.portal.tests.conftest import Customer, case_url, sign_in
from fairdesk.portal.views import SESSION_COOKIE
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import request_override, submit_reply
from fairdesk.workspaces.models import Agent

HOSTILE = "<script>alert('x')</script> <b>bold</b>\r\nSet-Cookie: evil=1 =cmd|'/c calc'!A1"
NOTE = "INTERNAL: customer threatened chargeback, do not refund"


@pytest.fixture
def signed_in(dana: Customer, bob: Customer, agent: Agent) -> Client:
    client = Client()
    sign_in(client, dana, agent)
    return client


def _reply(case: Case, agent: Agent, text: str, visibility: str = "public") -> OutboxMessage:
    return submit_reply(
        case=case, agent=agent, text=text, visibility=visibility, idempotency_key=str(uuid.uuid4())
    )


def _note(case: Case, agent: Agent, text: str = NOTE) -> Message:
    return Message.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        channel="note",
        direction=Direction.SYSTEM,
        visibility=Visibility.INTERNAL,
        agent=agent,
        text=text,
        sent_at=timezone.now(),
    )


def _attach(customer: Customer, external_id: str, data: bytes, name: str) -> Attachment:
    sha = hashlib.sha256(data).hexdigest()
    path = Attachment.storage_path(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Attachment.objects.create(
        workspace=customer.workspace,
        channel="x",
        message_external_id=external_id,
        position=0,
        filename=name,
        content_type="text/html",
        size=len(data),
        sha256=sha,
    )


def test_home_lists_only_this_customers_cases_in_this_workspace(
    signed_in: Client, dana: Customer, bob: Customer, globex_dana: Customer
) -> None:
    response = signed_in.get(reverse("portal:home", args=["acme"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert dana.case.reference in html
    assert "Dana: dryer broken" in html
    assert bob.case.reference not in html
    assert "Bob: dryer broken" not in html
    assert "Globex secret order" not in html


def test_case_page_shows_the_customer_visible_timeline_only(
    signed_in: Client, dana: Customer, bob: Customer, agent: Agent, supervisor: Agent
) -> None:
    _reply(dana.case, agent, "We are on it, Dana.")
    send_pending()
    _reply(dana.case, agent, "Not sent yet")  # queued
    request_override(
        case=dana.case,
        agent=agent,
        text="Calm down, obviously you broke it",
        visibility="public",
        idempotency_key=str(uuid.uuid4()),
    )  # held by the tone guard
    _note(dana.case, agent)
    add_inbound(dana.case, bob.x, text="Bob's private DM", external_id="b-dm", visibility="private")
    Message.objects.create(
        workspace=dana.workspace,
        case=dana.case,
        channel="x",
        direction=Direction.OUTBOUND,
        visibility=Visibility.PRIVATE,
        in_reply_to="b-dm",
        text="Private answer to Bob",
        sent_at=timezone.now(),
        delivery_status=DeliveryStatus.SENT,
        external_id="out-bob",
    )

    html = signed_in.get(case_url(dana)).content.decode()

    assert "Dana: dryer broken" in html
    assert "We are on it, Dana. ^JC" in html
    for hidden in (
        "Not sent yet",
        "Calm down",
        NOTE,
        "Bob&#x27;s private DM",
        "Private answer to Bob",
        "service_down",  # triage
        "negative",
        "Front line",  # team
        "Jo Chen",  # agent names
        "Severity",
    ):
        assert hidden not in html, hidden


def test_timeline_records_carry_no_internal_fields(dana: Customer, agent: Agent) -> None:
    _note(dana.case, agent)

    entries = customer_timeline(dana.case)

    assert [(e.mine, e.channel, e.text) for e in entries] == [(True, "X", "Dana: dryer broken")]


def test_status_next_step_eta_and_work_order_labels(
    signed_in: Client, dana: Customer, agent: Agent
) -> None:
    team = dana.workspace.teams.get(slug="field-service")
    due = timezone.now() + timedelta(days=2)
    part = create_work_order(
        case=dana.case,
        actor=agent,
        order=NewWorkOrder(
            kind="part_shipment",
            team=team,
            title="Ship element A-113 from warehouse 4 (margin 12%)",
            customer_label="Replacement part on its way",
            due_at=due,
            idempotency_key="wo-1",
        ),
    )
    cancelled = create_work_order(
        case=dana.case,
        actor=agent,
        order=NewWorkOrder(
            kind="refund",
            team=team,
            title="Refund",
            customer_label="Refund of the call-out fee",
            due_at=due,
            idempotency_key="wo-2",
        ),
    )
    update_work_order(work_order=cancelled, actor=agent, status=WorkOrder.Status.CANCELLED)
    update_work_order(work_order=part, actor=agent, status=WorkOrder.Status.IN_PROGRESS)

    html = signed_in.get(case_url(dana)).content.decode()

    assert "<strong>Work in progress</strong>" in html
    assert "Replacement part on its way — <strong>In progress</strong>" in html
    assert due.strftime("%Y-%m-%d %H:%M") in html
    assert "warehouse 4" not in html
    assert "Refund of the call-out fee" not in html


def test_hostile_text_is_escaped(signed_in: Client, dana: Customer, agent: Agent) -> None:
    add_inbound(dana.case, dana.x, text=HOSTILE, external_id="d-hostile")
    Case.objects.filter(pk=dana.case.pk).update(subject=HOSTILE[:200], next_step=HOSTILE[:300])

    html = signed_in.get(case_url(dana)).content.decode()
    home = signed_in.get(reverse("portal:home", args=["acme"])).content.decode()

    for page in (html, home):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
        assert "<b>bold</b>" not in page


def test_another_customers_case_and_file_are_404(
    signed_in: Client,
    dana: Customer,
    bob: Customer,
    globex_dana: Customer,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.DATA_DIR = tmp_path
    mine = _attach(dana, "d-1", b"<html>dana's receipt</html>", "receipt.html")
    theirs = _attach(bob, "b-1", b"bob's invoice", "invoice.pdf")

    own = signed_in.get(reverse("portal:file", args=["acme", mine.public_id]))
    assert own.status_code == 200
    assert own.content == b"<html>dana's receipt</html>"
    assert own["Content-Type"] == "application/octet-stream"
    assert own["Content-Disposition"] == 'attachment; filename="receipt.html"'
    assert own["Content-Security-Policy"] == "sandbox"
    assert "receipt.html" in signed_in.get(case_url(dana)).content.decode()

    for url in (
        case_url(bob),
        reverse("portal:case", args=["acme", globex_dana.case.public_id]),
        reverse("portal:case", args=["acme", uuid.uuid4()]),
        reverse("portal:file", args=["acme", theirs.public_id]),
        reverse("portal:file", args=["acme", uuid.uuid4()]),
        reverse("portal:reply", args=["acme", bob.case.public_id]),
    ):
        assert signed_in.get(url).status_code in (404, 405), url
    response = signed_in.post(
        reverse("portal:reply", args=["acme", bob.case.public_id]),
        {"text": "hi", "idempotency_key": str(uuid.uuid4())},
    )
    assert response.status_code == 404
    csat = signed_in.post(reverse("portal:csat", args=["acme", bob.case.public_id]), {"score": 1})
    assert csat.status_code == 404
    assert Message.objects.filter(channel="portal").count() == 0
    assert CsatResponse.objects.count() == 0


def test_a_file_of_an_internal_note_is_not_downloadable(
    signed_in: Client, dana: Customer, agent: Agent, settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path
    note = _note(dana.case, agent)
    Message.objects.filter(pk=note.pk).update(channel="x", external_id="note-1")
    hidden = _attach(dana, "note-1", b"internal", "internal.txt")

    response = signed_in.get(reverse("portal:file", args=["acme", hidden.public_id]))

    assert response.status_code == 404


def test_swapping_session_cookies_between_workspaces_and_customers(
    dana: Customer, bob: Customer, globex_dana: Customer, agent: Agent, outsider: Agent
) -> None:
    acme, globex, bobs = Client(), Client(), Client()
    sign_in(acme, dana, agent)
    sign_in(globex, globex_dana, outsider)
    sign_in(bobs, bob, agent)
    globex_secret = globex.cookies[SESSION_COOKIE].value

    stolen = Client()
    stolen.cookies[SESSION_COOKIE] = globex_secret
    assert stolen.get(reverse("portal:home", args=["acme"])).status_code == 302
    assert stolen.get(case_url(dana)).status_code == 302
    assert bobs.get(case_url(dana)).status_code == 404
    assert "Globex secret order" in globex.get(case_url(globex_dana)).content.decode()


def test_an_expired_or_ended_session_is_signed_out(
    signed_in: Client, dana: Customer, bob: Customer
) -> None:
    PortalSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = signed_in.get(case_url(dana))

    assert response.status_code == 302
    assert response["Location"] == "/portal/acme/signed-out/"


def test_logout_ends_the_session(signed_in: Client, dana: Customer) -> None:
    response = signed_in.post(reverse("portal:logout", args=["acme"]))

    assert response.status_code == 302
    assert response.cookies[SESSION_COOKIE].value == ""
    assert PortalSession.objects.get().ended_at is not None
    assert signed_in.get(case_url(dana)).status_code == 302


def test_every_portal_post_needs_csrf(dana: Customer, bob: Customer, agent: Agent) -> None:
    plain = Client()
    sign_in(plain, dana, agent)
    client = Client(enforce_csrf_checks=True)
    client.cookies[SESSION_COOKIE] = plain.cookies[SESSION_COOKIE].value
    Case.objects.filter(pk=dana.case.pk).update(status=CaseStatus.CLOSED)
    posts = {
        reverse("portal:reply", args=["acme", dana.case.public_id]): {
            "text": "hi",
            "idempotency_key": str(uuid.uuid4()),
        },
        reverse("portal:csat", args=["acme", dana.case.public_id]): {"score": 5},
        reverse("portal:logout", args=["acme"]): {},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    assert Message.objects.filter(channel="portal").count() == 0
    assert CsatResponse.objects.count() == 0
    assert PortalSession.objects.get().ended_at is None
    # With the token of the page's own form, the same post goes through.
    page = client.get(case_url(dana)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    data = {"score": 5, "csrfmiddlewaretoken": token.group(1)}
    assert (
        client.post(reverse("portal:csat", args=["acme", dana.case.public_id]), data).status_code
        == 302
    )
    assert CsatResponse.objects.count() == 1


# --- replies -------------------------------------------------------------------------------


def test_a_reply_is_an_inbound_private_message_on_that_case_with_its_clock(
    signed_in: Client, dana: Customer, bob: Customer, agent: Agent
) -> None:
    _reply(dana.case, agent, "Could you send us a photo of the label?")
    send_pending()
    case = Case.objects.get(pk=dana.case.pk)
    assert (case.status, case.awaiting_since) == (CaseStatus.PENDING_CUSTOMER, None)
    bob_before = Case.objects.values().get(pk=bob.case.pk)
    key = str(uuid.uuid4())

    response = signed_in.post(
        reverse("portal:reply", args=["acme", dana.case.public_id]),
        {"text": f"  {HOSTILE}  ", "idempotency_key": key},
    )

    assert response.status_code == 302
    assert response["Location"] == case_url(dana)
    message = Message.objects.get(channel="portal")
    assert (message.direction, message.visibility, message.case_id) == (
        Direction.INBOUND,
        Visibility.PRIVATE,
        dana.case.pk,
    )
    assert (message.identity, message.external_id, message.text) == (
        dana.x,
        f"portal-{key}",
        HOSTILE,
    )
    case = Case.objects.get(pk=dana.case.pk)
    assert case.status == CaseStatus.OPEN
    assert case.awaiting_since == message.sent_at
    assert case.last_inbound_at == message.sent_at
    assert case.next_response_due_at is not None
    assert case.next_response_due_at > message.sent_at
    assert case.escalation_at == min(
        d for d in (case.next_response_due_at, case.resolution_due_at) if d is not None
    )
    event = CaseEvent.objects.get(case=case, type=CaseEvent.Type.MESSAGE_RECEIVED)
    assert event.params == {"message_id": message.pk, "channel": "portal"}
    assert Case.objects.values().get(pk=bob.case.pk) == bob_before
    html = signed_in.get(case_url(dana)).content.decode()
    assert "Thank you — your message is on your case." in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_the_same_reply_form_twice_is_one_message(signed_in: Client, dana: Customer) -> None:
    data = {"text": "Here is the label photo", "idempotency_key": str(uuid.uuid4())}
    url = reverse("portal:reply", args=["acme", dana.case.public_id])

    assert signed_in.post(url, data).status_code == 302
    assert signed_in.post(url, data).status_code == 302

    assert Message.objects.filter(channel="portal").count() == 1
    assert CaseEvent.objects.filter(type=CaseEvent.Type.MESSAGE_RECEIVED).count() == 1


def test_a_security_report_in_the_portal_raises_severity_as_anywhere(
    signed_in: Client, dana: Customer
) -> None:
    text = "I found a security vulnerability: your login page leaks other users' passwords"

    signed_in.post(
        reverse("portal:reply", args=["acme", dana.case.public_id]),
        {"text": text, "idempotency_key": str(uuid.uuid4())},
    )

    case = Case.objects.select_related("team").get(pk=dana.case.pk)
    assert case.severity == "critical"
    assert case.reason == "security_report"
    assert case.team is not None and case.team.slug == "security"
    assert CaseEvent.objects.filter(case=case, type=CaseEvent.Type.SEVERITY_CHANGED).count() == 1


def test_empty_or_closed_replies_are_refused(signed_in: Client, dana: Customer) -> None:
    url = reverse("portal:reply", args=["acme", dana.case.public_id])
    empty = signed_in.post(url, {"text": "   ", "idempotency_key": str(uuid.uuid4())})
    Case.objects.filter(pk=dana.case.pk).update(status=CaseStatus.CLOSED)
    closed_session = PortalSession.objects.get()
    case = Case.objects.get(pk=dana.case.pk)

    with pytest.raises(services.PortalInvalid, match="This case is closed"):
        services.post_reply(session=closed_session, case=case, text="hello", key="k-1")
    assert empty.status_code == 422
    assert Message.objects.filter(channel="portal").count() == 0


def test_agent_private_reply_after_a_portal_message_shows_in_the_portal(
    signed_in: Client, dana: Customer, agent: Agent
) -> None:
    signed_in.post(
        reverse("portal:reply", args=["acme", dana.case.public_id]),
        {"text": "Label photo attached", "idempotency_key": str(uuid.uuid4())},
    )
    outbox = _reply(dana.case, agent, "Thanks, a technician comes Tuesday.", visibility="private")
    assert outbox.channel == "portal"
    send_pending()

    html = signed_in.get(case_url(dana)).content.decode()

    assert "Thanks, a technician comes Tuesday. ^JC" in html


def test_no_internal_note_reaches_any_outbound_payload(
    dana: Customer, agent: Agent, signed_in: Client
) -> None:
    """Every outbound row the portal queued (link, code) carries only its own text."""
    _note(dana.case, agent)
    for outbox in OutboxMessage.objects.select_related("message", "case"):
        request = build_request(outbox)
        assert NOTE not in request.text
        assert "note" not in request.thread
        assert NOTE not in str(request)


# --- CSAT ------------------------------------------------------------------------------


def test_csat_after_closure_once(signed_in: Client, dana: Customer, bob: Customer) -> None:
    url = reverse("portal:csat", args=["acme", dana.case.public_id])
    assert "How did we do?" not in signed_in.get(case_url(dana)).content.decode()
    early = signed_in.post(url, {"score": 5})
    Case.objects.filter(pk__in=[dana.case.pk, bob.case.pk]).update(status=CaseStatus.CLOSED)
    assert "How did we do?" in signed_in.get(case_url(dana)).content.decode()

    bad = signed_in.post(url, {"score": 9})
    first = signed_in.post(url, {"score": 4, "comment": HOSTILE})
    second = signed_in.post(url, {"score": 1})

    assert (early.status_code, bad.status_code, first.status_code) == (422, 422, 302)
    assert second.status_code == 422
    answer = CsatResponse.objects.get()
    assert (answer.case_id, answer.score, answer.comment, answer.channel) == (
        dana.case.pk,
        4,
        HOSTILE,
        "portal",
    )
    assert answer.contact_id == dana.case.contact_id
    assert "You rated this case 4 out of 5." in signed_in.get(case_url(dana)).content.decode()
