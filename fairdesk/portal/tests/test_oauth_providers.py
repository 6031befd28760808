"""What signing in with Mastodon and signing in with X must both do, run once for each.

Dana (Acme) signs in; Bob is another customer of Acme on the same provider, Mallet an
account there who is nobody's customer. Dana also talks to Globex. What only one provider
does (Mastodon's app registration, X's client authentication…) is tested in
``test_oauth.py`` and ``test_oauth_x.py``; the set-up and the steps are in ``oauth_flow``.
"""

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import CaseEvent
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import services
from fairdesk.portal.models import PortalChallenge, PortalSession
from fairdesk.portal.oauth_views import OAUTH_COOKIE
from fairdesk.portal.tests.conftest import Customer, case_url, send_link
from fairdesk.portal.tests.oauth_flow import (
    PROVIDERS,
    Provider,
    begin,
    copied_browser,
    identities,
    no_session_made,
    query,
    signed_in_as,
    text,
    with_params,
)
from fairdesk.portal.views import PENDING_COOKIE, SESSION_COOKIE
from fairdesk.workspaces.models import Agent


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest, dana: Customer, bob: Customer) -> Iterator[Provider]:
    with ExitStack() as stack:
        yield PROVIDERS[request.param](dana, bob, stack)


def dana_approves(client: Client, path: str, provider: Provider) -> str:
    """Press the button on the link's page and sign in as Dana: the callback path."""
    return signed_in_as(provider.server, provider.accounts["dana"], client, path, provider.kind)


# --- the flow ------------------------------------------------------------------------------


def test_full_flow_signs_dana_in_to_her_own_cases_only(
    dana: Customer, bob: Customer, agent: Agent, provider: Provider
) -> None:
    client = Client()
    sent, path = send_link(dana.case, agent)
    assert provider.button in text(client.get(path, follow=True))

    response = client.get(dana_approves(client, path, provider))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home", args=["acme"])
    assert response.cookies[PENDING_COOKIE].value == ""
    assert response.cookies[OAUTH_COOKIE].value == ""
    session = PortalSession.objects.get()
    identity = ContactIdentity.objects.get(
        workspace=dana.workspace, channel=provider.kind, external_id=provider.accounts["dana"]
    )
    assert identity.contact_id == dana.case.contact_id
    assert (session.workspace_id, session.contact_id) == (dana.workspace.pk, dana.case.contact_id)
    assert (session.link_id, session.identity_id) == (sent.link.pk, identity.pk)
    assert services.credentials.digest(response.cookies[SESSION_COOKIE].value) == session.digest
    assert PortalChallenge.objects.get().verified_at is not None
    event = CaseEvent.objects.get(type=CaseEvent.Type.IDENTITY_VERIFIED)
    assert (event.case_id, event.params) == (
        dana.case.pk,
        {"channel": provider.kind, "method": f"{provider.label} sign-in"},
    )
    assert client.get(case_url(dana)).status_code == 200
    assert client.get(case_url(bob)).status_code == 404
    home = text(client.get(reverse("portal:home", args=["acme"])))
    assert dana.case.reference in home and bob.case.reference not in home
    provider.sign_in_tokens_revoked()


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob", "mallet"])
def test_another_account_is_refused_and_nothing_is_linked(
    who: str, dana: Customer, agent: Agent, provider: Provider
) -> None:
    before = identities()
    # Bob (another customer of Acme) or Mallet (a stranger) is signed in at the provider
    client, back = begin(dana, agent, provider, provider.accounts[who])

    response = client.get(back)

    assert response.status_code == 403
    assert f"You signed in to {provider.label} with another account" in text(response)
    assert SESSION_COOKIE not in response.cookies
    no_session_made()
    assert identities() == before
    assert client.get(reverse("portal:home", args=["acme"])).status_code == 302
    provider.sign_in_tokens_revoked()


