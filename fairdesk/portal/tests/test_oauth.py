"""Proof of identity by signing in with Mastodon: what only Mastodon's way does, against
the Mastodon stand-in running as a real HTTP server on loopback (one per workspace, like
the connector's tests). What X's way does as well is in ``test_oauth_providers.py``.

Dana (Acme: X, e-mail and Mastodon ``@dana``) signs in; Bob (Acme, X only) is offered
no button; Bob-on-Mastodon is another customer of Acme who is on Mastodon. Dana also
talks to Globex, whose channel is on another instance. The browser is Django's test
client; the step on the instance is an HTTP GET of the authorization URL, which the
stand-in approves as ``signed_in``.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from fairdesk.connectors import secrets
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.tests.conftest import ACME_TOKEN, connect
from fairdesk.connectors.models import Channel
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import oauth, services
from fairdesk.portal.models import PortalChallenge, PortalSession
from fairdesk.portal.tests import oauth_flow
from fairdesk.portal.tests.conftest import Customer, case_url, send_link
from fairdesk.portal.tests.oauth_flow import (
    CHROMIUM,
    MASTODON_BOB,
    MASTODON_CALLBACK,
    MASTODON_DANA,
    MASTODON_TOKEN,
    acme_mastodon,
    approve,
    connect_globex_mastodon,
    globex_mastodon,
    no_session_made,
    on_mastodon,
    query,
    running,
    sign_in_in_chromium,
    text,
    verify_page,
    with_params,
)
from fairdesk.workspaces.models import Agent

BUTTON = "Sign in with Mastodon"


@pytest.fixture
def acme_instance() -> Iterator[MastodonStandIn]:
    yield from running(acme_mastodon())


@pytest.fixture
def globex_instance() -> Iterator[MastodonStandIn]:
    yield from running(globex_mastodon())


@pytest.fixture
def acme_channel(dana: Customer, acme_instance: MastodonStandIn) -> Channel:
    on_mastodon(dana, MASTODON_DANA, "@dana")
    return connect(dana.workspace, acme_instance)


@pytest.fixture
def bob_on_mastodon(bob: Customer) -> Customer:
    on_mastodon(bob, MASTODON_BOB, "@bob")
    return bob


@pytest.fixture
def globex_channel(globex_dana: Customer, globex_instance: MastodonStandIn) -> Channel:
    return connect_globex_mastodon(globex_dana, globex_instance)


def start(client: Client, path: str) -> str:
    """Open the link and press "Sign in with Mastodon": the instance's authorize URL."""
    return oauth_flow.start(client, path, "mastodon")


# --- the flow ------------------------------------------------------------------------------


