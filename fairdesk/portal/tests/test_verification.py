"""Proof of identity: a link alone signs no one in; a one-time code on the customer's own
channel does, within its limits."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import DeliveryStatus, Direction, Message, Visibility
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.portal import credentials, services
from fairdesk.portal.models import PortalChallenge, PortalLink, PortalSession
from fairdesk.portal.tests.conftest import Customer, code_of, open_and_ask, send_link, sign_in
from fairdesk.portal.views import PENDING_COOKIE, SESSION_COOKIE
from fairdesk.replies.models import OutboxMessage
from fairdesk.replies.outbound import build_request
from fairdesk.replies.sender import send_pending
from fairdesk.workspaces.models import Agent


def _check(client: Client, customer: Customer, code: str) -> Any:
    return client.post(reverse("portal:check-code", args=[customer.workspace.slug]), {"code": code})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**8:08d}"


def test_opening_a_link_does_not_sign_in(dana: Customer, agent: Agent) -> None:
    _, path = send_link(dana.case, agent)
    client = Client()

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:verify", args=["acme"])
    assert SESSION_COOKIE not in response.cookies
    assert PortalSession.objects.count() == 0
    assert client.get(reverse("portal:home", args=["acme"])).status_code == 302
    page = client.get(reverse("portal:verify", args=["acme"]))
    html = page.content.decode()
    assert "Direct message on X to @dana" in html
    assert "E-mail to d•••@example.com" in html
    assert "dana@example.com" not in html  # whoever holds a forwarded link learns nothing
    assert PortalLink.objects.get().opened_at is not None


def test_the_code_goes_by_dm_through_the_outbox_as_an_automatic_message(
    dana: Customer, agent: Agent
) -> None:
    _, path = send_link(dana.case, agent)
    before = timezone.now()

    challenge = open_and_ask(Client(), path, dana.x)

    outbox = OutboxMessage.objects.get(message=challenge.message)
    assert (outbox.channel, outbox.author_id, outbox.status) == ("x", None, "pending")
    assert outbox.tone_verdict["allowed"] is True
    assert outbox.tone_verdict["automatic"] is True
    message = outbox.message
    assert (message.direction, message.visibility) == (Direction.OUTBOUND, Visibility.PRIVATE)
    code = code_of(challenge)
    assert message.text == (
        f"Your code for the Acme support portal is {code}. It expires in 10 minutes. "
        "If you did not ask for it, you can ignore this message."
    )
    request = build_request(outbox)
    assert request.recipient is not None
    assert request.recipient.external_id == "u-d-1"
    # Only an HMAC of the code is stored, salted with the challenge.
    assert challenge.code_digest == credentials.code_digest(
        challenge_id=challenge.public_id, code=code
    )
    assert code not in challenge.code_digest
    assert code not in challenge.safe_text
    ttl = timedelta(minutes=10)
    assert before + ttl <= challenge.expires_at <= timezone.now() + ttl


def test_the_code_can_go_to_an_email_address_they_wrote_from(dana: Customer, agent: Agent) -> None:
    _, path = send_link(dana.case, agent)
    email = dana.case.contact.identities.get(channel="email")

    challenge = open_and_ask(Client(), path, email)

    outbox = OutboxMessage.objects.get(message=challenge.message)
    assert outbox.channel == "email"
    request = build_request(outbox)
    assert request.recipient is not None
    assert request.recipient.external_id == "dana@example.com"


def test_the_right_code_opens_a_session_with_a_safe_cookie(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    challenge = open_and_ask(client, path, dana.x)

    response = _check(client, dana, code_of(challenge))

    assert response.status_code == 302
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/portal/acme/"
    assert cookie["secure"] == ""
    assert response.cookies[PENDING_COOKIE].value == ""  # the pending link is forgotten
    session = PortalSession.objects.get()
    assert session.digest == credentials.digest(cookie.value)
    assert session.identity == dana.x
    assert (session.contact_id, session.workspace_id) == (dana.case.contact_id, dana.workspace.pk)
    assert client.get(reverse("portal:home", args=["acme"])).status_code == 200


def test_cookies_are_secure_behind_https(dana: Customer, agent: Agent, settings: Any) -> None:
    settings.SESSION_COOKIE_SECURE = True
    client = Client()
    _, path = send_link(dana.case, agent)

    opened = client.get(path)
    assert opened.cookies[PENDING_COOKIE]["secure"] is True
    challenge = open_and_ask(client, path, dana.x)
    response = _check(client, dana, code_of(challenge))

    assert response.cookies[SESSION_COOKIE]["secure"] is True


def test_wrong_codes_lock_the_challenge_after_five(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    challenge = open_and_ask(client, path, dana.x)
    code = code_of(challenge)

    first = _check(client, dana, _wrong(code))
    assert first.status_code == 422
    assert "That code is not right. 4 tries left." in first.content.decode()
    for _ in range(4):
        _check(client, dana, _wrong(code))
    locked = _check(client, dana, code)

    assert locked.status_code == 422
    assert "Too many wrong codes. Ask for a new code." in locked.content.decode()
    assert PortalChallenge.objects.get().attempts == services.MAX_CODE_ATTEMPTS
    assert PortalSession.objects.count() == 0


def test_a_malformed_code_is_not_an_attempt(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    open_and_ask(client, path, dana.x)

    response = _check(client, dana, "12ab<script>")

    assert response.status_code == 422
    assert "The code has 8 digits." in response.content.decode()
    assert "<script>" not in response.content.decode()
    assert PortalChallenge.objects.get().attempts == 0


def test_spaces_in_a_typed_code_are_fine(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    code = code_of(open_and_ask(client, path, dana.x))

    assert _check(client, dana, f" {code[:4]} {code[4:]} ").status_code == 302


def test_an_expired_code_is_refused(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    challenge = open_and_ask(client, path, dana.x)
    PortalChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _check(client, dana, code_of(challenge))

    assert response.status_code == 422
    assert "This code has expired. Ask for a new code." in response.content.decode()
    assert PortalSession.objects.count() == 0


def test_a_code_works_once(dana: Customer, agent: Agent) -> None:
    client = Client()
    sent, path = send_link(dana.case, agent)
    challenge = open_and_ask(client, path, dana.x)
    code = code_of(challenge)
    assert _check(client, dana, code).status_code == 302

    with pytest.raises(services.CodeRefused, match="already used"):
        services.verify_code(link=sent.link, challenge_id=challenge.public_id, code=code)
    assert PortalSession.objects.count() == 1


def test_a_new_code_replaces_the_old_one(
    dana: Customer, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = iter(["11111111", "22222222"])
    monkeypatch.setattr(credentials, "new_code", lambda: next(codes))
    client = Client()
    sent, path = send_link(dana.case, agent)
    old = open_and_ask(client, path, dana.x)
    open_and_ask(client, path, dana.x)

    with pytest.raises(services.CodeRefused, match="This code has expired"):
        services.verify_code(link=sent.link, challenge_id=old.public_id, code="11111111")
    # The browser holds the new challenge: the old code is simply wrong there.
    assert "That code is not right." in _check(client, dana, "11111111").content.decode()
    assert _check(client, dana, "22222222").status_code == 302


def test_codes_per_link_are_rate_limited(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    for _ in range(services.CODES_PER_LINK.hits):
        open_and_ask(client, path, dana.x)

    response = client.post(reverse("portal:send-code", args=["acme"]), {"route": dana.x.pk})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert PortalChallenge.objects.count() == services.CODES_PER_LINK.hits


def test_a_code_never_goes_to_another_customers_identity(
    dana: Customer, bob: Customer, globex_dana: Customer, agent: Agent
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    client.get(path)

    for identity in (bob.x, globex_dana.x):
        response = client.post(reverse("portal:send-code", args=["acme"]), {"route": identity.pk})
        assert response.status_code == 422
    assert PortalChallenge.objects.count() == 0
    assert OutboxMessage.objects.count() == 1  # the link only


def test_a_code_of_one_link_does_not_open_another(
    dana: Customer, bob: Customer, agent: Agent
) -> None:
    """Swapping: Bob's code typed against Dana's link, Dana's challenge against Bob's link."""
    dana_sent, dana_path = send_link(dana.case, agent)
    bob_sent, bob_path = send_link(bob.case, agent)
    dana_challenge = open_and_ask(Client(), dana_path, dana.x)
    bob_challenge = open_and_ask(Client(), bob_path, bob.x)

    with pytest.raises(services.CodeRefused, match="Ask for a code first"):
        services.verify_code(
            link=bob_sent.link, challenge_id=dana_challenge.public_id, code=code_of(dana_challenge)
        )
    with pytest.raises(services.CodeRefused):
        services.verify_code(
            link=dana_sent.link, challenge_id=dana_challenge.public_id, code=code_of(bob_challenge)
        )
    assert PortalSession.objects.count() == 0


def test_bad_expired_revoked_and_foreign_links_show_one_page(
    dana: Customer, globex_dana: Customer, agent: Agent, outsider: Agent
) -> None:
    _, expired = send_link(dana.case, agent)
    PortalLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked_sent, revoked = send_link(dana.case, agent)
    services.revoke_link(link=revoked_sent.link, agent=agent)
    _, good = send_link(dana.case, agent)
    _, globex = send_link(globex_dana.case, outsider)
    token = good.rstrip("/").rsplit("/", 1)[1]
    globex_token = globex.rstrip("/").rsplit("/", 1)[1]
    forged = credentials.new_link_token(workspace_id=dana.workspace.pk)

    paths = [
        expired,
        revoked,
        f"/portal/globex/l/{token}/",  # Acme's link in Globex
        f"/portal/acme/l/{globex_token}/",  # Globex's link in Acme
        f"/portal/acme/l/{forged}/",  # well signed, never issued
        "/portal/acme/l/not-a-token/",
        # one character changed (never to itself: the test failed when it ended in "0")
        f"/portal/acme/l/{token[:-1]}{'1' if token.endswith('0') else '0'}/",
    ]
    for path in paths:
        response = Client().get(path)
        assert response.status_code == 404, path
        assert "This link does not work any more" in response.content.decode()
        assert PENDING_COOKIE not in response.cookies
    assert Client().get(good).status_code == 302


def test_a_link_of_one_workspace_opens_nothing_in_the_other(
    dana: Customer, globex_dana: Customer, agent: Agent
) -> None:
    client = Client()
    sign_in(client, dana, agent)

    response = client.get(reverse("portal:home", args=["globex"]))
    case_page = client.get(reverse("portal:case", args=["globex", globex_dana.case.public_id]))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:signed-out", args=["globex"])
    assert case_page.status_code == 302
    # A pending cookie of Acme is not accepted at Globex either.
    assert client.get(reverse("portal:verify", args=["globex"])).status_code == 404


def test_a_tampered_pending_cookie_is_refused(dana: Customer, bob: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    bob_sent, _ = send_link(bob.case, agent)
    client.get(path)
    signed = client.cookies[PENDING_COOKIE].value
    client.cookies[PENDING_COOKIE] = signed.replace(
        f":{PortalLink.objects.get(case=dana.case).pk}:", f":{bob_sent.link.pk}:"
    )

    assert client.get(reverse("portal:verify", args=["acme"])).status_code == 404
    response = client.post(reverse("portal:send-code", args=["acme"]), {"route": bob.x.pk})
    assert response.status_code == 404
    assert PortalChallenge.objects.count() == 0


def test_code_messages_are_redacted_once_delivered(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    challenge = open_and_ask(client, path, dana.x)
    code = code_of(challenge)
    assert send_pending() == 2

    assert services.redact_delivered(workspace_id=dana.workspace.pk) == 0  # done by the sender

    assert challenge.message is not None
    message = Message.objects.get(pk=challenge.message.pk)
    assert message.delivery_status == DeliveryStatus.SENT
    assert code not in message.text
    assert services.REMOVED_CODE in message.text
    assert not Message.objects.filter(text__contains=path).exists()


def test_every_verification_post_needs_csrf(dana: Customer, agent: Agent) -> None:
    client = Client(enforce_csrf_checks=True)
    _, path = send_link(dana.case, agent)
    client.get(path)

    send = client.post(reverse("portal:send-code", args=["acme"]), {"route": dana.x.pk})
    check = client.post(reverse("portal:check-code", args=["acme"]), {"code": "12345678"})

    assert send.status_code == check.status_code == 403
    assert PortalChallenge.objects.count() == 0


def test_sign_in_ignores_next_parameters(dana: Customer, agent: Agent) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    opened = client.get(f"{path}?next=https://evil.example/")
    challenge = open_and_ask(client, path, dana.x)
    url = reverse("portal:check-code", args=["acme"]) + "?next=https://evil.example/"

    response = client.post(url, {"code": code_of(challenge), "next": "//evil.example/"})

    assert opened["Location"] == "/portal/acme/verify/"
    assert response["Location"] == "/portal/acme/"


def test_proving_an_identity_links_no_contact_and_no_address(
    dana: Customer, bob: Customer, agent: Agent
) -> None:
    """The portal never looks a contact up by an address, and creates or moves no
    identity: a session is only ever the link's own contact."""
    contact = bob.case.contact
    contact.email = "dana@example.com"  # typed into a web form, unverified
    contact.save(update_fields=["email"])
    before = sorted(ContactIdentity.objects.values_list("id", "contact_id", "channel"))
    contacts = sorted(Contact.objects.values_list("id", "email"))

    sign_in(Client(), dana, agent)

    assert sorted(ContactIdentity.objects.values_list("id", "contact_id", "channel")) == before
    assert sorted(Contact.objects.values_list("id", "email")) == contacts
    assert PortalSession.objects.get().contact_id == dana.case.contact_id


def test_unknown_workspace_is_404(db: None) -> None:
    assert Client().get(f"/portal/nowhere/l/{uuid.uuid4().hex}/").status_code == 404
    assert Client().get("/portal/nowhere/").status_code == 404
