"""Signing in to the portal with Mastodon or with X, as the tests take the customer through it.

Both stand-ins run as real HTTP servers on loopback. The browser is Django's test client;
the step on the provider is an HTTP GET of the authorization URL, which the stand-in
approves at once as its ``signed_in`` account. Here are the steps, each provider's set-up
(accounts, channels) and ``Provider``, what the tests run for both providers see of one.

Mastodon: Acme's instance knows Dana, Bob and Mallet; Globex's, on another instance, knows
Dana. X: one X, with one OAuth 2.0 client per workspace's app; Acme's is a confidential
client (HTTP Basic), Globex's a public one.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import CaseEvent
from fairdesk.connectors.mastodon.standin import MastodonStandIn
from fairdesk.connectors.mastodon.tests.conftest import (
    ACME_TOKEN,
    BRAND_ID,
    GLOBEX_BRAND_ID,
    GLOBEX_TOKEN,
    brand_account,
    connect,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.connectors.standin import StandIn
from fairdesk.connectors.x.standin import XStandIn
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal.models import PortalChallenge, PortalSession
from fairdesk.portal.tests.conftest import Customer, send_link
from fairdesk.workspaces.models import Agent, Workspace

CHROMIUM = "/usr/bin/chromium"
S = TypeVar("S", bound=StandIn)

# --- Mastodon ----------------------------------------------------------------------------------

MASTODON_DANA, MASTODON_BOB, MASTODON_MALLET = (
    "109222000000000001",
    "109222000000000002",
    "109222000000000003",
)
MASTODON_CALLBACK = "http://testserver/portal/acme/oauth/mastodon/callback/"
MASTODON_TOKEN = r"^/oauth/token$"


def mastodon_person(account_id: str, acct: str) -> dict[str, Any]:
    return {"id": account_id, "username": acct, "acct": acct, "display_name": acct.title()}


def acme_mastodon() -> MastodonStandIn:
    """Acme's instance (not started), where Dana, Bob and Mallet have accounts."""
    instance = MastodonStandIn(token=ACME_TOKEN, account=brand_account(BRAND_ID, "AcmeSupport"))
    for account_id, acct in (
        (MASTODON_DANA, "dana"),
        (MASTODON_BOB, "bob"),
        (MASTODON_MALLET, "mallet"),
    ):
        instance.add_user(mastodon_person(account_id, acct))
    return instance


def globex_mastodon() -> MastodonStandIn:
    """Globex's instance (not started), where Dana has an account too."""
    instance = MastodonStandIn(
        token=GLOBEX_TOKEN, account=brand_account(GLOBEX_BRAND_ID, "GlobexHelp")
    )
    instance.add_user(mastodon_person(MASTODON_DANA, "dana"))
    return instance


def on_mastodon(customer: Customer, account_id: str, handle: str) -> ContactIdentity:
    return ContactIdentity.objects.create(
        workspace=customer.workspace,
        contact=customer.case.contact,
        channel="mastodon",
        external_id=account_id,
        handle=handle,
    )


def connect_globex_mastodon(globex_dana: Customer, instance: MastodonStandIn) -> Channel:
    """Globex's channel on its own instance, where Dana is ``@dana``."""
    on_mastodon(globex_dana, MASTODON_DANA, "@dana")
    return connect(
        globex_dana.workspace,
        instance,
        account_id=GLOBEX_BRAND_ID,
        acct="GlobexHelp",
        token=GLOBEX_TOKEN,
    )


# --- X -----------------------------------------------------------------------------------------

X_ACME_BRAND, X_GLOBEX_BRAND = "1000000001", "1000000999"
X_ACME_TOKEN, X_GLOBEX_TOKEN = "acme-brand-token", "globex-brand-token"
X_DANA, X_BOB, X_MALLET = "1860000000000000101", "1860000000000000102", "1860000000000000103"
X_ACME_CLIENT, X_ACME_SECRET = "YWNtZS1wb3J0YWw6MTpjaQ", "acme-oauth2-client-secret"
X_GLOBEX_CLIENT = "Z2xvYmV4LXBvcnRhbDoxOmNp"
X_CALLBACK = "http://testserver/portal/acme/oauth/x/callback/"
X_GLOBEX_CALLBACK = "http://testserver/portal/globex/oauth/x/callback/"
X_TOKEN = r"^/2/oauth2/token$"


def x_stand_in() -> XStandIn:
    """X (not started): both brands, Dana, Bob and Mallet, and both workspaces' apps."""
    api = XStandIn()
    api.add_account(user_id=X_ACME_BRAND, username="AcmeSupport", token=X_ACME_TOKEN)
    api.add_account(user_id=X_GLOBEX_BRAND, username="GlobexHelp", token=X_GLOBEX_TOKEN)
    api.add_user(user_id=X_DANA, username="dana_w", name="Dana <b>Whitfield</b>")
    api.add_user(user_id=X_BOB, username="bob", name="Bob")
    api.add_user(user_id=X_MALLET, username="mallet", name="Mallet")
    api.add_oauth_client(client_id=X_ACME_CLIENT, callback=X_CALLBACK, client_secret=X_ACME_SECRET)
    api.add_oauth_client(client_id=X_GLOBEX_CLIENT, callback=X_GLOBEX_CALLBACK)
    return api


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


def connect_acme_x(dana: Customer, bob: Customer, api: XStandIn) -> Channel:
    """Acme's X channel with its confidential client; Dana and Bob are on X."""
    on_x(dana, X_DANA)
    on_x(bob, X_BOB)
    client = {"client_id": X_ACME_CLIENT, "client_secret": X_ACME_SECRET}
    return x_channel(dana.workspace, api, brand=X_ACME_BRAND, token=X_ACME_TOKEN, client=client)


