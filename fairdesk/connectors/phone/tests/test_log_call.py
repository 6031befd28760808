"""Agents log a call on a case page: message, timeline event, SLA clock, workspaces."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from fairdesk.cases.lifecycle import apply_response, refresh_deadlines
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.cases.tests.factories import make_case
from fairdesk.connectors.phone import services
from fairdesk.connectors.phone.services import CallInvalid, log_call
from fairdesk.contacts.models import ContactIdentity
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Agent, Workspace

HOSTILE = "<script>alert('x')</script> <b>bold</b>\r\n=HYPERLINK(\"http://evil.example\")"


@pytest.fixture
def case(workspace: Workspace) -> Case:
    return make_case(workspace, at=timezone.now() - timedelta(hours=3))


def url(case: Case) -> str:
    return f"/cases/{case.public_id}/calls/"


def form(**overrides: Any) -> dict[str, Any]:
    started = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "direction": "inbound",
        "started_at": started,
        "minutes": "7",
        "notes": "Customer called: kettle still cold.",
        "key": str(uuid.uuid4()),
    }
    data.update(overrides)
    return data


def started_at(data: dict[str, Any]) -> datetime:
    return datetime.strptime(data["started_at"], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


def snapshot(case: Case) -> tuple[Any, ...]:
    case.refresh_from_db()
    return (
        Message.objects.count(),
        CaseEvent.objects.count(),
        case.status,
        case.awaiting_since,
        case.first_response_at,
        case.escalation_at,
    )


# --- the page -------------------------------------------------------------------------


def test_case_page_offers_to_log_a_call(case: Case, agent_client: Client) -> None:
    page = agent_client.get(f"/cases/{case.public_id}/").content.decode()

    assert f'<a href="{url(case)}" hx-get="{url(case)}"' in page
    assert ">Log a call</a>" in page


def test_form_page_and_htmx_partial(case: Case, agent_client: Client) -> None:
    full = agent_client.get(url(case))
    partial = agent_client.get(url(case), headers={"HX-Request": "true"})

    assert full.status_code == partial.status_code == 200
    assert f"<h1>Log a call on FD-{case.pk}</h1>" in full.content.decode()
    html = partial.content.decode()
    assert "<html" not in html
    assert "<legend>Who called</legend>" in html
    for name, label in [
        ("started_at", "When (UTC)"),
        ("minutes", "Duration (minutes)"),
        ("notes", "Notes"),
    ]:
        assert f'<label for="id_{name}">{label}</label>' in html
    assert re.search(r'<input type="hidden" name="key" value="[0-9a-f-]{36}"', html)


# --- logging --------------------------------------------------------------------------


def test_inbound_call_is_a_customer_message_on_the_case(
    case: Case, agent: Agent, agent_client: Client
) -> None:
    phone_identity = ContactIdentity.objects.create(
        workspace=case.workspace,
        contact=case.contact,
        channel="phone",
        external_id="+442079460958",
        handle="+442079460958",
    )
    data = form()

    response = agent_client.post(url(case), data)

    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.public_id}/"
    message = Message.objects.get(channel="phone")
    assert (
        message.case_id,
        message.direction,
        message.visibility,
        message.identity,
        message.agent,
        message.external_id,
        message.sent_at,
        message.delivery_status,
    ) == (
        case.pk,
        "inbound",
        "private",
        phone_identity,
        agent,
        f"logged-{data['key']}",
        started_at(data),
        "received",
    )
    assert message.text == "Customer called: kettle still cold.\n\n(Inbound call, 7 min 0 s)"
    event = CaseEvent.objects.get(case=case, type=CaseEvent.Type.MESSAGE_RECEIVED)
    assert (event.actor, event.at) == (agent, started_at(data))
    assert event.params == {
        "message_id": message.pk,
        "channel": "phone",
        "call": "inbound",
        "duration": "7 min 0 s",
    }


def test_without_a_phone_identity_the_customers_oldest_identity_speaks(
    case: Case, agent_client: Client
) -> None:
    assert agent_client.post(url(case), form()).status_code == 302

    message = Message.objects.get(channel="phone")
    assert message.identity == case.contact.identities.get()
    assert message.identity is not None and message.identity.channel == "x"
    page = agent_client.get(f"/cases/{case.public_id}/").content.decode()
    assert "Customer called: kettle still cold." in page


def test_inbound_call_reopens_a_case_waiting_on_the_customer(
    case: Case, agent: Agent, agent_client: Client
) -> None:
    case.status = CaseStatus.PENDING_CUSTOMER
    case.awaiting_since = None
    case.first_response_at = case.last_response_at = timezone.now() - timedelta(hours=2)
    case.save()
    data = form()

    assert agent_client.post(url(case), data).status_code == 302

    case.refresh_from_db()
    assert (case.status, case.awaiting_since, case.severity) == (
        CaseStatus.OPEN,
        started_at(data),
        "normal",
    )
    assert case.next_response_due_at == started_at(data) + timedelta(hours=24)


def test_outbound_call_counts_as_a_response_like_a_reply(
    case: Case, agent: Agent, agent_client: Client
) -> None:
    data = form(direction="outbound", notes="Called back, replacement on its way.")
    expected = Case.objects.get(pk=case.pk)
    apply_response(expected, at=started_at(data))
    refresh_deadlines(expected, targets_table(case.workspace))

    assert agent_client.post(url(case), data).status_code == 302

    case.refresh_from_db()
    fields = (
        "status",
        "first_response_at",
        "last_response_at",
        "awaiting_since",
        "first_response_due_at",
        "next_response_due_at",
        "resolution_due_at",
        "escalation_at",
    )
    assert [getattr(case, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert (case.status, case.first_response_at) == (CaseStatus.PENDING_CUSTOMER, started_at(data))
    message = Message.objects.get(channel="phone")
    assert (message.direction, message.agent, message.identity, message.delivery_status) == (
        "outbound",
        agent,
        None,
        "sent",
    )
    assert CaseEvent.objects.filter(case=case, type=CaseEvent.Type.REPLY_SENT).count() == 1


def test_double_submit_logs_one_call(case: Case, agent_client: Client) -> None:
    data = form()

    assert agent_client.post(url(case), data).status_code == 302
    assert agent_client.post(url(case), data).status_code == 302

    assert Message.objects.filter(channel="phone").count() == 1
    assert CaseEvent.objects.filter(type=CaseEvent.Type.MESSAGE_RECEIVED).count() == 1


def test_losing_a_double_submit_race_returns_the_winner(
    case: Case, agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = form(direction="outbound")
    assert agent_client.post(url(case), data).status_code == 302
    before = snapshot(case)
    seen: list[str] = []
    real = services._stored

    def not_yet_visible(on: Case, external_id: str) -> Message | None:
        seen.append(external_id)
        return None if len(seen) == 1 else real(on, external_id)

    monkeypatch.setattr(services, "_stored", not_yet_visible)

    assert agent_client.post(url(case), data).status_code == 302
    assert len(seen) == 2
    assert snapshot(case) == before


def test_a_key_used_on_another_case_is_refused(
    case: Case, workspace: Workspace, agent_client: Client
) -> None:
    other = make_case(workspace, external_id="m-2", handle="@lee", name="Lee")
    data = form()
    assert agent_client.post(url(case), data).status_code == 302
    before = snapshot(other)

    response = agent_client.post(url(other), data)

    assert response.status_code == 422
    assert "This form was already used for another case" in response.content.decode()
    assert snapshot(other) == before


def test_htmx_post_redirects_the_page_or_returns_the_form_with_errors(
    case: Case, agent_client: Client
) -> None:
    htmx = {"HX-Request": "true"}

    bad = agent_client.post(url(case), form(notes=""), headers=htmx)
    good = agent_client.post(url(case), form(), headers=htmx)

    assert bad.status_code == 200
    assert '<ul class="errorlist" id="id_notes_error">' in bad.content.decode()
    assert (good.status_code, good["HX-Redirect"]) == (200, f"/cases/{case.public_id}/")
    assert Message.objects.filter(channel="phone").count() == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"notes": ""}, "This field is required."),
        ({"notes": "x" * 4_001}, "Ensure this value has at most 4000 characters"),
        ({"minutes": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"minutes": "1441"}, "Ensure this value is less than or equal to 1440."),
        ({"direction": "sideways"}, "Select a valid choice."),
        ({"started_at": "soon"}, "Enter a valid date/time."),
        ({"key": ""}, "This form has expired."),
        ({"started_at": "2999-01-01T10:00"}, "A call cannot start in the future."),
    ],
)
def test_invalid_input_is_422_and_changes_nothing(
    case: Case, agent_client: Client, change: dict[str, str], error: str
) -> None:
    before = snapshot(case)

    response = agent_client.post(url(case), form(**change))

    assert response.status_code == 422
    assert error in response.content.decode()
    assert snapshot(case) == before


def test_hostile_notes_are_stored_verbatim_and_escaped(case: Case, agent_client: Client) -> None:
    assert agent_client.post(url(case), form(notes=HOSTILE)).status_code == 302

    assert Message.objects.get(channel="phone").text.startswith(HOSTILE.strip())
    page = agent_client.get(f"/cases/{case.public_id}/").content.decode()
    assert "<script>alert('x')" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


# --- access ---------------------------------------------------------------------------


def test_agent_of_another_workspace_gets_404_and_nothing_is_written(
    case: Case, outsider: Agent, other_workspace: Workspace
) -> None:
    theirs = make_case(other_workspace, external_id="g-1", handle="@gina", name="Gina")
    client = Client()
    client.force_login(outsider.user)
    before = snapshot(case)

    assert client.get(url(case)).status_code == 404
    assert client.post(url(case), form(direction="outbound")).status_code == 404
    assert snapshot(case) == before
    # Their own case works.
    assert client.post(url(theirs), form()).status_code == 302
    assert list(Message.objects.filter(channel="phone").values_list("case_id", flat=True)) == [
        theirs.pk
    ]


def test_anonymous_is_sent_to_login(case: Case) -> None:
    response = Client().post(url(case), form())

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert Message.objects.filter(channel="phone").count() == 0


def test_service_refuses_an_agent_of_another_workspace(case: Case, outsider: Agent) -> None:
    with pytest.raises(PermissionDenied):
        log_call(
            case=case,
            agent=outsider,
            direction="outbound",
            started_at=timezone.now(),
            duration=timedelta(minutes=1),
            notes="x",
            key=str(uuid.uuid4()),
        )
    assert Message.objects.filter(channel="phone").count() == 0


def test_service_refuses_a_naive_start(case: Case, agent: Agent) -> None:
    with pytest.raises(CallInvalid, match="time zone"):
        log_call(
            case=case,
            agent=agent,
            direction="inbound",
            started_at=datetime(2026, 11, 2, 9, 0),
            duration=timedelta(minutes=1),
            notes="x",
            key=str(uuid.uuid4()),
        )
    assert Message.objects.filter(channel="phone").count() == 0
