"""Proof of identity by signing in with X, against the X stand-in running as a real HTTP
server on loopback (one X, with one OAuth 2.0 client per workspace's app).

Dana (Acme, X user ``DANA_X``) signs in; Bob is another customer of Acme on X, Mallet an
X user who is nobody's customer. Dana also talks to Globex with the same X account;
Acme's app is a confidential client (HTTP Basic), Globex's a public one. The browser is
Django's test client; the step on X is an HTTP GET of the authorization URL, which the
stand-in approves as ``signed_in``.
"""

import base64
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import CaseEvent
from fairdesk.cases.tests.factories import make_case
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import oauth, services
from fairdesk.portal.models import PortalChallenge, PortalSession
from fairdesk.portal.oauth_views import OAUTH_COOKIE
from fairdesk.portal.tests.conftest import Customer, case_url, send_link
from fairdesk.portal.tests.test_oauth import (
    CHROMIUM,
    no_session_made,
    query,
    text,
    with_params,
)
from fairdesk.portal.views import PENDING_COOKIE, SESSION_COOKIE
from fairdesk.workspaces.models import Agent, Workspace

ACME_BRAND, GLOBEX_BRAND = "1000000001", "1000000999"
ACME_TOKEN, GLOBEX_TOKEN = "acme-brand-token", "globex-brand-token"
DANA_X, BOB_X, MALLET_X = "1860000000000000101", "1860000000000000102", "1860000000000000103"
ACME_CLIENT, ACME_SECRET = "YWNtZS1wb3J0YWw6MTpjaQ", "acme-oauth2-client-secret"
GLOBEX_CLIENT = "Z2xvYmV4LXBvcnRhbDoxOmNp"
CALLBACK = "http://testserver/portal/acme/oauth/x/callback/"
GLOBEX_CALLBACK = "http://testserver/portal/globex/oauth/x/callback/"
BUTTON = "Sign in with X"
TOKEN = r"^/2/oauth2/token$"


@pytest.fixture
def x_api() -> Iterator[XStandIn]:
    api = XStandIn()
    api.add_account(user_id=ACME_BRAND, username="AcmeSupport", token=ACME_TOKEN)
    api.add_account(user_id=GLOBEX_BRAND, username="GlobexHelp", token=GLOBEX_TOKEN)
    api.add_user(user_id=DANA_X, username="dana_w", name="Dana <b>Whitfield</b>")
    api.add_user(user_id=BOB_X, username="bob", name="Bob")
    api.add_user(user_id=MALLET_X, username="mallet", name="Mallet")
    api.add_oauth_client(client_id=ACME_CLIENT, callback=CALLBACK, client_secret=ACME_SECRET)
    api.add_oauth_client(client_id=GLOBEX_CLIENT, callback=GLOBEX_CALLBACK)
    api.start()
    try:
        yield api
    finally:
        api.stop()


def x_channel(
    workspace: Workspace, api: XStandIn, *, brand: str, token: str, client: dict[str, str]
) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="x",
        name=f"X {workspace.slug}",
        config={"brand_user_id": brand, "api_base": api.url, "authorize_base": api.url},
        credentials={"consumer_secret": "cs", "access_token": token, **client},
    )


def on_x(customer: Customer, user_id: str) -> Customer:
    """The customer's X identity holds their real (numeric) X user id."""
    ContactIdentity.objects.filter(pk=customer.x.pk).update(external_id=user_id)
    customer.x.refresh_from_db()
    return customer


@pytest.fixture
def acme_x(dana: Customer, bob: Customer, x_api: XStandIn) -> Channel:
    on_x(dana, DANA_X)
    on_x(bob, BOB_X)
    client = {"client_id": ACME_CLIENT, "client_secret": ACME_SECRET}
    return x_channel(dana.workspace, x_api, brand=ACME_BRAND, token=ACME_TOKEN, client=client)


@pytest.fixture
def globex_x(globex_dana: Customer, x_api: XStandIn) -> Channel:
    on_x(globex_dana, DANA_X)
    return x_channel(
        globex_dana.workspace,
        x_api,
        brand=GLOBEX_BRAND,
        token=GLOBEX_TOKEN,
        client={"client_id": GLOBEX_CLIENT},
    )


