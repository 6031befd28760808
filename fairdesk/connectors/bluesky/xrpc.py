"""Authenticated XRPC calls for one Bluesky account, its session kept in process memory.

A session comes from ``com.atproto.server.createSession`` (the account's identifier and
an app password, from the channel's encrypted credentials) and is renewed with
``com.atproto.server.refreshSession`` when the PDS answers that the access token
expired (400 ``ExpiredToken``; 401 from services behind the PDS). Tokens are kept in
memory per process, keyed by channel, never in the database: a new process simply logs
in again (createSession allows 30 per 5 minutes per account, so sessions are reused).

Every call goes to ``/xrpc/<nsid>`` on the configured service; chat calls carry the
``atproto-proxy`` header naming Bluesky's chat service. Rate limits come back as 429
with ``ratelimit-reset`` in Unix seconds (docs.bsky.app "Rate Limits").
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from fairdesk.connectors import http
from fairdesk.connectors.base import Account, PermanentSendError, PollError, SendError

CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
RATE_LIMIT_RESET = http.epoch_reset("ratelimit-reset")
EXPIRED_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})


class SessionError(Exception):
    """No usable session: missing credentials, an answer without tokens, or a session
    for another account than the channel's. ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Session:
    access_jwt: str
    refresh_jwt: str
    did: str


class _Refused(Exception):
    """A login or refresh the PDS refused; its answer is the call's answer."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


_sessions: dict[tuple[int, str, str], Session] = {}
_sessions_lock = threading.Lock()


def forget_sessions() -> None:
    """Drop every session this process holds (tests; a credentials change)."""
    with _sessions_lock:
        _sessions.clear()


class Xrpc:
    """Calls made as one channel's account: ``with Xrpc(account) as xrpc: ...``."""

    def __init__(self, account: Account) -> None:
        self.did: str = account.config.did
        self.identifier = str(account.credentials.get("identifier") or "")
        self.password = str(account.credentials.get("app_password") or "")
        self.key = (account.channel.pk, account.config.service_url, self.identifier)
        self.client = http.client(account.config.service_url)

    def __enter__(self) -> "Xrpc":
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    # -- calls mapped onto the connector errors -----------------------------------------
    def read_for_poll(
        self, nsid: str, params: dict[str, Any], *, proxy: str | None = None
    ) -> dict[str, Any]:
        """A query while polling: its JSON answer, else ``PollError``."""
        try:
            response = http.checked_read(
                lambda: self._call("GET", nsid, params=params, proxy=proxy)
            )
        except SessionError as exc:
            raise PollError(str(exc)) from exc
        return http.json_object(response)

    def call_for_send(
        self,
        method: str,
        nsid: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        proxy: str | None = None,
    ) -> dict[str, Any]:
        """A call while sending: its JSON answer, else the ``SendError`` family
        (429 → ``RateLimited`` at ``ratelimit-reset``)."""
        return _send_answer(lambda: self._call(method, nsid, params=params, body=body, proxy=proxy))

    def lookup_for_send(
        self, nsid: str, params: dict[str, Any], *, absent: str
    ) -> dict[str, Any] | None:
        """A query while sending where the documented error ``absent`` means "none"."""
        try:
            response = self._call("GET", nsid, params=params)
        except httpx.HTTPError as exc:
            raise SendError(f"{type(exc).__name__}: {exc}") from exc
        except SessionError as exc:
            raise _send_error(exc) from exc
        if response.status_code == 400 and error_name(response) == absent:
            return None
        return _send_answer(lambda: response)

    # -- one call with a session ----------------------------------------------------------
    def _call(
        self,
        method: str,
        nsid: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        proxy: str | None = None,
    ) -> httpx.Response:
        """The platform's answer to one call, logging in or renewing the session first
        where needed. A refused login is the answer (401 bad password, 429 …)."""
        try:
            session = self._session()
            response = self._request(method, nsid, session, params, body, proxy)
            if not _expired(response):
                return response
            session = self._renew(session)
            return self._request(method, nsid, session, params, body, proxy)
        except _Refused as refused:
            return refused.response

    def _request(
        self,
        method: str,
        nsid: str,
        session: Session,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        proxy: str | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {session.access_jwt}"}
        if proxy:
            headers["atproto-proxy"] = proxy
        return self.client.request(
            method, f"/xrpc/{nsid}", params=params, json=body, headers=headers
        )

    # -- sessions ---------------------------------------------------------------------
    def _session(self) -> Session:
        with _sessions_lock:
            session = _sessions.get(self.key)
        return session if session is not None else self._login()

    def _login(self) -> Session:
        if not self.identifier or not self.password:
            raise SessionError(
                "the channel has no Bluesky identifier and app password", permanent=True
            )
        response = self.client.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": self.identifier, "password": self.password},
        )
        return self._keep(response)

    def _renew(self, session: Session) -> Session:
        """Refresh the session; when the refresh token is no good either, log in again."""
        response = self.client.post(
            "/xrpc/com.atproto.server.refreshSession",
            headers={"Authorization": f"Bearer {session.refresh_jwt}"},
        )
        if response.is_success:
            return self._keep(response)
        self._forget()
        return self._login()

    def _keep(self, response: httpx.Response) -> Session:
        if not response.is_success:
            self._forget()
            raise _Refused(response)
        session = _parse_session(response)
        if session.did != self.did:
            self._forget()
            raise SessionError(
                f"the credentials log in as {session.did[:80]}, not the channel's {self.did}",
                permanent=True,
            )
        with _sessions_lock:
            _sessions[self.key] = session
        return session

    def _forget(self) -> None:
        with _sessions_lock:
            _sessions.pop(self.key, None)


def _send_answer(call: Callable[[], httpx.Response]) -> dict[str, Any]:
    """``call``'s answer as JSON, its failure as the ``SendError`` family."""
    try:
        return http.json_object(http.checked_send(call, reset=RATE_LIMIT_RESET))
    except SessionError as exc:
        raise _send_error(exc) from exc
    except PollError as exc:  # a 2xx answer that is not a JSON object
        raise SendError(str(exc)) from exc


def _send_error(exc: SessionError) -> SendError:
    return PermanentSendError(str(exc)) if exc.permanent else SendError(str(exc))


def _parse_session(response: httpx.Response) -> Session:
    try:
        data = response.json()
    except ValueError:
        data = None
    fields = ("accessJwt", "refreshJwt", "did")
    if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
        raise SessionError("the session answer has no tokens", permanent=False)
    return Session(access_jwt=data["accessJwt"], refresh_jwt=data["refreshJwt"], did=data["did"])


def error_name(response: httpx.Response) -> str:
    """The XRPC error name of a failed answer (``{"error": …, "message": …}``)."""
    try:
        data = response.json()
    except ValueError:
        return ""
    name = data.get("error") if isinstance(data, dict) else None
    return name if isinstance(name, str) else ""


def _expired(response: httpx.Response) -> bool:
    """The access token is no longer accepted: 400 ExpiredToken/InvalidToken from the
    PDS itself, 401 from a service the PDS proxies to."""
    if response.status_code == 401:
        return True
    return response.status_code == 400 and error_name(response) in EXPIRED_ERRORS
