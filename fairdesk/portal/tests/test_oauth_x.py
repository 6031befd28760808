"""Proof of identity by signing in with X: what only X's way does, against the X stand-in
running as a real HTTP server on loopback (one X, with one OAuth 2.0 client per
workspace's app). What Mastodon's way does as well is in ``test_oauth_providers.py``.

Dana (Acme, X user ``X_DANA``) signs in; Bob is another customer of Acme on X. Dana also
talks to Globex with the same X account; Acme's app is a confidential client (HTTP
Basic), Globex's a public one. The browser is Django's test client; the step on X is an
HTTP GET of the authorization URL, which the stand-in approves as ``signed_in``.
"""

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from fairdesk.cases.tests.factories import make_case
from fairdesk.connectors.models import Channel
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import oauth
from fairdesk.portal.models import PortalChallenge, PortalSession
from fairdesk.portal.tests import oauth_flow
from fairdesk.portal.tests.conftest import Customer, case_url, send_link
from fairdesk.portal.tests.oauth_flow import (
    CHROMIUM,
    X_ACME_BRAND,
    X_ACME_CLIENT,
    X_ACME_SECRET,
    X_ACME_TOKEN,
    X_CALLBACK,
    X_DANA,
    X_GLOBEX_CLIENT,
    X_TOKEN,
    approve,
    connect_acme_x,
    connect_globex_x,
    no_session_made,
    on_x,
    query,
    running,
    sign_in_in_chromium,
    text,
    verify_page,
    x_brand_tokens_only,
    x_channel,
    x_stand_in,
)
from fairdesk.workspaces.models import Agent, Workspace

BUTTON = "Sign in with X"


@pytest.fixture
def x_api() -> Iterator[XStandIn]:
    yield from running(x_stand_in())


@pytest.fixture
def acme_x(dana: Customer, bob: Customer, x_api: XStandIn) -> Channel:
    return connect_acme_x(dana, bob, x_api)


@pytest.fixture
def globex_x(globex_dana: Customer, x_api: XStandIn) -> Channel:
    return connect_globex_x(globex_dana, x_api)


def start(client: Client, path: str) -> str:
    """Open the link and press "Sign in with X": X's authorize URL."""
    return oauth_flow.start(client, path, "x")


def begin(customer: Customer, agent: Agent, api: XStandIn) -> tuple[Client, str]:
    """A link sent to ``customer``, opened in a new browser, approved on X as Dana."""
    client = Client()
    _, path = send_link(customer.case, agent)
    return client, oauth_flow.signed_in_as(api, X_DANA, client, path, "x")


# --- the flow ------------------------------------------------------------------------------