def start(client: Client, path: str) -> str:
    """Open the link and press "Sign in with X": X's authorize URL."""
    slug = path.split("/")[2]
    assert client.get(path).status_code == 302
    response = client.get(reverse("portal:oauth-x", args=[slug]))
    assert response.status_code == 302, response.content.decode()
    return str(response["Location"])


def approve(authorize_url: str) -> str:
    """The customer's step on X: the callback path (with code and state)."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"].removeprefix("http://testserver")


def begin(
    customer: Customer, agent: Agent, api: XStandIn, *, user: str = DANA_X
) -> tuple[Client, str]:
    """A link sent to ``customer``, opened in a new browser, approved on X as ``user``."""
    client = Client()
    _, path = send_link(customer.case, agent)
    api.signed_in = user
    return client, approve(start(client, path))


def brand_tokens_only(api: XStandIn) -> None:
    """Every sign-in token was revoked: only the brands' own tokens are left."""
    assert set(api.tokens) == {ACME_TOKEN, GLOBEX_TOKEN}
    assert api.grants == {}


# --- the flow ------------------------------------------------------------------------------


def test_full_flow_signs_dana_in_to_her_own_cases_only(
    dana: Customer, bob: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client = Client()
    sent, path = send_link(dana.case, agent)
    assert BUTTON in text(client.get(path, follow=True))
    x_api.signed_in = DANA_X

    authorize = start(client, path)
    response = client.get(approve(authorize))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home", args=["acme"])
    assert response.cookies[PENDING_COOKIE].value == ""
    assert response.cookies[OAUTH_COOKIE].value == ""
    session = PortalSession.objects.get()
    assert (session.workspace_id, session.contact_id) == (dana.workspace.pk, dana.case.contact_id)
    assert (session.link_id, session.identity_id) == (sent.link.pk, dana.x.pk)
    assert services.credentials.digest(response.cookies[SESSION_COOKIE].value) == session.digest
    event = CaseEvent.objects.get(type=CaseEvent.Type.IDENTITY_VERIFIED)
    assert (event.case_id, event.params) == (dana.case.pk, {"channel": "x", "method": "X sign-in"})
    assert client.get(case_url(dana)).status_code == 200
    assert client.get(case_url(bob)).status_code == 404
    home = text(client.get(reverse("portal:home", args=["acme"])))
    assert dana.case.reference in home and bob.case.reference not in home
    brand_tokens_only(x_api)


def test_the_calls_follow_xs_documented_formats(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    x_api.signed_in = DANA_X

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
    assert (asked["response_type"], asked["client_id"]) == ("code", ACME_CLIENT)
    assert (asked["redirect_uri"], asked["scope"]) == (CALLBACK, "users.read tweet.read")
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 43 and len(asked["code_challenge"]) == 43
    assert asked["state"] not in PortalChallenge.objects.get().code_digest
    (exchange,) = x_api.requests_to("POST", TOKEN)
    basic = base64.b64encode(f"{ACME_CLIENT}:{ACME_SECRET}".encode()).decode()
    assert exchange.headers["authorization"] == f"Basic {basic}"
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(exchange.body.decode()).items()}
    assert set(form) == {"grant_type", "code", "redirect_uri", "client_id", "code_verifier"}
    assert (form["grant_type"], form["client_id"]) == ("authorization_code", ACME_CLIENT)
    assert (form["redirect_uri"], len(form["code_verifier"])) == (CALLBACK, 64)
    assert ACME_SECRET not in exchange.body.decode()  # in the Basic header only
    (me,) = x_api.requests_to("GET", r"^/2/users/me$")
    assert me.headers["authorization"].startswith("Bearer at-")
    (revoke,) = x_api.requests_to("POST", r"^/2/oauth2/revoke$")
    assert revoke.headers["authorization"] == f"Basic {basic}"
    revoked = {k: v[0] for k, v in parse_qs(revoke.body.decode()).items()}
    assert revoked == {
        "token": me.headers["authorization"].removeprefix("Bearer "),
        "token_type_hint": "access_token",
        "client_id": ACME_CLIENT,
    }


def test_the_stand_in_enforces_pkce_and_client_authentication(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    """So the flow passing above proves the portal sends the right verifier and client."""
    x_api.signed_in = DANA_X
    _, path = send_link(dana.case, agent)
    code = query(approve(start(Client(), path)))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": ACME_CLIENT,
        "redirect_uri": CALLBACK,
    }
    auth = (ACME_CLIENT, ACME_SECRET)
    url = f"{x_api.url}/2/oauth2/token"

    without = httpx.post(url, data=form, auth=auth)
    wrong = httpx.post(url, data={**form, "code_verifier": "x" * 64}, auth=auth)
    no_basic = httpx.post(url, data={**form, "code_verifier": "x" * 64})
    bad_secret = httpx.post(url, data=form, auth=(ACME_CLIENT, "guess"))

    assert (without.status_code, without.json()["error"]) == (400, "invalid_request")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_request")
    assert (no_basic.status_code, no_basic.json()) == (401, {"error": "unauthorized_client"})
    assert (bad_secret.status_code, bad_secret.json()) == (401, {"error": "unauthorized_client"})
    brand_tokens_only(x_api)


def test_an_unregistered_callback_gets_an_error_page_not_a_redirect(x_api: XStandIn) -> None:
    x_api.signed_in = DANA_X
    answer = httpx.get(
        f"{x_api.url}/i/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": ACME_CLIENT,
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


@pytest.mark.parametrize("user", [BOB_X, MALLET_X])
def test_another_x_user_is_refused_and_nothing_is_linked(
    user: str, dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    identities = list(ContactIdentity.objects.order_by("id").values_list("contact_id", "pk"))
    # Bob (another customer of Acme) or Mallet (a stranger) is signed in on X
    client, back = begin(dana, agent, x_api, user=user)

    response = client.get(back)

    assert response.status_code == 403
    assert "You signed in to X with another account" in text(response)
    assert SESSION_COOKIE not in response.cookies
    no_session_made()
    assert list(ContactIdentity.objects.order_by("id").values_list("contact_id", "pk")) == (
        identities
    )
    assert client.get(reverse("portal:home", args=["acme"])).status_code == 302
    brand_tokens_only(x_api)


def test_a_denied_sign_in_is_refused(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    x_api.deny = True
    client, back = begin(dana, agent, x_api)
    assert query(back)["error"] == "access_denied"

    response = client.get(back)

    assert response.status_code == 422
    assert "X did not confirm the sign-in." in text(response)
    no_session_made()
    assert PortalChallenge.objects.get().expires_at <= timezone.now()  # spent
    assert x_api.requests_to("POST", TOKEN) == []


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
    brand_tokens_only(x_api)  # revoked all the same


def test_a_reused_state_is_refused(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client, back = begin(dana, agent, x_api)
    copied = Client()
    for name, morsel in client.cookies.items():
        copied.cookies[name] = morsel.value
    assert client.get(back).status_code == 302

    replayed = copied.get(back)  # the same answer, with every cookie it came with

    assert replayed.status_code == 422
    assert "This sign-in was already used or has expired." in text(replayed)
    assert PortalSession.objects.count() == 1
    assert len(x_api.requests_to("POST", TOKEN)) == 1


def test_a_tampered_state_is_refused_and_the_real_one_still_works(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client, back = begin(dana, agent, x_api)
    state = query(back)["state"]

    for forged in (state[:-1] + ("A" if state[-1] != "A" else "B"), "", "<script>\r\n=1+1"):
        refused = client.get(with_params(back, state=forged))
        assert refused.status_code == 422
        assert "This sign-in was not started here." in text(refused)
        assert "<script>" not in text(refused)
        assert OAUTH_COOKIE not in refused.cookies
        no_session_made()
    assert x_api.requests_to("POST", TOKEN) == []

    assert client.get(back).status_code == 302
    assert PortalSession.objects.count() == 1


def test_an_expired_attempt_is_refused(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client, back = begin(dana, agent, x_api)
    PortalChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get(back)

    assert response.status_code == 422
    assert "This sign-in was already used or has expired." in text(response)
    no_session_made()
    assert x_api.requests_to("POST", TOKEN) == []


def test_another_browser_cannot_finish_the_attempt(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    x_api.signed_in = DANA_X
    back = approve(start(client, path))
    other = Client()
    assert other.get(path).status_code == 302  # the same link, opened elsewhere

    refused = other.get(back)

    assert refused.status_code == 422
    assert "This sign-in was not started here." in text(refused)
    no_session_made()
    assert x_api.requests_to("POST", TOKEN) == []
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


def test_a_revoked_link_ends_the_attempt(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client = Client()
    sent, path = send_link(dana.case, agent)
    x_api.signed_in = DANA_X
    back = approve(start(client, path))
    services.revoke_link(link=sent.link, agent=agent)

    response = client.get(back)

    assert response.status_code == 404
    no_session_made()
    assert x_api.requests_to("POST", TOKEN) == []


def test_an_unreachable_x_is_a_clear_error(
    dana: Customer, agent: Agent, acme_x: Channel, x_api: XStandIn
) -> None:
    client, back = begin(dana, agent, x_api)
    x_api.fail_next(503, path=TOKEN)

    response = client.get(back)

    assert response.status_code == 502
    assert "We could not reach X to confirm it is you." in text(response)
    no_session_made()


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
    x_api.signed_in = DANA_X

    authorize = start(client, path)
    response = client.get(approve(authorize))

    assert query(authorize)["client_id"] == GLOBEX_CLIENT
    assert response.status_code == 302
    session = PortalSession.objects.get()
    assert (session.workspace_id, session.contact_id, session.identity_id) == (
        globex_dana.workspace.pk,
        globex_dana.case.contact_id,
        globex_dana.x.pk,
    )
    assert client.get(case_url(globex_dana)).status_code == 200
    assert client.get(case_url(dana)).status_code == 302  # no Acme session at all
    (exchange,) = x_api.requests_to("POST", TOKEN)
    assert "authorization" not in exchange.headers  # a public client: client_id only
    assert parse_qs(exchange.body.decode())["client_id"] == [GLOBEX_CLIENT]
    brand_tokens_only(x_api)


def test_another_workspaces_attempt_is_refused(
    dana: Customer,
    globex_dana: Customer,
    agent: Agent,
    outsider: Agent,
    acme_x: Channel,
    globex_x: Channel,
    x_api: XStandIn,
) -> None:
    client = Client()
    _, globex_path = send_link(globex_dana.case, outsider)
    _, acme_path = send_link(dana.case, agent)
    x_api.signed_in = DANA_X
    globex_back = approve(start(client, globex_path))
    assert client.get(acme_path).status_code == 302  # pending: Acme's link

    at_acme = client.get(globex_back.replace("/portal/globex/", "/portal/acme/"))
    at_globex = client.get(globex_back)

    assert at_acme.status_code == 422
    assert "This sign-in was not started here." in text(at_acme)
    assert at_globex.status_code == 404  # Acme's pending link means nothing at Globex
    no_session_made()


# --- where the button is offered -------------------------------------------------------------


def verify_page(customer: Customer, agent: Agent) -> tuple[Client, Any]:
    _, path = send_link(customer.case, agent)
    client = Client()
    return client, client.get(path, follow=True)


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
    on_x(dana, DANA_X)
    x_channel(dana.workspace, x_api, brand=ACME_BRAND, token=ACME_TOKEN, client={})
    sent, _ = send_link(dana.case, agent)

    assert BUTTON not in text(verify_page(dana, agent)[1])
    assert oauth.offered(sent.link) == []


def test_an_oauth_client_on_a_later_x_channel_is_found(
    dana: Customer, agent: Agent, x_api: XStandIn
) -> None:
    on_x(dana, DANA_X)
    x_channel(dana.workspace, x_api, brand=ACME_BRAND, token=ACME_TOKEN, client={})
    client = {"client_id": ACME_CLIENT, "client_secret": ACME_SECRET}
    x_channel(dana.workspace, x_api, brand="1000000002", token=ACME_TOKEN, client=client)
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
    sync_api = pytest.importorskip("playwright.sync_api")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    x_api.add_oauth_client(
        client_id=ACME_CLIENT,
        callback=f"{live_server.url}/portal/acme/oauth/x/callback/",
        client_secret=ACME_SECRET,
    )
    x_api.signed_in = DANA_X
    _, path = send_link(dana.case, agent)
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = chromium.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server.url}{path}")
        page.get_by_role("link", name=BUTTON).click()
        sync_api.expect(page.get_by_role("heading", name="Your cases")).to_be_visible()
        html = page.content()
        chromium.close()

    assert dana.case.reference in html and bob.case.reference not in html
    assert errors == []
    session = PortalSession.objects.get()
    assert (session.contact_id, session.identity_id) == (dana.case.contact_id, dana.x.pk)
    brand_tokens_only(x_api)