def test_a_tampered_state_is_refused_and_the_real_one_still_works(
    dana: Customer, agent: Agent, provider: Provider
) -> None:
    client, back = begin(dana, agent, provider, provider.accounts["dana"])
    state = query(back)["state"]

    for forged in (state[:-1] + ("A" if state[-1] != "A" else "B"), "", "<script>\r\n=1+1"):
        refused = client.get(with_params(back, state=forged))
        assert refused.status_code == 422
        assert "This sign-in was not started here." in text(refused)
        assert "<script>" not in text(refused)
        assert OAUTH_COOKIE not in refused.cookies  # a forged callback cannot end it
        no_session_made()
    assert provider.server.requests_to("POST", provider.token_path) == []

    assert client.get(back).status_code == 302
    assert PortalSession.objects.count() == 1


def test_a_replayed_callback_is_refused(dana: Customer, agent: Agent, provider: Provider) -> None:
    client, back = begin(dana, agent, provider, provider.accounts["dana"])
    copied = copied_browser(client)
    assert client.get(back).status_code == 302

    replayed = copied.get(back)  # the same answer, with every cookie it came with

    assert replayed.status_code == 422
    assert "This sign-in was already used or has expired." in text(replayed)
    assert PortalSession.objects.count() == 1
    assert len(provider.server.requests_to("POST", provider.token_path)) == 1
    assert Client().get(back).status_code == 404  # no cookies: no link at all


def test_an_expired_attempt_is_refused(dana: Customer, agent: Agent, provider: Provider) -> None:
    client, back = begin(dana, agent, provider, provider.accounts["dana"])
    PortalChallenge.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get(back)

    assert response.status_code == 422
    assert "This sign-in was already used or has expired." in text(response)
    no_session_made()
    assert provider.server.requests_to("POST", provider.token_path) == []


def test_a_denied_sign_in_is_refused(dana: Customer, agent: Agent, provider: Provider) -> None:
    provider.server.deny = True
    client, back = begin(dana, agent, provider, provider.accounts["dana"])
    assert query(back)["error"] == "access_denied"

    response = client.get(back)

    assert response.status_code == 422
    assert f"{provider.label} did not confirm the sign-in." in text(response)
    no_session_made()
    assert PortalChallenge.objects.get().expires_at <= timezone.now()  # spent
    assert provider.server.requests_to("POST", provider.token_path) == []


def test_an_unreachable_provider_is_a_clear_error(
    dana: Customer, agent: Agent, provider: Provider
) -> None:
    client, back = begin(dana, agent, provider, provider.accounts["dana"])
    provider.server.fail_next(503, path=provider.token_path)

    response = client.get(back)

    assert response.status_code == 502
    assert f"We could not reach {provider.label} to confirm it is you." in text(response)
    no_session_made()


def test_a_revoked_link_ends_the_attempt(dana: Customer, agent: Agent, provider: Provider) -> None:
    client = Client()
    sent, path = send_link(dana.case, agent)
    back = dana_approves(client, path, provider)
    services.revoke_link(link=sent.link, agent=agent)

    response = client.get(back)

    assert response.status_code == 404
    no_session_made()
    assert provider.server.requests_to("POST", provider.token_path) == []


# --- two workspaces ------------------------------------------------------------------------


def test_another_workspaces_attempt_is_refused(
    dana: Customer, globex_dana: Customer, agent: Agent, outsider: Agent, provider: Provider
) -> None:
    globex = provider.connect_globex(globex_dana)
    client = Client()
    _, globex_path = send_link(globex_dana.case, outsider)
    _, acme_path = send_link(dana.case, agent)
    globex_back = signed_in_as(
        globex, provider.accounts["dana"], client, globex_path, provider.kind
    )
    assert globex_back.startswith(f"/portal/globex/oauth/{provider.kind}/callback/?")
    assert client.get(acme_path).status_code == 302  # pending: Acme's link

    at_acme = client.get(globex_back.replace("/portal/globex/", "/portal/acme/"))
    at_globex = client.get(globex_back)

    assert at_acme.status_code == 422
    assert "This sign-in was not started here." in text(at_acme)
    assert at_globex.status_code == 404  # Acme's pending link means nothing at Globex
    no_session_made()