def test_the_calls_follow_xs_documented_formats(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    x_api.signed_in = X_DANA

    authorize = start(client, path)
    assert client.get(approve(authorize)).status_code == 302

    assert authorize.startswith(f"{x_api.url}/i/oauth2/authorize?")
    asked = query(authorize)
    assert set(asked) == {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
    assert (asked["response_type"], asked["client_id"]) == ("code", X_ACME_CLIENT)
    assert (asked["redirect_uri"], asked["scope"]) == (X_CALLBACK, "users.read tweet.read")
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 43 and len(asked["code_challenge"]) == 43
    assert asked["state"] not in PortalChallenge.objects.get().code_digest
    (exchange,) = x_api.requests_to("POST", X_TOKEN)
    basic = base64.b64encode(f"{X_ACME_CLIENT}:{X_ACME_SECRET}".encode()).decode()
    assert exchange.headers["authorization"] == f"Basic {basic}"
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(exchange.body.decode()).items()}
    assert set(form) == {"grant_type", "code", "redirect_uri", "client_id", "code_verifier"}
    assert (form["grant_type"], form["client_id"]) == ("authorization_code", X_ACME_CLIENT)
    assert (form["redirect_uri"], len(form["code_verifier"])) == (X_CALLBACK, 64)
    assert X_ACME_SECRET not in exchange.body.decode()  # in the Basic header only
    (me,) = x_api.requests_to("GET", r"^/2/users/me$")
    assert me.headers["authorization"].startswith("Bearer at-")
    (revoke,) = x_api.requests_to("POST", r"^/2/oauth2/revoke$")
    assert revoke.headers["authorization"] == f"Basic {basic}"
    revoked = {k: v[0] for k, v in parse_qs(revoke.body.decode()).items()}
    assert revoked == {
        "token": me.headers["authorization"].removeprefix("Bearer "),
        "token_type_hint": "access_token",
        "client_id": X_ACME_CLIENT,
    }


def test_the_stand_in_enforces_pkce_and_client_authentication(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    """So the flow passing above proves the portal sends the right verifier and client."""
    x_api.signed_in = X_DANA
    _, path = send_link(dana.case, agent)
    code = query(approve(start(Client(), path)))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": X_ACME_CLIENT,
        "redirect_uri": X_CALLBACK,
    }
    auth = (X_ACME_CLIENT, X_ACME_SECRET)
    url = f"{x_api.url}/2/oauth2/token"

    without = httpx.post(url, data=form, auth=auth)
    wrong = httpx.post(url, data={**form, "code_verifier": "x" * 64}, auth=auth)
    no_basic = httpx.post(url, data={**form, "code_verifier": "x" * 64})
    bad_secret = httpx.post(url, data=form, auth=(X_ACME_CLIENT, "guess"))

    assert (without.status_code, without.json()["error"]) == (400, "invalid_request")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_request")
    assert (no_basic.status_code, no_basic.json()) == (401, {"error": "unauthorized_client"})
    assert (bad_secret.status_code, bad_secret.json()) == (401, {"error": "unauthorized_client"})
    x_brand_tokens_only(x_api)


def test_an_unregistered_callback_gets_an_error_page_not_a_redirect(x_api: XStandIn) -> None:
    x_api.signed_in = X_DANA
    answer = httpx.get(
        f"{x_api.url}/i/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": X_ACME_CLIENT,
            "redirect_uri": "https://evil.example/steal",
            "scope": "users.read tweet.read",
            "state": "s",
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert x_api.codes == {}


# --- refusals ------------------------------------------------------------------------------


def test_a_revoked_token_is_refused(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    """The user revoked the app on X between the token and reading who they are."""
    client, back = begin(dana, agent, x_api)
    x_api.fail_next(401, path=r"^/2/users/me$")

    response = client.get(back)

    assert response.status_code == 422
    assert "X did not confirm the sign-in." in text(response)
    no_session_made()
    x_brand_tokens_only(x_api)  # revoked all the same


def test_another_browser_cannot_finish_the_attempt(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    back = oauth_flow.signed_in_as(x_api, X_DANA, client, path, "x")
    other = Client()
    assert other.get(path).status_code == 302  # the same link, opened elsewhere

    refused = other.get(back)

    assert refused.status_code == 422
    assert "This sign-in was not started here." in text(refused)
    no_session_made()
    assert x_api.requests_to("POST", X_TOKEN) == []
    assert client.get(back).status_code == 302  # the browser that started it still can


def test_an_x_attempt_cannot_be_finished_as_a_mastodon_one(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client, back = begin(dana, agent, x_api)
    at_mastodon = back.replace("/oauth/x/callback/", "/oauth/mastodon/callback/")

    refused = client.get(at_mastodon)

    assert refused.status_code == 422
    assert "This sign-in was not started here." in text(refused)
    no_session_made()
    assert client.get(back).status_code == 302


# --- two workspaces ------------------------------------------------------------------------


def test_the_globex_sign_in_uses_globex_app_and_opens_only_globex_cases(
    dana: Customer,
    globex_dana: Customer,
    outsider: Agent,
    acme_x: Channel,
    globex_x: Channel,
    x_api: XStandIn,
) -> None:
    client = Client()
    _, path = send_link(globex_dana.case, outsider)
    x_api.signed_in = X_DANA

    authorize = start(client, path)
    response = client.get(approve(authorize))

    assert query(authorize)["client_id"] == X_GLOBEX_CLIENT
    assert response.status_code == 302
    session = PortalSession.objects.get()
    assert (session.workspace_id, session.contact_id, session.identity_id) == (
        globex_dana.workspace.pk,
        globex_dana.case.contact_id,
        globex_dana.x.pk,
    )
    assert client.get(case_url(globex_dana)).status_code == 200
    assert client.get(case_url(dana)).status_code == 302  # no Acme session at all
    (exchange,) = x_api.requests_to("POST", X_TOKEN)
    assert "authorization" not in exchange.headers  # a public client: client_id only
    assert parse_qs(exchange.body.decode())["client_id"] == [X_GLOBEX_CLIENT]
    x_brand_tokens_only(x_api)


# --- where the button is offered -------------------------------------------------------------


def test_no_x_identity_no_button(workspace: Workspace, agent: Agent, acme_x: Channel) -> None:
    erin = make_case(workspace, channel="mastodon", handle="@erin", name="Erin", external_id="e-1")
    identity = ContactIdentity.objects.get(contact=erin.contact)
    client, page = verify_page(Customer(case=erin, x=identity), agent)

    assert page.status_code == 200
    assert BUTTON not in text(page)
    refused = client.get(reverse("portal:oauth-x", args=["acme"]))
    assert refused.status_code == 422
    assert "Signing in with X is not available for this link." in text(refused)
    assert PortalChallenge.objects.count() == 0


def test_no_x_channel_no_button(dana: Customer, agent: Agent) -> None:
    assert BUTTON not in text(verify_page(dana, agent)[1])


def test_an_x_channel_without_an_oauth_client_gives_no_button(
    dana: Customer, agent: Agent, x_api: XStandIn
) -> None:
    on_x(dana, X_DANA)
    x_channel(dana.workspace, x_api, brand=X_ACME_BRAND, token=X_ACME_TOKEN, client={})
    sent, _ = send_link(dana.case, agent)

    assert BUTTON not in text(verify_page(dana, agent)[1])
    assert oauth.offered(sent.link) == []


def test_an_oauth_client_on_a_later_x_channel_is_found(
    dana: Customer, agent: Agent, x_api: XStandIn
) -> None:
    on_x(dana, X_DANA)
    x_channel(dana.workspace, x_api, brand=X_ACME_BRAND, token=X_ACME_TOKEN, client={})
    client = {"client_id": X_ACME_CLIENT, "client_secret": X_ACME_SECRET}
    x_channel(dana.workspace, x_api, brand="1000000002", token=X_ACME_TOKEN, client=client)
    sent, _ = send_link(dana.case, agent)

    assert oauth.offered(sent.link) == [oauth.X]
    assert BUTTON in text(verify_page(dana, agent)[1])


def test_the_other_workspaces_x_channel_gives_no_button(
    dana: Customer, agent: Agent, globex_x: Channel
) -> None:
    assert BUTTON not in text(verify_page(dana, agent)[1])


# --- in a real browser -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_in_chromium_the_x_button_signs_dana_in(
    live_server: Any,
    dana: Customer,
    bob: Customer,
    agent: Agent,
    acme_x: Channel,
    x_api: XStandIn,
) -> None:
    """The start is a link and the callback a cross-site redirect from X: the CSP and
    SameSite=Lax cookies let the whole way through."""
    x_api.add_oauth_client(
        client_id=X_ACME_CLIENT,
        callback=f"{live_server.url}/portal/acme/oauth/x/callback/",
        client_secret=X_ACME_SECRET,
    )
    x_api.signed_in = X_DANA
    _, path = send_link(dana.case, agent)

    html, errors = sign_in_in_chromium(f"{live_server.url}{path}", BUTTON)

    assert dana.case.reference in html and bob.case.reference not in html
    assert errors == []
    session = PortalSession.objects.get()
    assert (session.contact_id, session.identity_id) == (dana.case.contact_id, dana.x.pk)
    x_brand_tokens_only(x_api)
