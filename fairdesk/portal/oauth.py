"""Proof of identity by signing in with the platform the customer wrote from: the OAuth
2 authorization code flow with PKCE (RFC 7636, S256). One flow, two providers:

- **Mastodon**, against the instance of the workspace's Mastodon channel, as
  docs.joinmastodon.org describes it (methods/apps, methods/oauth, methods/accounts).
  The app is registered on the instance once per channel and redirect URI (``POST
  /api/v1/apps``, scope ``read:accounts``, which every Mastodon version knows; its client
  id and secret are kept in the channel's encrypted credentials).
- **X**, with the OAuth 2.0 client of the workspace's X channel (the ``client_id`` and,
  for a confidential client, ``client_secret`` its token refresh already uses:
  ``connectors.x.tokens``), as docs.x.com describes it (fundamentals/authentication/
  oauth-2-0/authorization-code and user-access-token): the browser approves at
  ``https://x.com/i/oauth2/authorize`` (``authorize_base`` of the channel's config), the
  code is traded at ``POST /2/oauth2/token`` (a confidential client authenticates with
  HTTP Basic), the user read with ``GET /2/users/me`` and the token revoked with ``POST
  /2/oauth2/revoke`` (``api_base``). X apps are not registered by API: the admin adds
  ``https://<portal host>/portal/<workspace>/oauth/x/callback/`` to the app's callback
  URLs in the developer portal, and the scope asked is ``users.read tweet.read`` (what
  ``/2/users/me`` needs).

1. ``start_sign_in``: an attempt is stored as a ``PortalChallenge`` of the link without
   a message: ``code_digest`` holds an HMAC of (provider, workspace, link, attempt,
   state, browser secret), so a state works only with the provider and link it was made
   for and in the browser holding the secret (a signed, HttpOnly cookie:
   ``oauth_views``). The PKCE verifier is derived from that secret, so it is never
   stored either. ``attempts`` starts at the code limit: no typed code is ever compared
   against an attempt. A new attempt ends the link's older ones; ``SIGN_INS_PER_LINK``
   caps them.
2. The customer approves on the platform, which redirects back with ``code`` and
   ``state``.
3. ``finish_sign_in``: the state is checked, then the attempt is spent by a
   conditional UPDATE before anything else (single use, however many callbacks race);
   the code is traded for a token (with the verifier), the account read and the token
   revoked. Only an account id equal to the external id of one of the link contact's
   own identities on that platform in the workspace opens a portal session — the very
   session a right code opens (``services.open_session``). Anything else links nothing.

Which Mastodon instance: the channel private Mastodon replies go out on
(``connectors.queries.sending_account``), whose ids the contact's identities hold. Only
accounts of that instance can sign in there, so the button is offered only for an
identity whose handle has no other domain (a remote ``@jane@example.social`` gets a
code). X user ids are the same for every app, so any X identity of the contact can sign
in with the first X channel that has an OAuth 2.0 client.

authlib builds the protocol messages (grant URI, token request, S256 challenge);
the HTTP goes through ``connectors.http`` like every other platform call (bounded
timeouts, no redirects followed), not authlib's client, which binds to whichever httpx
package is installed.
"""

import base64
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from fairdesk.connectors import http
from fairdesk.connectors import secrets as channel_secrets
from fairdesk.connectors.base import PollError
from fairdesk.connectors.config import XConfig
from fairdesk.connectors.mastodon.connector import MastodonConfig
from fairdesk.connectors.models import Channel
from fairdesk.connectors.queries import sending_account
from fairdesk.connectors.webform.ratelimit import Limit, spend
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import services
from fairdesk.portal.models import PortalChallenge, PortalLink, PortalSession

log = logging.getLogger(__name__)

