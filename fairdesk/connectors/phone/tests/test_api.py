"""``POST /api/v1/calls``: storage, threading, idempotency, validation, workspaces."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import record
from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.cases.tests.factories import make_case
from fairdesk.connectors.models import Channel
from fairdesk.connectors.phone.tests.conftest import CALLER, fixture_json, post_call
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Agent, Workspace

T0 = datetime(2026, 11, 2, 9, 14, tzinfo=UTC)


def call(**overrides: Any) -> dict[str, Any]:
    body = fixture_json("inbound_call.json")
    body.update(overrides)
    return body


def written() -> tuple[int, int, int, int]:
    """Everything a call could write."""
    return (
        InboundEvent.objects.count(),
        Message.objects.count(),
        CaseEvent.objects.count(),
        Contact.objects.count(),
    )


# --- inbound calls through the pipeline -----------------------------------------------


def test_inbound_call_is_stored_as_interchange_record(
    phone: Channel, telephony: str, workspace: Workspace
) -> None:
    response = post_call(telephony, fixture_json("inbound_call.json"))

    assert response.status_code == 201
    assert response.json() == {
        "call_id": "CA5f3f6a3c6d0e4b1a9c8e7d6f5a4b3c2d",
        "status": "stored",
        "case_reference": None,
    }
    event = InboundEvent.objects.get()
    assert (event.workspace_id, event.channel, event.external_id, event.source) == (
        workspace.pk,
        "phone",
        "CA5f3f6a3c6d0e4b1a9c8e7d6f5a4b3c2d",
        "phone",
    )
    assert event.payload == {
        "channel": "phone",
        "external_id": "CA5f3f6a3c6d0e4b1a9c8e7d6f5a4b3c2d",
        "direction": "inbound",
        "visibility": "private",
        "created_at": "2026-11-02T09:14:00Z",
        "author": {
            "external_id": CALLER,
            "handle": CALLER,
            "display_name": "Dana Whitfield",
            "followers": None,
            "email": None,
            "phone": CALLER,
        },
        "text": (
            "Kettle stopped heating after two days; wants a replacement.\n\n"
            "(Inbound call, 4 min 5 s)\n\n"
            "Transcript:\nAgent: Acme support, how can I help?\nCaller: My kettle stopped heating."
        ),
        "in_reply_to": None,
        "brand_handle": None,
        "entitlement": None,
    }
    phone.refresh_from_db()
    assert phone.last_event_at is not None


def test_inbound_call_opens_a_case_for_the_number_and_a_second_call_joins_it(
    phone: Channel, telephony: str, workspace: Workspace
) -> None:
    assert post_call(telephony, call()).status_code == 201
    assert drain() == 1
    later = (T0 + timedelta(hours=1)).isoformat()
    assert post_call(telephony, call(call_id="CA-2", started_at=later)).status_code == 201
    assert drain() == 1

    case = Case.objects.get(workspace=workspace)
    assert (case.origin_channel, case.contact.phone, case.contact.display_name) == (
        "phone",
        CALLER,
        "Dana Whitfield",
    )
    assert list(case.messages.values_list("external_id", "channel", "visibility")) == [
        ("CA5f3f6a3c6d0e4b1a9c8e7d6f5a4b3c2d", "phone", "private"),
        ("CA-2", "phone", "private"),
    ]
    assert ContactIdentity.objects.get(channel="phone").external_id == CALLER


def test_inbound_call_naming_a_case_joins_it(
    phone: Channel, telephony: str, workspace: Workspace, ingest: Callable[..., int]
) -> None:
    ingest(workspace, [record("t-1", "@AcmeSupport my kettle is broken", author="u-9")])
    case = Case.objects.get(workspace=workspace)

    response = post_call(telephony, call(case_reference=f"FD-{case.pk}"))
    assert response.status_code == 201
    assert drain() == 1

    message = Message.objects.get(channel="phone")
    assert message.case_id == case.pk
    assert f"(Inbound call, 4 min 5 s, about FD-{case.pk})" in message.text
    assert Case.objects.count() == 1


def test_same_call_id_again_is_a_no_op(phone: Channel, telephony: str) -> None:
    assert post_call(telephony, call()).status_code == 201

    response = post_call(telephony, call(notes="changed"))

    assert response.status_code == 200
    assert response.json() == {
        "call_id": "CA5f3f6a3c6d0e4b1a9c8e7d6f5a4b3c2d",
        "status": "duplicate",
        "case_reference": None,
    }
    assert InboundEvent.objects.count() == 1
    drain()
    assert post_call(telephony, call()).status_code == 200
    assert Message.objects.count() == 1


def test_hostile_notes_and_name_are_stored_verbatim(phone: Channel, telephony: str) -> None:
    notes = '<script>alert(1)</script>\r\n=HYPERLINK("http://evil.example")'
    name = "<b>Dana</b>\r\nBcc: x@example.com"

    assert post_call(telephony, call(notes=notes, caller_name=name)).status_code == 201

    payload = InboundEvent.objects.get().payload
    assert payload["text"].startswith(notes + "\n\n(Inbound call")
    assert payload["author"]["display_name"] == name


# --- outbound calls -------------------------------------------------------------------


def test_outbound_call_to_a_named_case_is_filed_at_once_as_a_response(
    phone: Channel, telephony: str, workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace, at=T0 - timedelta(hours=2))
    body = fixture_json("outbound_callback.json") | {"case_reference": f"FD-{case.pk}"}

    response = post_call(telephony, body)

    assert response.status_code == 201
    assert response.json() == {
        "call_id": "CA0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
        "status": "stored",
        "case_reference": f"FD-{case.pk}",
    }
    assert InboundEvent.objects.count() == 0
    message = Message.objects.get(channel="phone")
    called_at = datetime(2026, 11, 2, 10, 2, tzinfo=UTC)
    assert (message.case_id, message.direction, message.visibility, message.agent) == (
        case.pk,
        "outbound",
        "private",
        agent,
    )
    assert message.sent_at == called_at
    assert message.text == (
        f"Called back: replacement shipped today.\n\n(Outbound call, 1 min 1 s, about FD-{case.pk})"
    )
    case.refresh_from_db()
    assert (case.status, case.first_response_at, case.awaiting_since) == (
        CaseStatus.PENDING_CUSTOMER,
        called_at,
        None,
    )
    assert (case.first_response_due_at, case.next_response_due_at) == (None, None)
    assert case.escalation_at == case.first_inbound_at + timedelta(days=7)
    event = CaseEvent.objects.get(case=case, type=CaseEvent.Type.REPLY_SENT)
    assert event.params == {
        "message_id": message.pk,
        "channel": "phone",
        "call": "outbound",
        "duration": "1 min 1 s",
    }
    phone.refresh_from_db()
    assert phone.last_event_at is not None


def test_outbound_call_to_a_known_number_is_filed_on_its_open_case(
    phone: Channel, telephony: str, workspace: Workspace
) -> None:
    assert post_call(telephony, call()).status_code == 201
    drain()
    case = Case.objects.get(workspace=workspace)

    response = post_call(telephony, fixture_json("outbound_callback.json"))

    assert response.status_code == 201
    assert response.json()["case_reference"] == f"FD-{case.pk}"
    assert list(case.messages.values_list("direction", flat=True)) == ["inbound", "outbound"]
    case.refresh_from_db()
    assert case.first_response_at == datetime(2026, 11, 2, 10, 2, tzinfo=UTC)


def test_outbound_call_without_a_case_is_kept_as_history(
    phone: Channel, telephony: str, workspace: Workspace
) -> None:
    response = post_call(telephony, fixture_json("outbound_callback.json"))

    assert response.status_code == 201
    assert response.json()["case_reference"] is None
    assert InboundEvent.objects.get().payload["direction"] == "outbound"
    assert drain() == 1
    message = Message.objects.get()
    assert (message.channel, message.direction, message.case_id) == ("phone", "outbound", None)
    assert Case.objects.count() == 0


# --- bad input ------------------------------------------------------------------------


def _future() -> str:
    return (timezone.now() + timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"recording_url": "http://x.example/r.mp3"}, "recording_url"),
        ({"from_number": "020 7946 0958"}, "from_number"),
        ({"to_number": "+0 20"}, "to_number"),
        ({"call_id": "has spaces"}, "call_id"),
        ({"call_id": ""}, "call_id"),
        ({"direction": "sideways"}, "direction"),
        ({"started_at": "2026-11-02T09:14:00"}, "started_at"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": 86_401}, "duration_seconds"),
        ({"notes": "x" * 4_001}, "notes"),
        ({"transcript": "x" * 15_001}, "transcript"),
        ({"case_reference": "42"}, "case_reference"),
        ({"caller_name": "x" * 201}, "caller_name"),
    ],
)
def test_invalid_fields_are_422_and_change_nothing(
    phone: Channel, telephony: str, change: dict[str, Any], where: str
) -> None:
    response = post_call(telephony, call(**change))

    assert response.status_code == 422
    assert where in {str(part) for error in response.json()["detail"] for part in error["loc"]}
    assert written() == (0, 0, 0, 0)
    phone.refresh_from_db()
    assert phone.last_event_at is None


def test_call_starting_in_the_future_is_422(phone: Channel, telephony: str) -> None:
    response = post_call(telephony, call(started_at=_future()))

    assert response.status_code == 422
    assert "a call cannot start in the future" in response.content.decode()
    assert written() == (0, 0, 0, 0)


def test_unknown_case_reference_is_422(phone: Channel, telephony: str) -> None:
    response = post_call(telephony, call(case_reference="FD-999999"))

    assert response.status_code == 422
    assert response.json() == {"detail": "There is no case FD-999999 in this workspace."}
    assert written() == (0, 0, 0, 0)


def test_without_a_phone_channel_it_is_409(telephony: str) -> None:
    response = post_call(telephony, call())

    assert response.status_code == 409
    assert response.json() == {"detail": "Connect a phone channel in this workspace first."}
    assert written() == (0, 0, 0, 0)


def test_without_a_valid_token_it_is_401(phone: Channel) -> None:
    for headers in ({}, {"Authorization": "Bearer fd_not-a-token"}):
        response = Client().post(
            "/api/v1/calls", call(), content_type="application/json", headers=headers
        )
        assert response.status_code == 401
    assert written() == (0, 0, 0, 0)


# --- two workspaces -------------------------------------------------------------------


def test_a_token_of_another_workspace_cannot_post_into_this_one(
    phone: Channel,
    globex_phone: Channel,
    globex_telephony: str,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    acme_case = make_case(workspace, at=T0 - timedelta(hours=2))
    acme_case.contact.phone = CALLER
    acme_case.contact.save(update_fields=["phone"])
    before = written()

    # Naming Acme's case from Globex finds nothing, in either direction.
    for direction in ("inbound", "outbound"):
        body = call(call_id=f"G-{direction}", direction=direction)
        response = post_call(globex_telephony, body | {"case_reference": f"FD-{acme_case.pk}"})
        assert response.status_code == 422
        assert response.json() == {
            "detail": f"There is no case FD-{acme_case.pk} in this workspace."
        }
    assert written() == before

    # Acme's customer's number, reported by Globex: Globex's own contact and case.
    assert post_call(globex_telephony, call(call_id="G-1")).status_code == 201
    callback = fixture_json("outbound_callback.json") | {"call_id": "G-2"}
    # Before the pipeline filed G-1 there is no case to call back on: kept as history.
    assert post_call(globex_telephony, callback).json()["case_reference"] is None
    assert drain() == 2
    assert post_call(globex_telephony, callback | {"call_id": "G-3"}).status_code == 201

    globex_case = Case.objects.get(workspace=other_workspace)
    assert globex_case.contact_id != acme_case.contact_id
    assert list(globex_case.messages.values_list("external_id", flat=True)) == ["G-1", "G-3"]
    assert list(acme_case.messages.values_list("channel", flat=True)) == ["x"]
    assert InboundEvent.objects.filter(workspace=workspace).count() == 0
    acme_case.refresh_from_db()
    assert (acme_case.first_response_at, acme_case.status) == (None, CaseStatus.NEW)
    phone.refresh_from_db()
    globex_phone.refresh_from_db()
    assert (phone.last_event_at is None, globex_phone.last_event_at is None) == (True, False)
