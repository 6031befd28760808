"""Proof of identity by signing in with Mastodon, against the Mastodon stand-in running
as a real HTTP server on loopback (one per workspace, like the connector's tests).

Dana (Acme: X, e-mail and Mastodon ``@dana``) signs in; Bob (Acme, X only) is offered
no button; Mallet is another account of Acme's instance, Bob-on-Mastodon another
customer of Acme who is on Mastodon. Dana also talks to Globex, whose channel is on
another instance. The browser is Django's test client; the step on the instance is an
HTTP GET of the authorization URL, which the stand-in approves as ``signed_in``.
"""

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import CaseEvent
from fairdesk.connectors import secrets
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.tests.conftest import (
    ACME_TOKEN,
    BRAND_ID,
    GLOBEX_BRAND_ID,
    GLOBEX_TOKEN,
    brand_account,
    connect,
    running,
)
from fairdesk.connectors.models import Channel
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import oauth, services
from fairdesk.portal.models import PortalChallenge, PortalLink, PortalSession
from fairdesk.portal.oauth_views import OAUTH_COOKIE
from fairdesk.portal.tests.conftest import Customer, case_url, send_link
from fairdesk.portal.views import PENDING_COOKIE, SESSION_COOKIE
from fairdesk.workspaces.models import Agent

DANA_ID = "109222000000000001"
BOB_ID = "109222000000000002"
MALLET_ID = "109222000000000003"
CALLBACK = "http://testserver/portal/acme/oauth/mastodon/callback/"
BUTTON = "Sign in with Mastodon"
CHROMIUM = "/usr/bin/chromium"


def person(account_id: str, acct: str) -> dict[str, Any]:
    return {"id": account_id, "username": acct, "acct": acct, "display_name": acct.title()}


def on_mastodon(customer: Customer, account_id: str, handle: str) -> ContactIdentity:
    return ContactIdentity.objects.create(
        workspace=customer.workspace,
        contact=customer.case.contact,
        channel="mastodon",
        external_id=account_id,
        handle=handle,
    )


@pytest.fixture
def acme_instance() -> Iterator[MastodonStandIn]:
    instance = MastodonStandIn(token=ACME_TOKEN, account=brand_account(BRAND_ID, "AcmeSupport"))
    for account in (person(DANA_ID, "dana"), person(BOB_ID, "bob"), person(MALLET_ID, "mallet")):
        instance.add_user(account)
    yield from running(instance)


@pytest.fixture
def globex_instance() -> Iterator[MastodonStandIn]:
    instance = MastodonStandIn(
        token=GLOBEX_TOKEN, account=brand_account(GLOBEX_BRAND_ID, "GlobexHelp")
    )
    instance.add_user(person(DANA_ID, "dana"))
    yield from running(instance)


@pytest.fixture
def acme_channel(dana: Customer, acme_instance: MastodonStandIn) -> Channel:
    on_mastodon(dana, DANA_ID, "@dana")
    return connect(dana.workspace, acme_instance)


@pytest.fixture
def bob_on_mastodon(bob: Customer) -> Customer:
    on_mastodon(bob, BOB_ID, "@bob")
    return bob


@pytest.fixture
def globex_channel(globex_dana: Customer, globex_instance: MastodonStandIn) -> Channel:
    on_mastodon(globex_dana, DANA_ID, "@dana")
    return connect(
        globex_dana.workspace,
        globex_instance,
        account_id=GLOBEX_BRAND_ID,
        acct="GlobexHelp",
        token=GLOBEX_TOKEN,
    )


def start(client: Client, path: str) -> str:
    """Open the link and press "Sign in with Mastodon": the instance's authorize URL."""
    slug = path.split("/")[2]
    assert client.get(path).status_code == 302
    response = client.get(reverse("portal:oauth-mastodon", args=[slug]))
    assert response.status_code == 302, response.content.decode()
    return str(response["Location"])