ATTEMPT_TTL = timedelta(minutes=10)
SIGN_INS_PER_LINK = Limit("portal-oauth", hits=10, window=timedelta(hours=1))
STATE_SALT = "fairdesk.portal.oauth.state"
VERIFIER_SALT = "fairdesk.portal.oauth.pkce"
MAX_PARAM_CHARS = 512
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class SignInRefused(Exception):
    """The sign-in did not prove who the customer is; nothing was linked. ``str()`` is
    the customer's message; ``status`` the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class StateMismatch(SignInRefused):
    """An answer for another attempt, link, provider or browser (or forged): the attempt
    this browser holds is left as it was, so a forged callback cannot end it."""

    def __init__(self) -> None:
        super().__init__("This sign-in was not started here. Start again from your link.")


@dataclass(frozen=True, slots=True)
class App:
    """The portal's OAuth client at one platform for one redirect URI."""

    api_base: str  # where the token, account and revoke calls go
    authorize_url: str  # where the browser approves
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class Started:
    """Where to send the browser, and what it must hold to come back."""

    url: str
    challenge_id: uuid.UUID
    browser_secret: str


# --- the providers ---------------------------------------------------------------------


class Provider:
    """What differs between platforms: which channel and identities, the app, and the
    shapes of the token, account and revoke calls. The flow below is shared."""

    kind: ClassVar[str]  # the channel kind of the identities it proves
    name: ClassVar[str]  # shown to the customer
    scope: ClassVar[str]
    token_path: ClassVar[str]
    account_path: ClassVar[str]
    revoke_path: ClassVar[str]

    @property
    def method(self) -> str:
        """How the identity was proved, on the case's timeline."""
        return f"{self.name} sign-in"

    @property
    def start_view(self) -> str:
        return f"portal:oauth-{self.kind}"

    @property
    def unreachable(self) -> str:
        return (
            f"We could not reach {self.name} to confirm it is you. Try again in a moment, "
            "or ask for a one-time code instead."
        )

    @property
    def not_confirmed(self) -> str:
        return f"{self.name} did not confirm the sign-in. Start again, or ask for a one-time code."

    def channel(self, link: PortalLink) -> Channel | None:
        raise NotImplementedError

    def signs_in(self, identity: ContactIdentity) -> bool:
        """Whether this identity can sign in through the provider's channel."""
        return True

    def app(self, channel: Channel, redirect_uri: str, *, register: bool) -> App | None:
        """The client to use; ``register``: make one where the platform allows it."""
        raise NotImplementedError

    def token_request(self, app: App, *, code: str, verifier: str) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def revoke_request(self, app: App, token: str) -> tuple[dict[str, str], dict[str, str]]:
        raise NotImplementedError

    def account_id(self, answer: dict[str, Any]) -> object:
        raise NotImplementedError


