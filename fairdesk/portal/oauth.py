"""Proof of identity by signing in with Mastodon: the OAuth 2 authorization code flow
with PKCE (RFC 7636, S256) against the instance of the workspace's Mastodon channel,
as docs.joinmastodon.org describes it (methods/apps, methods/oauth, methods/accounts).

1. ``start_sign_in``: the app is registered on the instance once per channel and
   redirect URI (``POST /api/v1/apps``, scope ``read:accounts``, which every Mastodon
   version knows; its client id and secret are kept in the channel's encrypted
   credentials). An attempt is stored as a ``PortalChallenge`` of the link without a
   message: ``code_digest`` holds an HMAC of (workspace, link, attempt, state, browser
   secret), so a state works only with the link it was made for and in the browser
   holding the secret (a signed, HttpOnly cookie: ``oauth_views``). The PKCE verifier
   is derived from that secret, so it is never stored either. ``attempts`` starts at
   the code limit: no typed code is ever compared against an attempt. A new attempt
   ends the link's older ones; ``SIGN_INS_PER_LINK`` caps them.
2. The customer approves on their instance, which redirects back with ``code`` and
   ``state``.
3. ``finish_sign_in``: the state is checked, then the attempt is spent by a
   conditional UPDATE before anything else (single use, however many callbacks race);
   the code is traded for a token (``POST /oauth/token`` with the verifier), the
   account read (``GET /api/v1/accounts/verify_credentials``) and the token revoked.
   Only an account id equal to the external id of one of the link contact's own
   Mastodon identities in the workspace opens a portal session — the very session a
   right code opens (``services.open_session``). Anything else links nothing.

Which instance: the channel private Mastodon replies go out on
(``connectors.queries.sending_account``), whose ids the contact's identities hold. Only
accounts of that instance can sign in there, so the button is offered only for an
identity whose handle has no other domain (a remote ``@jane@example.social`` gets a code).

authlib builds the protocol messages (grant URI, token request, S256 challenge);
the HTTP goes through ``connectors.http`` like every other platform call (bounded
timeouts, no redirects followed), not authlib's client, which binds to whichever httpx
package is installed.
"""

import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from fairdesk.connectors import http
from fairdesk.connectors import secrets as channel_secrets
from fairdesk.connectors.base import PollError
from fairdesk.connectors.mastodon.connector import MastodonConfig
from fairdesk.connectors.models import Channel
from fairdesk.connectors.queries import sending_account
from fairdesk.connectors.webform.ratelimit import Limit, spend
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import services
from fairdesk.portal.models import PortalChallenge, PortalLink, PortalSession

log = logging.getLogger(__name__)

KIND = "mastodon"
SCOPE = "read:accounts"
CLIENT_NAME = "Fairdesk support portal"
METHOD = "Mastodon sign-in"  # how the identity was proved, on the case's timeline
APPS = "/api/v1/apps"
AUTHORIZE = "/oauth/authorize"
EXCHANGE = "/oauth/token"  # where a code is traded for a token
REVOKE = "/oauth/revoke"
VERIFY_CREDENTIALS = "/api/v1/accounts/verify_credentials"
ATTEMPT_TTL = timedelta(minutes=10)
SIGN_INS_PER_LINK = Limit("portal-oauth", hits=10, window=timedelta(hours=1))
STATE_SALT = "fairdesk.portal.oauth.state"
VERIFIER_SALT = "fairdesk.portal.oauth.pkce"
MAX_PARAM_CHARS = 512
UNREACHABLE = (
    "We could not reach Mastodon to confirm it is you. Try again in a moment, "
    "or ask for a one-time code instead."
)
NOT_CONFIRMED = "Mastodon did not confirm the sign-in. Start again, or ask for a one-time code."


class SignInRefused(Exception):
    """The sign-in did not prove who the customer is; nothing was linked. ``str()`` is
    the customer's message; ``status`` the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class StateMismatch(SignInRefused):
    """An answer for another attempt, link or browser (or forged): the attempt this
    browser holds is left as it was, so a forged callback cannot end it."""

    def __init__(self) -> None:
        super().__init__("This sign-in was not started here. Start again from your link.")


@dataclass(frozen=True, slots=True)
class App:
    """The portal's app registered on one instance for one redirect URI."""

    instance_url: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class Started:
    """Where to send the browser, and what it must hold to come back."""

    url: str
    challenge_id: uuid.UUID
    browser_secret: str


# --- where it is offered ---------------------------------------------------------------


def offered(link: PortalLink) -> bool:
    """Whether the verify page shows "Sign in with Mastodon" for this link."""
    return _route(link) is not None