def connect_globex_x(globex_dana: Customer, api: XStandIn) -> Channel:
    """Globex's X channel with its public client; Dana is on X there too."""
    on_x(globex_dana, X_DANA)
    return x_channel(
        globex_dana.workspace,
        api,
        brand=X_GLOBEX_BRAND,
        token=X_GLOBEX_TOKEN,
        client={"client_id": X_GLOBEX_CLIENT},
    )


def x_brand_tokens_only(api: XStandIn) -> None:
    """Every sign-in token was revoked: only the brands' own tokens are left."""
    assert set(api.tokens) == {X_ACME_TOKEN, X_GLOBEX_TOKEN}
    assert api.grants == {}


# --- both providers ----------------------------------------------------------------------------


@dataclass
class Provider:
    """One way to sign in, with Acme's channel connected and Dana and Bob on it."""

    kind: str  # in the URLs: "mastodon", "x"
    label: str  # on the button and in the messages: "Mastodon", "X"
    server: MastodonStandIn | XStandIn  # where Acme's customers sign in
    accounts: dict[str, str]  # "dana", "bob", "mallet": their account ids there
    token_path: str  # the token endpoint on ``server``, as a pattern
    sign_in_tokens_revoked: Callable[[], None]  # asserts no sign-in token is left
    connect_globex: Callable[[Customer], MastodonStandIn | XStandIn]  # Globex's server

    @property
    def button(self) -> str:
        return f"Sign in with {self.label}"


def serving(stand_in: S, stack: ExitStack) -> S:
    """Start ``stand_in`` until ``stack`` closes."""
    stand_in.start()
    stack.callback(stand_in.stop)
    return stand_in


def running(stand_in: S) -> Iterator[S]:
    """``stand_in`` serving, for a fixture: stopped when the test ends."""
    with ExitStack() as stack:
        yield serving(stand_in, stack)


def mastodon(dana: Customer, bob: Customer, stack: ExitStack) -> Provider:
    instance = serving(acme_mastodon(), stack)
    on_mastodon(dana, MASTODON_DANA, "@dana")
    on_mastodon(bob, MASTODON_BOB, "@bob")
    connect(dana.workspace, instance)

    def tokens_revoked() -> None:
        assert instance.user_tokens == {}

    def connect_globex(globex_dana: Customer) -> MastodonStandIn:
        globex = serving(globex_mastodon(), stack)
        connect_globex_mastodon(globex_dana, globex)
        return globex

    accounts = {"dana": MASTODON_DANA, "bob": MASTODON_BOB, "mallet": MASTODON_MALLET}
    return Provider(
        "mastodon", "Mastodon", instance, accounts, MASTODON_TOKEN, tokens_revoked, connect_globex
    )


def x(dana: Customer, bob: Customer, stack: ExitStack) -> Provider:
    api = serving(x_stand_in(), stack)
    connect_acme_x(dana, bob, api)

    def connect_globex(globex_dana: Customer) -> XStandIn:
        connect_globex_x(globex_dana, api)
        return api

    accounts = {"dana": X_DANA, "bob": X_BOB, "mallet": X_MALLET}
    return Provider(
        "x", "X", api, accounts, X_TOKEN, lambda: x_brand_tokens_only(api), connect_globex
    )


PROVIDERS: dict[str, Callable[[Customer, Customer, ExitStack], Provider]] = {
    "mastodon": mastodon,
    "x": x,
}


# --- the steps ---------------------------------------------------------------------------------


def start(client: Client, path: str, kind: str) -> str:
    """Open the link and press "Sign in with …": the provider's authorize URL."""
    slug = path.split("/")[2]
    assert client.get(path).status_code == 302
    response = client.get(reverse(f"portal:oauth-{kind}", args=[slug]))
    assert response.status_code == 302, response.content.decode()
    return str(response["Location"])


def approve(authorize_url: str) -> str:
    """The customer's step on the provider: the callback path (with code and state)."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"].removeprefix("http://testserver")


def signed_in_as(
    server: MastodonStandIn | XStandIn, account: str, client: Client, path: str, kind: str
) -> str:
    """Press the button on the link's page, signed in at ``server`` as ``account``: the
    callback path the provider sent the browser to."""
    server.signed_in = account
    return approve(start(client, path, kind))


def begin(customer: Customer, agent: Agent, provider: Provider, account: str) -> tuple[Client, str]:
    """A link sent to ``customer``, opened in a new browser and approved as ``account``:
    the browser and the callback path."""
    client = Client()
    _, path = send_link(customer.case, agent)
    return client, signed_in_as(provider.server, account, client, path, provider.kind)


def copied_browser(client: Client) -> Client:
    """Another browser holding every cookie ``client`` holds."""
    copied = Client()
    for name, morsel in client.cookies.items():
        copied.cookies[name] = morsel.value
    return copied


def verify_page(customer: Customer, agent: Agent) -> tuple[Client, Any]:
    """A link sent to ``customer``, opened in a new browser: the browser and the page."""
    _, path = send_link(customer.case, agent)
    client = Client()
    return client, client.get(path, follow=True)


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


def identities() -> list[tuple[int, int]]:
    """Every identity's contact and id, to show nothing was linked."""
    return list(ContactIdentity.objects.order_by("id").values_list("contact_id", "pk"))


def sign_in_in_chromium(url: str, button: str) -> tuple[str, list[str]]:
    """Open ``url`` in headless Chromium and click ``button`` until "Your cases" shows:
    that page's HTML and the console's errors on the way."""
    sync_api = pytest.importorskip("playwright.sync_api")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = chromium.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.get_by_role("link", name=button).click()
        sync_api.expect(page.get_by_role("heading", name="Your cases")).to_be_visible()
        html = page.content()
        chromium.close()
    return str(html), errors