def approve(authorize_url: str) -> str:
    """The customer's step on the instance: the callback path (with code and state)."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"].removeprefix("http://testserver")


def begin(
    customer: Customer, agent: Agent, instance: MastodonStandIn, *, account: str = DANA_ID
) -> tuple[Client, str, PortalLink]:
    """A link sent to ``customer``, opened in a new browser and approved on ``instance``
    as ``account``: the browser, the callback path the instance sent it to, the link."""
    client = Client()
    sent, path = send_link(customer.case, agent)
    instance.signed_in = account
    return client, approve(start(client, path)), sent.link


def callback(client: Client, path: str) -> Any:
    return client.get(path)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_params(path: str, **changes: str) -> str:
    parts = urlsplit(path)
    return f"{parts.path}?{urlencode({**query(path), **changes})}"


def text(response: Any) -> str:
    return str(response.content.decode())


def no_session_made() -> None:
    assert PortalSession.objects.count() == 0
    assert PortalChallenge.objects.filter(verified_at__isnull=False).count() == 0
    assert not CaseEvent.objects.filter(type=CaseEvent.Type.IDENTITY_VERIFIED).exists()


# --- the flow ------------------------------------------------------------------------------


def test_full_flow_signs_dana_in_to_her_own_cases_only(
    dana: Customer,
    bob: Customer,
    agent: Agent,
    acme_channel: Channel,
    acme_instance: MastodonStandIn,
) -> None:
    client = Client()
    sent, path = send_link(dana.case, agent)
    page = client.get(path, follow=True)
    assert BUTTON in text(page)
    acme_instance.signed_in = DANA_ID

    authorize = start(client, path)
    response = callback(client, approve(authorize))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home", args=["acme"])
    assert response.cookies[PENDING_COOKIE].value == ""
    assert response.cookies[OAUTH_COOKIE].value == ""
    session = PortalSession.objects.get()
    identity = ContactIdentity.objects.get(channel="mastodon", external_id=DANA_ID)
    assert (session.workspace_id, session.contact_id) == (dana.workspace.pk, dana.case.contact_id)
    assert (session.link_id, session.identity_id) == (sent.link.pk, identity.pk)
    assert services.credentials.digest(response.cookies[SESSION_COOKIE].value) == session.digest
    assert PortalChallenge.objects.get().verified_at is not None
    event = CaseEvent.objects.get(type=CaseEvent.Type.IDENTITY_VERIFIED)
    assert (event.case_id, event.params) == (
        dana.case.pk,
        {"channel": "mastodon", "method": "Mastodon sign-in"},
    )
    assert client.get(case_url(dana)).status_code == 200
    assert client.get(case_url(bob)).status_code == 404
    home = text(client.get(reverse("portal:home", args=["acme"])))
    assert dana.case.reference in home and bob.case.reference not in home
    # The protocol as Mastodon documents it: S256 PKCE, state, the one scope needed.
    asked = query(authorize)
    assert authorize.startswith(f"{acme_instance.url}/oauth/authorize?")
    assert (asked["response_type"], asked["scope"]) == ("code", "read:accounts")
    assert (asked["redirect_uri"], asked["code_challenge_method"]) == (CALLBACK, "S256")
    assert len(asked["state"]) >= 43 and len(asked["code_challenge"]) == 43
    assert asked["state"] not in PortalChallenge.objects.get().code_digest
    (exchange,) = acme_instance.requests_to("POST", r"^/oauth/token$")
    form = parse_qs(exchange.body.decode())
    assert form["grant_type"] == ["authorization_code"]
    assert len(form["code_verifier"][0]) == 64
    assert acme_instance.user_tokens == {}  # the token was revoked once the account was read


def test_the_app_is_registered_once_and_kept_encrypted(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    acme_instance.signed_in = DANA_ID
    for _ in range(2):
        _, path = send_link(dana.case, agent)
        client = Client()
        assert callback(client, approve(start(client, path))).status_code == 302

    (registration,) = acme_instance.requests_to("POST", r"^/api/v1/apps$")
    assert registration.json() == {
        "client_name": "Fairdesk support portal",
        "redirect_uris": CALLBACK,
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
    acme_instance.signed_in = DANA_ID
    _, path = send_link(dana.case, agent)
    code = query(approve(start(Client(), path)))["code"]
    (app,) = acme_instance.apps.values()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": CALLBACK,
    }

    without = httpx.post(f"{acme_instance.url}/oauth/token", data=form)
    wrong = httpx.post(f"{acme_instance.url}/oauth/token", data={**form, "code_verifier": "x" * 64})

    assert (without.status_code, without.json()) == (400, {"error": "invalid_grant"})
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant"})
    assert acme_instance.user_tokens == {}


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("account", [BOB_ID, MALLET_ID])
def test_another_account_is_refused_and_nothing_is_linked(
    account: str,
    dana: Customer,
    bob_on_mastodon: Customer,
    agent: Agent,
    acme_channel: Channel,
    acme_instance: MastodonStandIn,
) -> None:
    identities = list(ContactIdentity.objects.order_by("id").values_list("contact_id", "pk"))
    # Bob (another customer) or Mallet (a stranger) is signed in on the instance
    client, back, _ = begin(dana, agent, acme_instance, account=account)

    response = callback(client, back)

    assert response.status_code == 403
    assert "You signed in to Mastodon with another account" in text(response)
    assert SESSION_COOKIE not in response.cookies
    no_session_made()
    assert list(ContactIdentity.objects.order_by("id").values_list("contact_id", "pk")) == (
        identities
    )
    assert client.get(reverse("portal:home", args=["acme"])).status_code == 302
    assert acme_instance.user_tokens == {}


def test_a_tampered_state_is_refused_and_the_real_one_still_works(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client, back, _ = begin(dana, agent, acme_instance)
    state = query(back)["state"]

    for forged in (state[:-1] + ("A" if state[-1] != "A" else "B"), "", "<script>\r\n=1+1"):
        refused = callback(client, with_params(back, state=forged))
        assert refused.status_code == 422
        assert "This sign-in was not started here." in text(refused)
        assert "<script>" not in text(refused)
        assert OAUTH_COOKIE not in refused.cookies  # a forged callback cannot end it
        no_session_made()
    assert acme_instance.requests_to("POST", r"^/oauth/token$") == []

    assert callback(client, back).status_code == 302
    assert PortalSession.objects.count() == 1


def test_a_replayed_callback_is_refused(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client, back, _ = begin(dana, agent, acme_instance)
    copied = Client()
    for name, morsel in client.cookies.items():
        copied.cookies[name] = morsel.value
    assert callback(client, back).status_code == 302

    replayed = callback(copied, back)  # the same answer, with every cookie it came with

    assert replayed.status_code == 422
    assert "This sign-in was already used or has expired." in text(replayed)
    assert PortalSession.objects.count() == 1
    assert len(acme_instance.requests_to("POST", r"^/oauth/token$")) == 1
    assert callback(Client(), back).status_code == 404  # no cookies: no link at all


def test_an_expired_attempt_is_refused(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client, back, _ = begin(dana, agent, acme_instance)
    PortalChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = callback(client, back)

    assert response.status_code == 422
    assert "This sign-in was already used or has expired." in text(response)
    no_session_made()
    assert acme_instance.requests_to("POST", r"^/oauth/token$") == []


def test_a_used_code_is_refused_by_the_instance(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    acme_instance.signed_in = DANA_ID
    first = approve(start(client, path))
    assert callback(client, first).status_code == 302
    second = approve(start(client, path))

    reused = callback(client, with_params(second, code=query(first)["code"]))

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
    acme_instance.signed_in = DANA_ID
    back_a = approve(start(client, path_a))
    back_b = approve(start(client, path_b))  # the browser now holds link B's attempt

    refused = callback(client, back_a)

    assert refused.status_code == 422
    assert "This sign-in was not started here." in text(refused)
    no_session_made()
    assert callback(client, back_b).status_code == 302
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
    acme_instance.signed_in = DANA_ID
    back = approve(start(client, dana_path))
    assert client.get(bob_path).status_code == 302  # the pending link is now Bob's

    refused = callback(client, back)

    assert refused.status_code == 422
    assert "This sign-in was not started here." in text(refused)
    no_session_made()


def test_another_workspaces_attempt_is_refused(
    dana: Customer,
    globex_dana: Customer,
    agent: Agent,
    outsider: Agent,
    acme_channel: Channel,
    globex_channel: Channel,
    globex_instance: MastodonStandIn,
) -> None:
    client = Client()
    _, globex_path = send_link(globex_dana.case, outsider)
    _, acme_path = send_link(dana.case, agent)
    globex_instance.signed_in = DANA_ID
    globex_back = approve(start(client, globex_path))
    assert globex_back.startswith("/portal/globex/oauth/mastodon/callback/?")
    assert client.get(acme_path).status_code == 302  # pending: Acme's link

    at_acme = callback(client, globex_back.replace("/portal/globex/", "/portal/acme/"))
    at_globex = callback(client, globex_back)

    assert at_acme.status_code == 422
    assert "This sign-in was not started here." in text(at_acme)
    assert at_globex.status_code == 404  # Acme's pending link means nothing at Globex
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
    globex_instance.signed_in = DANA_ID

    authorize = start(client, path)
    response = callback(client, approve(authorize))

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


def test_a_denied_sign_in_is_refused(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    acme_instance.deny = True
    client, back, _ = begin(dana, agent, acme_instance)
    assert query(back)["error"] == "access_denied"

    response = callback(client, back)

    assert response.status_code == 422
    assert "Mastodon did not confirm the sign-in." in text(response)
    no_session_made()
    assert PortalChallenge.objects.get().expires_at <= timezone.now()  # spent


def test_an_unreachable_instance_is_a_clear_error(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client, back, _ = begin(dana, agent, acme_instance)
    acme_instance.fail_next(503, path=r"^/oauth/token$")

    response = callback(client, back)

    assert response.status_code == 502
    assert "We could not reach Mastodon to confirm it is you." in text(response)
    no_session_made()


def test_a_revoked_link_ends_the_attempt(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client, back, link = begin(dana, agent, acme_instance)
    services.revoke_link(link=link, agent=agent)

    response = callback(client, back)

    assert response.status_code == 404
    no_session_made()
    assert acme_instance.requests_to("POST", r"^/oauth/token$") == []


def test_a_new_attempt_ends_the_older_one_and_starts_are_limited(
    dana: Customer, agent: Agent, acme_channel: Channel, acme_instance: MastodonStandIn
) -> None:
    client = Client()
    _, path = send_link(dana.case, agent)
    acme_instance.signed_in = DANA_ID
    older = approve(start(client, path))
    other_browser = Client()
    newer = approve(start(other_browser, path))

    refused = callback(client, older)

    assert refused.status_code == 422
    assert "This sign-in was already used or has expired." in text(refused)
    no_session_made()
    assert callback(other_browser, newer).status_code == 302
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


def _verify_page(customer: Customer, agent: Agent) -> Any:
    _, path = send_link(customer.case, agent)
    client = Client()
    return client, client.get(path, follow=True)


def test_no_mastodon_identity_no_button(
    dana: Customer, bob: Customer, agent: Agent, acme_channel: Channel
) -> None:
    client, page = _verify_page(bob, agent)

    assert page.status_code == 200
    assert BUTTON not in text(page)
    assert BUTTON in text(_verify_page(dana, agent)[1])
    refused = client.get(reverse("portal:oauth-mastodon", args=["acme"]))
    assert refused.status_code == 422
    assert "Signing in with Mastodon is not available for this link." in text(refused)
    assert PortalChallenge.objects.count() == 0


def test_no_mastodon_channel_no_button(dana: Customer, agent: Agent) -> None:
    on_mastodon(dana, DANA_ID, "@dana")

    assert BUTTON not in text(_verify_page(dana, agent)[1])


def test_an_account_of_another_instance_gets_no_button(
    bob: Customer, agent: Agent, acme_channel: Channel
) -> None:
    on_mastodon(bob, BOB_ID, "@bob@elsewhere.example")

    assert BUTTON not in text(_verify_page(bob, agent)[1])


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
    sync_api = pytest.importorskip("playwright.sync_api")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    acme_instance.signed_in = DANA_ID
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
    identity = ContactIdentity.objects.get(channel="mastodon", contact=dana.case.contact)
    session = PortalSession.objects.get()
    assert (session.contact_id, session.identity_id) == (dana.case.contact_id, identity.pk)