def _route(link: PortalLink) -> tuple[Channel, ContactIdentity] | None:
    """The Mastodon channel the link's customer can sign in with and their first
    account on its instance; None without a Mastodon channel, without a Mastodon
    identity of this contact, with only accounts of other instances, or when the link
    no longer matches its case."""
    if link.case.contact_id != link.contact_id:
        return None
    channel = sending_account(workspace_id=link.workspace_id, channel=KIND)
    if channel is None:
        return None
    identities = ContactIdentity.objects.filter(
        workspace_id=link.workspace_id, contact_id=link.contact_id, channel=KIND
    ).order_by("id")
    local = next((i for i in identities if _local(i.handle)), None)
    return (channel, local) if local is not None else None


def _local(handle: str) -> bool:
    """``@jane`` (an account of the channel's instance), not ``@jane@example.social``."""
    return handle.removeprefix("@").count("@") == 0


# --- 1. start --------------------------------------------------------------------------


def start_sign_in(*, link: PortalLink, redirect_uri: str) -> Started:
    """A new sign-in attempt for ``link``: the instance's authorization URL and the
    browser secret to keep. Earlier attempts of the link stop working (like older
    codes); at most ``SIGN_INS_PER_LINK`` an hour. Raises SignInRefused (not offered,
    instance unreachable) or ``Throttled``, with no attempt stored."""
    route = _route(link)
    if route is None:
        raise SignInRefused("Signing in with Mastodon is not available for this link.")
    channel, identity = route
    app = _registered_app(channel, redirect_uri)
    browser, state = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = timezone.now()
    challenge = PortalChallenge(
        workspace_id=link.workspace_id,
        link=link,
        identity=identity,  # the account signed in with replaces it
        attempts=services.MAX_CODE_ATTEMPTS,
        safe_text="",
        expires_at=now + ATTEMPT_TTL,
    )
    challenge.code_digest = _state_digest(link, challenge.public_id, state, browser)
    with transaction.atomic():
        spend(SIGN_INS_PER_LINK, str(link.pk), now=now)
        PortalChallenge.objects.filter(
            link=link, message__isnull=True, verified_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        challenge.save()
    url = prepare_grant_uri(
        app.instance_url + AUTHORIZE,
        app.client_id,
        "code",
        redirect_uri=app.redirect_uri,
        scope=SCOPE,
        state=state,
        code_challenge=create_s256_code_challenge(_verifier(challenge.public_id, browser)),
        code_challenge_method="S256",
    )
    return Started(url=url, challenge_id=challenge.public_id, browser_secret=browser)


def _state_digest(link: PortalLink, challenge_id: uuid.UUID, state: str, browser: str) -> str:
    value = f"{link.workspace_id}:{link.pk}:{challenge_id}:{state}:{browser}"
    return salted_hmac(STATE_SALT, value, algorithm="sha256").hexdigest()


def _verifier(challenge_id: uuid.UUID, browser: str) -> str:
    """The PKCE code verifier: 64 hex characters only this server can derive."""
    return salted_hmac(VERIFIER_SALT, f"{challenge_id}:{browser}", algorithm="sha256").hexdigest()


# --- the app on the instance -----------------------------------------------------------


def _registered_app(channel: Channel, redirect_uri: str) -> App:
    """The app stored for this instance and redirect URI, else a new registration,
    stored unless a concurrent request stored one first (then that one is used)."""
    instance_url = _instance_of(channel)
    stored = _stored_app(channel, instance_url, redirect_uri)
    if stored is not None:
        return stored
    app = _register(instance_url, redirect_uri)  # outside any transaction
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        raced = _stored_app(locked, instance_url, redirect_uri)
        if raced is not None:
            return raced
        channel_secrets.set_credentials(
            locked,
            {
                **channel_secrets.credentials(locked),
                "oauth_instance_url": app.instance_url,
                "oauth_client_id": app.client_id,
                "oauth_client_secret": app.client_secret,
                "oauth_redirect_uri": app.redirect_uri,
            },
        )
    return app


def _stored_app(channel: Channel, instance_url: str, redirect_uri: str) -> App | None:
    stored = channel_secrets.credentials(channel)
    app = App(
        instance_url=str(stored.get("oauth_instance_url") or ""),
        client_id=str(stored.get("oauth_client_id") or ""),
        client_secret=str(stored.get("oauth_client_secret") or ""),
        redirect_uri=str(stored.get("oauth_redirect_uri") or ""),
    )
    if (app.instance_url, app.redirect_uri) != (instance_url, redirect_uri):
        return None
    return app if app.client_id and app.client_secret else None


def _register(instance_url: str, redirect_uri: str) -> App:
    # One redirect URI as a string: arrays are understood only from Mastodon 4.3.
    body = {"client_name": CLIENT_NAME, "redirect_uris": redirect_uri, "scopes": SCOPE}
    data = _call(instance_url, lambda client: client.post(APPS, json=body), refused=UNREACHABLE)
    client_id, client_secret = data.get("client_id"), data.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(client_secret, str):
        client_id = client_secret = ""
    if not client_id or not client_secret:
        log.warning("Mastodon app registration on %s answered no client", instance_url)
        raise SignInRefused(UNREACHABLE, status=502)
    return App(instance_url, client_id, client_secret, redirect_uri)


# --- 3. finish -------------------------------------------------------------------------


def finish_sign_in(
    *,
    link: PortalLink,
    challenge_id: uuid.UUID,
    browser_secret: str,
    params: dict[str, str],
    redirect_uri: str,
) -> tuple[PortalSession, str]:
    """Check the instance's answer (``params``: ``state`` and ``code`` or ``error``)
    for the attempt this browser started on this link; on success a portal session and
    its cookie secret. Raises SignInRefused with nothing linked."""
    state, code = params.get("state", ""), params.get("code", "")
    challenge = _attempt(link, challenge_id)
    if (
        challenge is None
        or not state
        or len(state) > MAX_PARAM_CHARS
        or not constant_time_compare(
            challenge.code_digest, _state_digest(link, challenge_id, state, browser_secret)
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
        raise SignInRefused(NOT_CONFIRMED)
    route = _route(link)
    app = _stored_app(route[0], _instance_of(route[0]), redirect_uri) if route else None
    if app is None:
        raise SignInRefused("Signing in with Mastodon is no longer available for this link.")
    account_id = _account_id(app, code=code, verifier=_verifier(challenge_id, browser_secret))
    identity = ContactIdentity.objects.filter(
        workspace_id=link.workspace_id,
        contact_id=link.contact_id,
        channel=KIND,
        external_id=account_id,
    ).first()
    if identity is None:
        raise SignInRefused(
            "You signed in to Mastodon with another account than the one you wrote to us "
            "from, so nothing was linked. Sign out of Mastodon and start again with that "
            "account, or ask for a one-time code.",
            status=403,
        )
    PortalChallenge.objects.filter(pk=challenge.pk).update(identity=identity)
    challenge.identity = identity
    try:
        return services.open_session(link, challenge, timezone.now(), method=METHOD)
    except services.CodeRefused:
        raise SignInRefused("This sign-in was already used. Start again.") from None


def _attempt(link: PortalLink, challenge_id: uuid.UUID) -> PortalChallenge | None:
    """The link's Mastodon attempt with this id (a code challenge has a message)."""
    return PortalChallenge.objects.filter(
        workspace_id=link.workspace_id, link=link, public_id=challenge_id, message__isnull=True
    ).first()


def _instance_of(channel: Channel) -> str:
    return MastodonConfig.model_validate(channel.config).instance_url


def _account_id(app: App, *, code: str, verifier: str) -> str:
    """Trade the code for a token, read the account it belongs to, revoke the token."""
    body = prepare_token_request(
        "authorization_code",
        code=code,
        redirect_uri=app.redirect_uri,
        client_id=app.client_id,
        client_secret=app.client_secret,
        code_verifier=verifier,
        scope=SCOPE,
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    token = _call(
        app.instance_url,
        lambda client: client.post(EXCHANGE, content=body, headers=form),
        refused=NOT_CONFIRMED,
    )
    access = token.get("access_token")
    if not isinstance(access, str) or str(token.get("token_type", "")).lower() != "bearer":
        raise SignInRefused(UNREACHABLE, status=502)
    bearer = {"Authorization": f"Bearer {access}"}
    try:
        account = _call(
            app.instance_url,
            lambda client: client.get(VERIFY_CREDENTIALS, headers=bearer),
            refused=NOT_CONFIRMED,
        )
    finally:
        _revoke(app, access)
    account_id = account.get("id")
    if not isinstance(account_id, str) or not account_id:
        raise SignInRefused(UNREACHABLE, status=502)
    return account_id


def _revoke(app: App, access_token: str) -> None:
    """Best effort: the portal keeps no Mastodon token once it knows the account."""
    body = {"client_id": app.client_id, "client_secret": app.client_secret, "token": access_token}
    try:
        with http.client(app.instance_url) as client:
            client.post(REVOKE, data=body)
    except httpx.HTTPError as exc:
        log.info("revoking a Mastodon sign-in token on %s failed: %s", app.instance_url, exc)


def _call(
    instance_url: str, request: Callable[[httpx.Client], httpx.Response], *, refused: str
) -> dict[str, Any]:
    """One call to the instance: its JSON object. A 4xx answer is ``refused`` (the
    instance said no); no answer, a 5xx or one that is not JSON: unreachable."""
    try:
        with http.client(instance_url) as client:
            response = request(client)
            if 400 <= response.status_code < 500:
                log.info("Mastodon sign-in call to %s: HTTP %s", instance_url, response.status_code)
                raise SignInRefused(refused)
            return http.json_object(http.checked_read(lambda: response))
    except (httpx.HTTPError, PollError) as exc:
        log.warning("Mastodon sign-in call to %s failed: %s", instance_url, exc)
        raise SignInRefused(UNREACHABLE, status=502) from exc