def test_the_calls_follow_mastodons_documented_formats(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    acme_instance.signed_in = MASTODON_DANA

    authorize = start(client, path)
    assert client.get(approve(authorize)).status_code == 302

    # The protocol as Mastodon documents it: S256 PKCE, state, the one scope needed.
    asked = query(authorize)
    assert authorize.startswith(f"{acme_instance.url}/oauth/authorize?")
    assert (asked["response_type"], asked["scope"]) == ("code", "read:accounts")
    assert (asked["redirect_uri"], asked["code_challenge_method"]) == (MASTODON_CALLBACK, "S256")
    assert len(asked["state"]) >= 43 and len(asked["code_challenge"]) == 43
    assert asked["state"] not in PortalChallenge.objects.get().code_digest
    (exchange,) = acme_instance.requests_to("POST", MASTODON_TOKEN)
    form = parse_qs(exchange.body.decode())
    assert form["grant_type"] == ["authorization_code"]
    assert len(form["code_verifier"][0]) == 64
    assert acme_instance.user_tokens == {}  # the token was revoked once the account was read


def test_the_app_is_registered_once_and_kept_encrypted(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    acme_instance.signed_in = MASTODON_DANA
    for _ in range(2):
        _, path = send_link(dana.case, agent)
        client = Client()
        assert client.get(approve(start(client, path))).status_code == 302

    (registration,) = acme_instance.requests_to("POST", r"^/api/v1/apps$")
    assert registration.json() == {
        "client_name": "Fairdesk support portal",
        "redirect_uris": MASTODON_CALLBACK,
        "scopes": "read:accounts",
    }
    (app,) = acme_instance.apps.values()
    acme_channel.refresh_from_db()
    stored = secrets.credentials(acme_channel)
    assert stored["access_token"] == ACME_TOKEN  # the channel's own token is kept
    assert (stored["oauth_client_id"], stored["oauth_client_secret"]) == (
        app["client_id"],
        app["client_secret"],
    )
    assert app["client_secret"] not in acme_channel.credentials_encrypted
    assert PortalSession.objects.count() == 2


def test_the_stand_in_enforces_pkce(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    """So the flow passing above proves the portal sends the matching verifier."""
    acme_instance.signed_in = MASTODON_DANA
    _, path = send_link(dana.case, agent)
    code = query(approve(start(Client(), path)))["code"]
    (app,) = acme_instance.apps.values()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": MASTODON_CALLBACK,
    }

    without = httpx.post(f"{acme_instance.url}/oauth/token", data=form)
    wrong = httpx.post(f"{acme_instance.url}/oauth/token", data={**form, "code_verifier": "x" * 64})

    assert (without.status_code, without.json()) == (400, {"error": "invalid_grant"})
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant"})
    assert acme_instance.user_tokens == {}


# --- refusals ------------------------------------------------------------------------------


def test_a_used_code_is_refused_by_the_instance(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    acme_instance.signed_in = MASTODON_DANA
    first = approve(start(client, path))
    assert client.get(first).status_code == 302
    second = approve(start(client, path))

    reused = client.get(with_params(second, code=query(first)["code"]))

    assert reused.status_code == 422
    assert "Mastodon did not confirm the sign-in." in text(reused)
    assert PortalSession.objects.count() == 1
    assert PortalChallenge.objects.filter(verified_at__isnull=True).count() == 1


def test_state_of_one_link_does_not_open_another(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client = Client()
    _, path_a = send_link(dana.case, agent)
    sent_b, path_b = send_link(dana.case, agent)
    acme_instance.signed_in = MASTODON_DANA
    back_a = approve(start(client, path_a))
    back_b = approve(start(client, path_b))  # the browser now holds link B's attempt

    refused = client.get(back_a)

    assert refused.status_code == 422
    assert "This sign-in was not started here." in text(refused)
    no_session_made()
    assert client.get(back_b).status_code == 302
    assert PortalSession.objects.get().link_id == sent_b.link.pk


def test_an_attempt_for_dana_does_not_survive_opening_bobs_link(
    dana: Customer,
    bob_on_mastodon: Customer,
    agent: Agent,
    acme_channel: Channel,
    acme_instance: MastodonStandIn,
) -> None:
    client = Client()
    _, dana_path = send_link(dana.case, agent)
    _, bob_path = send_link(bob_on_mastodon.case, agent)
    acme_instance.signed_in = MASTODON_DANA
    back = approve(start(client, dana_path))
    assert client.get(bob_path).status_code == 302  # the pending link is now Bob's

    refused = client.get(back)

    assert refused.status_code == 422
    assert "This sign-in was not started here." in text(refused)
    no_session_made()


def test_the_globex_sign_in_goes_to_globex_and_opens_only_globex_cases(
    dana: Customer,
    globex_dana: Customer,
    outsider: Agent,
    acme_channel: Channel,
    globex_channel: Channel,
    acme_instance: MastodonStandIn,
    globex_instance: MastodonStandIn,
) -> None:
    client = Client()
    _, path = send_link(globex_dana.case, outsider)
    globex_instance.signed_in = MASTODON_DANA

    authorize = start(client, path)
    response = client.get(approve(authorize))

    assert authorize.startswith(f"{globex_instance.url}/oauth/authorize?")
    assert acme_instance.requests_to("POST", r"^/api/v1/apps$") == []
    assert response.status_code == 302
    session = PortalSession.objects.get()
    assert (session.workspace_id, session.contact_id) == (
        globex_dana.workspace.pk,
        globex_dana.case.contact_id,
    )
    assert client.get(case_url(globex_dana)).status_code == 200
    assert client.get(case_url(dana)).status_code == 302  # no Acme session at all


def test_a_new_attempt_ends_the_older_one_and_starts_are_limited(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    acme_instance.signed_in = MASTODON_DANA
    older = approve(start(client, path))
    other_browser = Client()
    newer = approve(start(other_browser, path))

    refused = client.get(older)

    assert refused.status_code == 422
    assert "This sign-in was already used or has expired." in text(refused)
    no_session_made()
    assert other_browser.get(newer).status_code == 302
    for _ in range(oauth.SIGN_INS_PER_LINK.hits - 2):
        start(client, path)
    throttled = client.get(reverse("portal:oauth-mastodon", args=["acme"]))
    assert throttled.status_code == 429
    assert "Too many sign-ins started. Try again later." in text(throttled)
    assert int(throttled["Retry-After"]) > 0
    assert PortalChallenge.objects.count() == oauth.SIGN_INS_PER_LINK.hits


def test_an_attempt_never_accepts_a_typed_code(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    _, path = send_link(dana.case, agent)
    start(Client(), path)
    attempt = PortalChallenge.objects.get()

    with pytest.raises(services.CodeRefused):
        services.verify_code(link=attempt.link, challenge_id=attempt.public_id, code="12345678")
    assert PortalChallenge.objects.get().attempts == services.MAX_CODE_ATTEMPTS


# --- where the button is offered -------------------------------------------------------------


def test_no_mastodon_identity_no_button(
    dana: Customer, bob: Customer, agent: Agent, acme_channel: Channel
) -> None:
    client, page = verify_page(bob, agent)

    assert page.status_code == 200
    assert BUTTON not in text(page)
    assert BUTTON in text(verify_page(dana, agent)[1])
    refused = client.get(reverse("portal:oauth-mastodon", args=["acme"]))
    assert refused.status_code == 422
    assert "Signing in with Mastodon is not available for this link." in text(refused)
    assert PortalChallenge.objects.count() == 0


def test_no_mastodon_channel_no_button(dana: Customer, agent: Agent) -> None:
    on_mastodon(dana, MASTODON_DANA, "@dana")

    assert BUTTON not in text(verify_page(dana, agent)[1])


def test_an_account_of_another_instance_gets_no_button(
    bob: Customer, agent: Agent, acme_channel: Channel
) -> None:
    on_mastodon(bob, MASTODON_BOB, "@bob@elsewhere.example")

    assert BUTTON not in text(verify_page(bob, agent)[1])


# --- in a real browser -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_in_chromium_the_button_signs_dana_in(
    live_server: Any,
    dana: Customer,
    bob: Customer,
    agent: Agent,
    acme_channel: Channel,
    acme_instance: MastodonStandIn,
) -> None:
    """The start is a link and the callback a cross-site redirect: the CSP
    (``form-action 'self'``) and SameSite=Lax cookies let the whole way through."""
    acme_instance.signed_in = MASTODON_DANA
    _, path = send_link(dana.case, agent)

    html, errors = sign_in_in_chromium(f"{live_server.url}{path}", BUTTON)

    assert dana.case.reference in html and bob.case.reference not in html
    assert errors == []
    identity = ContactIdentity.objects.get(channel="mastodon", contact=dana.case.contact)
    session = PortalSession.objects.get()
    assert (session.contact_id, session.identity_id) == (dana.case.contact_id, identity.pk)
