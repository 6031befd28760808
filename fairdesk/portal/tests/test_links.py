"""Sending a portal link: through the outbox, tone-checked, signed, digest-only, revocable."""

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import CaseEvent, DeliveryStatus, Direction, Message, Visibility
from fairdesk.cases.tests.factories import add_inbound
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import credentials, queries, services
from fairdesk.portal.models import PortalLink, PortalSession
from fairdesk.portal.tests.conftest import LINK, Customer, send_link, sign_in
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.sender import send_pending
from fairdesk.replies.services import ToneBlocked
from fairdesk.workspaces.models import Agent
from fairdesk.workspaces.services import issue_token


def test_link_is_a_private_message_on_the_customers_channel_through_the_outbox(
    dana: Customer, bob: Customer, agent: Agent
) -> None:
    sent, path = send_link(dana.case, agent)

    outbox = OutboxMessage.objects.get()
    message = outbox.message
    assert (outbox.channel, outbox.status, outbox.author_id) == ("x", "pending", agent.pk)
    assert outbox.tone_verdict == {"allowed": True, "issues": [], "suggestion": ""}
    assert (message.direction, message.visibility, message.case_id) == (
        Direction.OUTBOUND,
        Visibility.PRIVATE,
        dana.case.pk,
    )
    assert message.text == (
        "We can continue privately in our support portal.\n\n"
        f"Your private link for case {dana.case.reference}: http://testserver{path}\n"
        "It works for 7 days. When you open it, we send you a one-time code here to "
        "confirm it is you. ^JC"
    )
    request = build_request(outbox)
    assert request.recipient is not None
    assert (request.recipient.external_id, request.visibility) == ("u-d-1", "private")
    assert sent.link.contact_id == dana.case.contact_id
    assert sent.link.workspace_id == dana.workspace.pk
    assert CaseEvent.objects.filter(case=bob.case, type=CaseEvent.Type.REPLY_QUEUED).count() == 0


def test_only_a_digest_of_the_token_is_stored(dana: Customer, agent: Agent) -> None:
    sent, path = send_link(dana.case, agent)
    token = path.rstrip("/").rsplit("/", 1)[1]

    link = PortalLink.objects.get()
    assert link.digest == hashlib.sha256(token.encode()).hexdigest()
    secret, mac = token.split(".")
    assert len(secret) == 40  # 160 random bits, at least the 128 asked for
    assert len(mac) == 32
    row = json.dumps(list(PortalLink.objects.values().get().values()), default=str)
    assert token not in row
    assert secret not in row
    assert link.safe_text == sent.outbox.message.text.replace(
        f"http://testserver{path}", services.REMOVED_LINK
    )


def test_tokens_are_signed_per_workspace(dana: Customer, agent: Agent) -> None:
    token = credentials.new_link_token(workspace_id=dana.workspace.pk)

    assert credentials.link_token_valid(workspace_id=dana.workspace.pk, token=token)
    assert not credentials.link_token_valid(workspace_id=dana.workspace.pk + 1, token=token)
    tampered = ("0" if token[0] != "0" else "1") + token[1:]
    assert not credentials.link_token_valid(workspace_id=dana.workspace.pk, token=tampered)
    assert not credentials.link_token_valid(workspace_id=dana.workspace.pk, token=token.upper())
    assert len({credentials.new_link_token(workspace_id=1) for _ in range(50)}) == 50


def test_link_lifetime_is_configurable(dana: Customer, agent: Agent, settings: Any) -> None:
    settings.FAIRDESK_PORTAL_LINK_DAYS = 3
    before = timezone.now()

    sent, _ = send_link(dana.case, agent)

    assert before + timedelta(days=3) <= sent.link.expires_at <= timezone.now() + timedelta(days=3)
    assert "It works for 3 days." in sent.outbox.message.text


def test_same_key_sends_one_link(dana: Customer, agent: Agent) -> None:
    key = str(uuid.uuid4())
    first = services.send_portal_link(
        case=dana.case, agent=agent, base_url="http://testserver/", idempotency_key=key
    )
    again = services.send_portal_link(
        case=dana.case, agent=agent, base_url="http://testserver/", idempotency_key=key
    )

    assert again.link.pk == first.link.pk
    assert again.outbox.pk == first.outbox.pk
    assert (PortalLink.objects.count(), OutboxMessage.objects.count()) == (1, 1)


def test_same_key_on_another_case_is_refused(dana: Customer, bob: Customer, agent: Agent) -> None:
    key = str(uuid.uuid4())
    services.send_portal_link(
        case=dana.case, agent=agent, base_url="http://testserver/", idempotency_key=key
    )

    with pytest.raises(services.PortalInvalid):
        services.send_portal_link(
            case=bob.case, agent=agent, base_url="http://testserver/", idempotency_key=key
        )
    assert PortalLink.objects.filter(case=bob.case).count() == 0