class MastodonSignIn(Provider):
    kind = "mastodon"
    name = "Mastodon"
    scope = "read:accounts"
    client_name = "Fairdesk support portal"
    apps_path = "/api/v1/apps"
    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"  # noqa: S105 (a URL path, not a secret)
    account_path = "/api/v1/accounts/verify_credentials"
    revoke_path = "/oauth/revoke"

    def channel(self, link: PortalLink) -> Channel | None:
        return sending_account(workspace_id=link.workspace_id, channel=self.kind)

    def signs_in(self, identity: ContactIdentity) -> bool:
        """``@jane`` (an account of the channel's instance), not ``@jane@example.social``."""
        return identity.handle.removeprefix("@").count("@") == 0

    def app(self, channel: Channel, redirect_uri: str, *, register: bool) -> App | None:
        """The app stored for this instance and redirect URI, else (``register``) a new
        registration, stored unless a concurrent request stored one first (then that one
        is used)."""
        instance_url = MastodonConfig.model_validate(channel.config).instance_url
        stored = self._stored(channel, instance_url, redirect_uri)
        if stored is not None or not register:
            return stored
        app = self._register(instance_url, redirect_uri)  # outside any transaction
        with transaction.atomic():
            locked = Channel.objects.select_for_update().get(pk=channel.pk)
            raced = self._stored(locked, instance_url, redirect_uri)
            if raced is not None:
                return raced
            channel_secrets.set_credentials(
                locked,
                {
                    **channel_secrets.credentials(locked),
                    "oauth_instance_url": app.api_base,
                    "oauth_client_id": app.client_id,
                    "oauth_client_secret": app.client_secret,
                    "oauth_redirect_uri": app.redirect_uri,
                },
            )
        return app

    def _stored(self, channel: Channel, instance_url: str, redirect_uri: str) -> App | None:
        stored = channel_secrets.credentials(channel)
        base = str(stored.get("oauth_instance_url") or "")
        app = App(
            api_base=base,
            authorize_url=base + self.authorize_path,
            client_id=str(stored.get("oauth_client_id") or ""),
            client_secret=str(stored.get("oauth_client_secret") or ""),
            redirect_uri=str(stored.get("oauth_redirect_uri") or ""),
        )
        if (app.api_base, app.redirect_uri) != (instance_url, redirect_uri):
            return None
        return app if app.client_id and app.client_secret else None

    def _register(self, instance_url: str, redirect_uri: str) -> App:
        # One redirect URI as a string: arrays are understood only from Mastodon 4.3.
        body = {
            "client_name": self.client_name,
            "redirect_uris": redirect_uri,
            "scopes": self.scope,
        }
        data = _call(
            self,
            instance_url,
            lambda client: client.post(self.apps_path, json=body),
            refused=self.unreachable,
        )
        client_id, client_secret = data.get("client_id"), data.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            client_id = client_secret = ""
        if not client_id or not client_secret:
            log.warning("Mastodon app registration on %s answered no client", instance_url)
            raise SignInRefused(self.unreachable, status=502)
        return App(
            instance_url,
            instance_url + self.authorize_path,
            client_id,
            client_secret,
            redirect_uri,
        )

    def token_request(self, app: App, *, code: str, verifier: str) -> tuple[str, dict[str, str]]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=app.redirect_uri,
            client_id=app.client_id,
            client_secret=app.client_secret,
            code_verifier=verifier,
            scope=self.scope,
        )
        return body, FORM

    def revoke_request(self, app: App, token: str) -> tuple[dict[str, str], dict[str, str]]:
        return {"client_id": app.client_id, "client_secret": app.client_secret, "token": token}, {}

    def account_id(self, answer: dict[str, Any]) -> object:
        return answer.get("id")


class XSignIn(Provider):
    kind = "x"
    name = "X"
    scope = "users.read tweet.read"
    authorize_path = "/i/oauth2/authorize"
    token_path = "/2/oauth2/token"  # noqa: S105 (a URL path, not a secret)
    account_path = "/2/users/me"
    revoke_path = "/2/oauth2/revoke"

    def channel(self, link: PortalLink) -> Channel | None:
        """The workspace's first X channel with an OAuth 2.0 client id."""
        channels = Channel.objects.filter(workspace_id=link.workspace_id, kind=self.kind)
        for channel in channels.order_by("id"):
            if str(channel_secrets.credentials(channel).get("client_id") or "").strip():
                return channel
        return None

    def app(self, channel: Channel, redirect_uri: str, *, register: bool) -> App | None:
        stored = channel_secrets.credentials(channel)
        client_id = str(stored.get("client_id") or "").strip()
        if not client_id:
            return None
        config = XConfig.model_validate(channel.config)
        return App(
            api_base=config.api_base.rstrip("/"),
            authorize_url=config.authorize_base.rstrip("/") + self.authorize_path,
            client_id=client_id,
            client_secret=str(stored.get("client_secret") or ""),
            redirect_uri=redirect_uri,
        )

    def token_request(self, app: App, *, code: str, verifier: str) -> tuple[str, dict[str, str]]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=app.redirect_uri,
            client_id=app.client_id,
            code_verifier=verifier,
        )
        return body, {**FORM, **_basic(app)}

    def revoke_request(self, app: App, token: str) -> tuple[dict[str, str], dict[str, str]]:
        form = {"token": token, "token_type_hint": "access_token", "client_id": app.client_id}
        return form, _basic(app)

    def account_id(self, answer: dict[str, Any]) -> object:
        data = answer.get("data")
        return data.get("id") if isinstance(data, dict) else None


def _basic(app: App) -> dict[str, str]:
    """HTTP Basic client authentication for a confidential client (none for a public one)."""
    if not app.client_secret:
        return {}
    pair = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


