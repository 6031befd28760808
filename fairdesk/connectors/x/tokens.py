"""X OAuth 2.0 user access tokens: refreshed before they expire, rotated refresh tokens kept.

X user-context access tokens live two hours (``expires_in`` 7200). With the
``offline.access`` scope the token answer also carries a refresh token, which is single
use: ``POST /2/oauth2/token`` with ``grant_type=refresh_token``, ``refresh_token`` and
``client_id`` (a confidential client authenticates with HTTP Basic ``client_id:
client_secret``) answers a new access token AND a new refresh token, and the old one is
spent (docs.x.com/resources/fundamentals/authentication/oauth-2-0/authorization-code).

So two processes must never spend the same refresh token: the loser's refresh would be
refused and the channel disconnected until an admin connects it again. A refresh runs
with the channel row locked (PostgreSQL) and reads the credentials again under the lock:
when another process refreshed meanwhile, its token is taken instead. On SQLite (one
process: the demo, a small install) the write lock of the transaction does the same for
the credentials row once written.
"""

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.db import transaction

from fairdesk.connectors import http, secrets
from fairdesk.connectors.base import Account, PermanentSendError, SendError
from fairdesk.connectors.models import Channel

TOKEN_PATH = "/2/oauth2/token"  # noqa: S105 (a URL path, not a secret)
# Refresh this long before the access token expires (a send or poll takes seconds).
MARGIN = timedelta(minutes=5)


class MissingToken(PermanentSendError):
    """The channel has no OAuth 2.0 user access token: nothing can be sent or read."""


class RefreshRefused(PermanentSendError):
    """X refused the refresh token (revoked, spent, wrong client): connect again."""


def access_token(account: Account) -> str:
    """The stored access token as it is (``MissingToken`` when there is none)."""
    token = str(account.credentials.get("access_token") or "").strip()
    if not token:
        raise MissingToken(
            f"X channel {account.channel.name!r} has no access_token: connect the account "
            "with OAuth 2.0 (scopes tweet.write, dm.write, tweet.read, dm.read, users.read, "
            "offline.access)"
        )
    return token


def can_refresh(account: Account) -> bool:
    credentials = account.credentials
    return bool(credentials.get("refresh_token") and credentials.get("client_id"))


def fresh_token(account: Account, *, now: datetime | None = None) -> str:
    """An access token good for the next few minutes: the stored one, or a new one when
    it expires within ``MARGIN`` and the channel can refresh."""
    token = access_token(account)
    if can_refresh(account) and _expiring(account.credentials, now or datetime.now(UTC)):
        return refresh(account, stale=token, now=now)
    return token


def refresh(account: Account, *, stale: str, now: datetime | None = None) -> str:
    """Exchange the refresh token for a new pair, unless another process already replaced
    ``stale``; store the pair encrypted and return the new access token."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=account.channel.pk)
        stored = secrets.credentials(channel)
        current = str(stored.get("access_token") or "")
        moment = now or datetime.now(UTC)
        if current and current != stale and not _expiring(stored, moment):
            account.credentials.update(stored)  # refreshed by another process meanwhile
            return current
        answer = _exchange(account, str(stored.get("refresh_token") or ""))
        renewed = {
            **stored,
            "access_token": answer["access_token"],
            "refresh_token": answer.get("refresh_token") or stored.get("refresh_token"),
            "access_token_expires_at": (
                moment + timedelta(seconds=int(answer.get("expires_in") or 7200))
            ).isoformat(),
        }
        secrets.set_credentials(channel, renewed)
    account.credentials.update(renewed)
    return str(renewed["access_token"])


def _exchange(account: Account, refresh_token: str) -> dict[str, Any]:
    credentials = account.credentials
    client_id = str(credentials.get("client_id") or "")
    if not refresh_token or not client_id:
        raise RefreshRefused("the X channel has no refresh token or client id: connect again")
    headers = {}
    client_secret = str(credentials.get("client_secret") or "")
    if client_secret:
        pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    with http.client(account.config.api_base, headers=headers) as client:
        try:
            response = client.post(TOKEN_PATH, data=form)
        except httpx.HTTPError as exc:
            # Tried again later. Had X taken it and the answer been lost, the refresh
            # token would be spent and the next try refused: the channel shows the error.
            raise SendError(f"X token refresh failed: {type(exc).__name__}") from exc
    if response.status_code in (400, 401):
        raise RefreshRefused(
            f"X refused the refresh token ({response.status_code}): connect the account again"
        )
    if response.status_code >= 300:
        raise SendError(f"X token refresh answered {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise SendError("X token refresh answered without JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise SendError("X token refresh answered without an access_token")
    return data


def _expiring(credentials: dict[str, Any], now: datetime) -> bool:
    raw = credentials.get("access_token_expires_at")
    if not isinstance(raw, str) or not raw:
        return False  # unknown: used until X answers 401
    try:
        expires = datetime.fromisoformat(raw)
    except ValueError:
        return True
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires - MARGIN <= now