def test_the_note_is_tone_checked_and_a_blocked_link_is_not_made(
    dana: Customer, agent: Agent
) -> None:
    with pytest.raises(ToneBlocked):
        send_link(dana.case, agent, note="Calm down, it's not rocket science.")

    assert PortalLink.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 0
    blocked = CaseEvent.objects.get(type=CaseEvent.Type.REPLY_BLOCKED)
    assert [r["kind"] for r in blocked.params["reasons"]] == ["condescension"]


def test_a_hostile_note_is_sent_as_written_text(dana: Customer, agent: Agent) -> None:
    note = '<script>alert(1)</script>\r\n=HYPERLINK("http://evil")'

    sent, _ = send_link(dana.case, agent, note=note)

    assert sent.outbox.message.text.startswith(note.strip())


def test_agent_of_another_workspace_cannot_send(dana: Customer, outsider: Agent) -> None:
    with pytest.raises(PermissionDenied):
        send_link(dana.case, outsider)
    assert PortalLink.objects.count() == 0


def test_link_goes_to_a_chosen_route_only(dana: Customer, agent: Agent) -> None:
    sent, _ = send_link(dana.case, agent, channel="email")
    assert sent.link.channel == "email"
    request = build_request(sent.outbox)
    assert request.recipient is not None
    assert request.recipient.external_id == "dana@example.com"

    with pytest.raises(services.PortalInvalid):
        send_link(dana.case, agent, channel="bluesky")
    assert PortalLink.objects.count() == 1


def test_an_unverified_email_is_no_route(bob: Customer, agent: Agent) -> None:
    """An address typed into a web form (Contact.email) proves nothing: no link or code
    goes there, even though replies may."""
    contact = bob.case.contact
    contact.email = "dana@example.com"
    contact.save(update_fields=["email"])

    assert [i.channel for i in queries.verification_routes(bob.case)] == ["x"]
    with pytest.raises(services.PortalInvalid):
        send_link(bob.case, agent, channel="email")
    assert PortalLink.objects.count() == 0


def test_no_private_route_no_link(workspace: Any, agent: Agent, dana: Customer) -> None:
    identity = dana.x
    identity.channel = "webform"
    identity.save(update_fields=["channel"])
    ContactIdentity.objects.filter(channel="email").delete()

    with pytest.raises(services.PortalInvalid, match="no private channel"):
        send_link(dana.case, agent)
    assert PortalLink.objects.count() == 0


def test_a_link_never_goes_to_someone_else_in_the_customers_thread(
    dana: Customer, bob: Customer, agent: Agent
) -> None:
    """Bob answered publicly in Dana's thread: a private X message on this case still goes
    to Dana (the sender only ever addresses the case's own contact)."""
    add_inbound(dana.case, bob.x, text="@AcmeSupport me too", external_id="b-in-d")

    sent, _ = send_link(dana.case, agent, channel="x")
    request = build_request(sent.outbox)
    assert request.recipient is not None
    assert request.recipient.external_id == dana.x.external_id
    assert request.recipient.external_id != bob.x.external_id


def test_delivered_link_text_is_redacted(dana: Customer, bob: Customer, agent: Agent) -> None:
    sent, path = send_link(dana.case, agent)
    bob_sent, _ = send_link(bob.case, agent)
    assert send_pending() == 2  # the sender redacts what it delivered

    message = Message.objects.get(pk=sent.outbox.message_id)
    assert message.delivery_status == DeliveryStatus.SENT
    assert path not in message.text
    assert message.text == sent.link.safe_text
    assert services.REMOVED_LINK in message.text
    assert LINK.search(Message.objects.get(pk=bob_sent.outbox.message_id).text) is None
    assert PortalLink.objects.filter(redacted_at__isnull=True).count() == 0
    assert services.redact_delivered(workspace_id=dana.workspace.pk) == 0


def test_undelivered_link_text_is_kept_for_the_sender(dana: Customer, agent: Agent) -> None:
    sent, path = send_link(dana.case, agent)

    assert services.redact_delivered(workspace_id=dana.workspace.pk) == 0
    assert path in Message.objects.get(pk=sent.outbox.message_id).text


def test_revoking_ends_the_link_and_its_sessions(dana: Customer, agent: Agent) -> None:
    client = Client()
    link = sign_in(client, dana, agent)
    home = reverse("portal:home", args=[dana.workspace.slug])
    assert client.get(home).status_code == 200

    services.revoke_link(link=link, agent=agent)

    response = client.get(home)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:signed-out", args=[dana.workspace.slug])
    assert PortalSession.objects.get().ended_at is not None
    assert PortalLink.objects.get().revoked_by == agent