MASTODON = MastodonSignIn()
X = XSignIn()
PROVIDERS: dict[str, Provider] = {MASTODON.kind: MASTODON, X.kind: X}


# --- where it is offered ---------------------------------------------------------------


def offered(link: PortalLink) -> list[Provider]:
    """The providers the verify page offers a "Sign in with …" button for."""
    return [provider for provider in PROVIDERS.values() if _route(provider, link) is not None]


def _route(provider: Provider, link: PortalLink) -> tuple[Channel, ContactIdentity] | None:
    """The channel the link's customer can sign in with and their first identity that
    can sign in there; None without such a channel, without such an identity of this
    contact, or when the link no longer matches its case."""
    if link.case.contact_id != link.contact_id:
        return None
    channel = provider.channel(link)
    if channel is None:
        return None
    identities = ContactIdentity.objects.filter(
        workspace_id=link.workspace_id, contact_id=link.contact_id, channel=provider.kind
    ).order_by("id")
    first = next((i for i in identities if provider.signs_in(i)), None)
    return (channel, first) if first is not None else None


# --- 1. start --------------------------------------------------------------------------


def start_sign_in(*, provider: Provider, link: PortalLink, redirect_uri: str) -> Started:
    """A new sign-in attempt for ``link``: the platform's authorization URL and the
    browser secret to keep. Earlier attempts of the link stop working (like older
    codes); at most ``SIGN_INS_PER_LINK`` an hour. Raises SignInRefused (not offered,
    platform unreachable) or ``Throttled``, with no attempt stored."""
    route = _route(provider, link)
    app = provider.app(route[0], redirect_uri, register=True) if route else None
    if route is None or app is None:
        raise SignInRefused(f"Signing in with {provider.name} is not available for this link.")
    browser, state = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = timezone.now()
    challenge = PortalChallenge(
        workspace_id=link.workspace_id,
        link=link,
        identity=route[1],  # the account signed in with replaces it
        attempts=services.MAX_CODE_ATTEMPTS,
        safe_text="",
        expires_at=now + ATTEMPT_TTL,
    )
    challenge.code_digest = _state_digest(provider, link, challenge.public_id, state, browser)
    with transaction.atomic():
        spend(SIGN_INS_PER_LINK, str(link.pk), now=now)
        PortalChallenge.objects.filter(
            link=link, message__isnull=True, verified_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        challenge.save()
    url = prepare_grant_uri(
        app.authorize_url,
        app.client_id,
        "code",
        redirect_uri=app.redirect_uri,
        scope=provider.scope,
        state=state,
        code_challenge=create_s256_code_challenge(_verifier(challenge.public_id, browser)),
        code_challenge_method="S256",
    )
    return Started(url=url, challenge_id=challenge.public_id, browser_secret=browser)


def _state_digest(
    provider: Provider, link: PortalLink, challenge_id: uuid.UUID, state: str, browser: str
) -> str:
    value = f"{provider.kind}:{link.workspace_id}:{link.pk}:{challenge_id}:{state}:{browser}"
    return salted_hmac(STATE_SALT, value, algorithm="sha256").hexdigest()


def _verifier(challenge_id: uuid.UUID, browser: str) -> str:
    """The PKCE code verifier: 64 hex characters only this server can derive."""
    return salted_hmac(VERIFIER_SALT, f"{challenge_id}:{browser}", algorithm="sha256").hexdigest()


# --- 3. finish -------------------------------------------------------------------------


def finish_sign_in(
    *,
    link: PortalLink,
    challenge_id: uuid.UUID,
    browser_secret: str,
    params: dict[str, str],
    redirect_uri: str,
    provider: Provider,
) -> tuple[PortalSession, str]:
    """Check the platform's answer (``params``: ``state`` and ``code`` or ``error``)
    for the attempt this browser started on this link with this provider; on success a
    portal session and its cookie secret. Raises SignInRefused with nothing linked."""
    state, code = params.get("state", ""), params.get("code", "")
    challenge = _attempt(link, challenge_id)
    if (
        challenge is None
        or not state
        or len(state) > MAX_PARAM_CHARS
        or not constant_time_compare(
            challenge.code_digest,
            _state_digest(provider, link, challenge_id, state, browser_secret),
        )
    ):
        raise StateMismatch
    now = timezone.now()
    spent = PortalChallenge.objects.filter(
        pk=challenge.pk, verified_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    if not spent:
        raise SignInRefused("This sign-in was already used or has expired. Start again.")
    if params.get("error") or not code or len(code) > MAX_PARAM_CHARS:
        raise SignInRefused(provider.not_confirmed)
    route = _route(provider, link)
    app = provider.app(route[0], redirect_uri, register=False) if route else None
    if app is None:
        raise SignInRefused(
            f"Signing in with {provider.name} is no longer available for this link."
        )
    account_id = _account_id(
        provider, app, code=code, verifier=_verifier(challenge_id, browser_secret)
    )
    identity = ContactIdentity.objects.filter(
        workspace_id=link.workspace_id,
        contact_id=link.contact_id,
        channel=provider.kind,
        external_id=account_id,
    ).first()
    if identity is None:
        raise SignInRefused(
            f"You signed in to {provider.name} with another account than the one you wrote "
            f"to us from, so nothing was linked. Sign out of {provider.name} and start again "
            "with that account, or ask for a one-time code.",
            status=403,
        )
    PortalChallenge.objects.filter(pk=challenge.pk).update(identity=identity)
    challenge.identity = identity
    try:
        return services.open_session(link, challenge, timezone.now(), method=provider.method)
    except services.CodeRefused:
        raise SignInRefused("This sign-in was already used. Start again.") from None


def _attempt(link: PortalLink, challenge_id: uuid.UUID) -> PortalChallenge | None:
    """The link's sign-in attempt with this id (a code challenge has a message)."""
    return PortalChallenge.objects.filter(
        workspace_id=link.workspace_id, link=link, public_id=challenge_id, message__isnull=True
    ).first()


def _account_id(provider: Provider, app: App, *, code: str, verifier: str) -> str:
    """Trade the code for a token, read the account it belongs to, revoke the token."""
    body, headers = provider.token_request(app, code=code, verifier=verifier)
    token = _call(
        provider,
        app.api_base,
        lambda client: client.post(provider.token_path, content=body, headers=headers),
        refused=provider.not_confirmed,
    )
    access = token.get("access_token")
    if not isinstance(access, str) or str(token.get("token_type", "")).lower() != "bearer":
        raise SignInRefused(provider.unreachable, status=502)
    bearer = {"Authorization": f"Bearer {access}"}
    try:
        account = _call(
            provider,
            app.api_base,
            lambda client: client.get(provider.account_path, headers=bearer),
            refused=provider.not_confirmed,
        )
    finally:
        _revoke(provider, app, access)
    account_id = provider.account_id(account)
    if not isinstance(account_id, str) or not account_id:
        raise SignInRefused(provider.unreachable, status=502)
    return account_id


def _revoke(provider: Provider, app: App, access_token: str) -> None:
    """Best effort: the portal keeps no platform token once it knows the account."""
    form, headers = provider.revoke_request(app, access_token)
    try:
        with http.client(app.api_base, headers=headers) as client:
            client.post(provider.revoke_path, data=form)
    except httpx.HTTPError as exc:
        log.info("revoking a %s sign-in token at %s failed: %s", provider.name, app.api_base, exc)


def _call(
    provider: Provider,
    base_url: str,
    request: Callable[[httpx.Client], httpx.Response],
    *,
    refused: str,
) -> dict[str, Any]:
    """One call to the platform: its JSON object. A 4xx answer is ``refused`` (the
    platform said no); no answer, a 5xx or one that is not JSON: unreachable."""
    try:
        with http.client(base_url) as client:
            response = request(client)
            if 400 <= response.status_code < 500:
                log.info(
                    "%s sign-in call to %s: HTTP %s", provider.name, base_url, response.status_code
                )
                raise SignInRefused(refused)
            return http.json_object(http.checked_read(lambda: response))
    except (httpx.HTTPError, PollError) as exc:
        log.warning("%s sign-in call to %s failed: %s", provider.name, base_url, exc)
        raise SignInRefused(provider.unreachable, status=502) from exc