def test_an_outsider_cannot_revoke(dana: Customer, agent: Agent, outsider: Agent) -> None:
    sent, _ = send_link(dana.case, agent)

    with pytest.raises(PermissionDenied):
        services.revoke_link(link=sent.link, agent=outsider)
    client = Client()
    client.force_login(outsider.user)
    response = client.post(reverse("portal:revoke-link", args=[sent.link.public_id]))
    assert response.status_code == 404
    assert PortalLink.objects.get().revoked_at is None


# --- the case page button and the API ----------------------------------------------------


def test_case_page_has_the_button_and_it_sends_a_link(
    dana: Customer, agent: Agent, agent_client: Client
) -> None:
    page = agent_client.get(reverse("case", args=[dana.case.public_id]))
    html = page.content.decode()
    assert "Send portal link" in html
    assert "Direct message on X to @dana" in html
    assert "E-mail to d•••@example.com" in html

    key = str(uuid.uuid4())
    data = {"channel": "x", "note": "", "idempotency_key": key}
    url = reverse("portal:send-link", args=[dana.case.public_id])
    response = agent_client.post(url, data)
    again = agent_client.post(url, data)

    assert response.status_code == again.status_code == 302
    assert response["Location"] == reverse("case", args=[dana.case.public_id])
    link = PortalLink.objects.get()
    assert (link.channel, link.idempotency_key, link.created_by) == ("x", key, agent)
    after = agent_client.get(reverse("case", args=[dana.case.public_id])).content.decode()
    assert "Portal link queued (x)." in after
    assert "Revoke" in after

    revoked = agent_client.post(reverse("portal:revoke-link", args=[link.public_id]))
    assert revoked.status_code == 302
    assert PortalLink.objects.get().revoked_by == agent
    assert (
        "revoked" in agent_client.get(reverse("case", args=[dana.case.public_id])).content.decode()
    )


def test_button_post_needs_csrf(dana: Customer, agent: Agent) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent.user)
    data = {"channel": "x", "idempotency_key": str(uuid.uuid4())}

    response = client.post(reverse("portal:send-link", args=[dana.case.public_id]), data)

    assert response.status_code == 403
    assert PortalLink.objects.count() == 0


def test_outsider_cannot_use_the_button(dana: Customer, outsider: Agent) -> None:
    client = Client()
    client.force_login(outsider.user)
    data = {"channel": "x", "idempotency_key": str(uuid.uuid4())}

    response = client.post(reverse("portal:send-link", args=[dana.case.public_id]), data)

    assert response.status_code == 404
    assert PortalLink.objects.count() == 0


def _api(token: str, path: str, body: dict[str, Any]) -> Any:
    return Client().post(
        path,
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_api_sends_a_link_idempotently(dana: Customer, agent: Agent, api_token: str) -> None:
    path = f"/api/v1/cases/{dana.case.public_id}/portal-link"
    body = {"idempotency_key": "api-key-0001", "channel": "email"}

    first = _api(api_token, path, body)
    again = _api(api_token, path, body)

    assert first.status_code == again.status_code == 201
    link = PortalLink.objects.get()
    outbox = OutboxMessage.objects.get()
    data = dict(first.json())
    expires_at = datetime.fromisoformat(data.pop("expires_at"))
    assert data == {
        "id": str(link.public_id),
        "case": str(dana.case.public_id),
        "channel": "email",
        "outbox_id": outbox.pk,
        "outbox_status": "pending",
    }
    assert expires_at == link.expires_at.replace(
        microsecond=link.expires_at.microsecond // 1000 * 1000
    )
    assert again.json() == first.json()


def test_api_refuses_bad_input_and_other_workspaces(
    dana: Customer, agent: Agent, api_token: str, outsider: Agent
) -> None:
    path = f"/api/v1/cases/{dana.case.public_id}/portal-link"

    unknown = _api(api_token, path, {"idempotency_key": "api-key-0002", "token": "x"})
    bad_channel = _api(api_token, path, {"idempotency_key": "api-key-0003", "channel": "fax"})
    theirs = _api(issue_token(agent=outsider, name="t"), path, {"idempotency_key": "api-key-04"})

    assert unknown.status_code == 422
    assert bad_channel.status_code == 422
    assert bad_channel.json() == {
        "detail": "This customer cannot be reached privately on that channel."
    }
    assert theirs.status_code == 404
    assert PortalLink.objects.count() == 0
