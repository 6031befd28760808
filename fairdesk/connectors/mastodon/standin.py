"""A Mastodon instance on loopback for tests (see ``fairdesk/connectors/standin.py``).

It implements what the connector calls, as documented on docs.joinmastodon.org:
``GET /api/v1/notifications`` (``types[]``, ``since_id``, ``max_id``, ``min_id``,
``limit`` up to 80, newest first, ``Link`` header like Mastodon's controller),
``GET``/``POST /api/v1/statuses`` (``Idempotency-Key``: the same key again answers the
same status), ``GET /api/v2/instance`` and the server-sent-events stream
``GET /api/v1/streaming/user/notification``. Every call but the instance's needs the
bearer token.

The stream is driven by the test: ``add_notification`` (streamed to the connected
readers, unless ``stream=False``), ``send_raw`` (a malformed event), ``disconnect`` and
``go_down``/``come_up`` (refuse streams with 502); ``heartbeat`` sends ``:thump``
comments. ``wait_until`` blocks until a condition on the recorded state holds.

Sign-in with Mastodon (methods/apps, methods/oauth, methods/accounts): ``POST
/api/v1/apps`` registers a client; ``GET /oauth/authorize`` approves at once as the
account ``signed_in`` names (a user added with ``add_user``; the login page while it is
None, ``access_denied`` while ``deny`` is set) and redirects with ``code`` and ``state``;
``POST /oauth/token`` trades a code once (client secret, redirect URI and the PKCE
``S256`` verifier checked; a code used twice also revokes its token, RFC 6749 4.1.2);
``GET /api/v1/accounts/verify_credentials`` answers the bearer's account; ``POST
/oauth/revoke`` ends a token.
"""

import html
import json
import queue
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge

from fairdesk.connectors.standin import Request, Response, StandIn

STREAM_PATH = "/api/v1/streaming/user/notification"
CLOSE = object()  # queued to a stream: end it; anything else queued is an event's data
WAIT_S = 10.0
SCOPES = frozenset(
    {"read", "write", "follow", "push", "profile", "read:accounts", "read:notifications"}
    | {"read:statuses", "write:statuses"}
)


@dataclass
class StreamSession:
    items: queue.Queue[Any] = field(default_factory=queue.Queue)
    backfilled: bool = False


class MastodonStandIn(StandIn):
    """``with MastodonStandIn(token=…, account=…) as instance:``; ``instance.url``."""

    def __init__(
        self,
        *,
        token: str,
        account: dict[str, Any],
        max_characters: int = 500,
        heartbeat: float | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.account = account
        self.max_characters = max_characters
        self.heartbeat = heartbeat  # seconds between ``:thump`` comments; None: none
        self.notifications: list[dict[str, Any]] = []
        self.statuses: dict[str, dict[str, Any]] = {}
        self.posted: list[dict[str, Any]] = []
        self.by_idempotency_key: dict[str, str] = {}
        self.sessions: list[StreamSession] = []
        self.connects = 0
        self.refused = 0
        self.down = False
        self.changed = threading.Condition(self.lock)
        self._next_status = 113_000_000_000_000_000
        self.apps: dict[str, dict[str, Any]] = {}  # client_id → the registered app
        self.users: dict[str, dict[str, Any]] = {}  # account id → account
        self.signed_in: str | None = None  # the account the browser is logged in as
        self.deny = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.user_tokens: dict[str, dict[str, Any]] = {}
        self.route("POST", r"/api/v1/apps", self.create_app)
        self.route("GET", r"/oauth/authorize", self.authorize)
        self.route("POST", r"/oauth/token", self.issue_token)
        self.route("POST", r"/oauth/revoke", self.revoke)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self.verify_credentials)
        self.route("GET", r"/api/v1/notifications", self.list_notifications)
        self.route("GET", r"/api/v1/statuses/(?P<id>[0-9]+)", self.get_status)
        self.route("POST", r"/api/v1/statuses", self.post_status)
        self.route("GET", r"/api/v2/instance", self.instance)
        self.route("GET", STREAM_PATH, self.open_stream)

    # -- what tests do ---------------------------------------------------------------
    def add_notification(self, notification: dict[str, Any], *, stream: bool = True) -> None:
        """A notification arrives; connected readers get it unless ``stream`` is False
        (as if it arrived while they were away)."""
        with self.changed:
            self.notifications.append(notification)
            status = notification.get("status")
            if isinstance(status, dict):
                self.statuses[str(status["id"])] = status
            live = list(self.sessions) if stream else []
        for session in live:
            session.items.put(json.dumps(notification))

    def send_raw(self, data: str) -> None:
        """Stream an event whose data is ``data`` verbatim (a malformed event)."""
        for session in self._live():
            session.items.put(data)

    def disconnect(self) -> None:
        for session in self._live():
            session.items.put(CLOSE)
        with self.changed:
            self.sessions.clear()

    def go_down(self) -> None:
        with self.changed:
            self.down = True
        self.disconnect()

    def come_up(self) -> None:
        with self.changed:
            self.down = False

    def wait_until(self, check: Callable[["MastodonStandIn"], bool]) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: check(self), WAIT_S):
                raise AssertionError("the Mastodon stand-in waited in vain")

    def streams_backfilled(self, count: int) -> bool:
        """True once ``count`` streams were opened and the latest one backfilled."""
        return self.connects >= count and bool(self.sessions) and self.sessions[-1].backfilled

    def add_user(self, account: dict[str, Any]) -> None:
        """An account of this instance that can sign in to apps (``signed_in``)."""
        with self.lock:
            self.users[str(account["id"])] = account

    def stop(self) -> None:
        self.disconnect()
        super().stop()

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        with self.changed:
            self.changed.notify_all()
        return response

    # -- routes ----------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def list_notifications(self, request: Request) -> Response:
        if not self._authorised(request):
            return _invalid_token()
        limit = min(int(request.arg("limit", "40")), 80)
        with self.changed:
            found = [n for n in self.notifications if _selected(n, request)]
            found.sort(key=lambda n: _id_key(n["id"]), reverse=True)
            page = found[-limit:] if request.arg("min_id") else found[:limit]
            for session in self.sessions:
                session.backfilled = True
            self.changed.notify_all()
        return Response(200, page, self._links(request, page))

    def _links(self, request: Request, page: list[dict[str, Any]]) -> dict[str, str]:
        """Like Mastodon: ``next`` has max_id = the oldest, ``prev`` min_id = the newest,
        both keep limit and types[] and drop since_id."""
        if not page:
            return {}
        kept = [(k, v) for k in ("limit", "types[]") for v in request.query.get(k, [])]
        url = f"{self.url}/api/v1/notifications?"
        older = urlencode([*kept, ("max_id", page[-1]["id"])])
        newer = urlencode([*kept, ("min_id", page[0]["id"])])
        return {"Link": f'<{url}{older}>; rel="next", <{url}{newer}>; rel="prev"'}

    def get_status(self, request: Request) -> Response:
        if not self._authorised(request):
            return _invalid_token()
        with self.lock:
            status = self.statuses.get(request.params["id"])
        return Response(200, status) if status else Response(404, {"error": "Record not found"})

    def post_status(self, request: Request) -> Response:
        if not self._authorised(request):
            return _invalid_token()
        params = _params(request)
        key = request.headers.get("idempotency-key", "")
        with self.lock:
            if key and key in self.by_idempotency_key:
                return Response(200, self.statuses[self.by_idempotency_key[key]])
            refused = self._refusal(params)
            if refused is not None:
                return refused
            status = self._new_status(params)
            if key:
                self.by_idempotency_key[key] = status["id"]
        return Response(200, status)

    def _refusal(self, params: dict[str, Any]) -> Response | None:
        text = str(params.get("status") or "")
        if not text.strip():
            return Response(422, {"error": "Validation failed: Text can't be blank"})
        if _countable(text) > self.max_characters:
            limit = f"Text character limit of {self.max_characters} exceeded"
            return Response(422, {"error": f"Validation failed: {limit}"})
        reply_to = params.get("in_reply_to_id")
        if reply_to and str(reply_to) not in self.statuses:
            return Response(404, {"error": "Record not found"})
        return None

    def _new_status(self, params: dict[str, Any]) -> dict[str, Any]:
        self._next_status += 1
        status_id = str(self._next_status)
        text = str(params["status"])
        status: dict[str, Any] = {
            "id": status_id,
            "created_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "in_reply_to_id": params.get("in_reply_to_id"),
            "visibility": params.get("visibility") or "public",
            "spoiler_text": "",
            "content": "<p>" + html.escape(text).replace("\n", "<br />") + "</p>",
            "text": text,
            "account": self.account,
            "mentions": [],
            "media_attachments": [],
        }
        self.statuses[status_id] = status
        self.posted.append(status)
        return status

    def instance(self, request: Request) -> Response:
        statuses = {"max_characters": self.max_characters, "characters_reserved_per_url": 23}
        return Response(200, {"domain": "127.0.0.1", "configuration": {"statuses": statuses}})

    def open_stream(self, request: Request) -> Response:
        if not self._authorised(request):
            return _invalid_token()
        with self.changed:
            if self.down:
                self.refused += 1
                self.changed.notify_all()
                return Response(502, {"error": "Bad gateway"})
        return Response(200, None, {"Content-Type": "text/event-stream"})

    # -- sign-in with Mastodon --------------------------------------------------------
    def create_app(self, request: Request) -> Response:
        params = _params(request)
        name = str(params.get("client_name") or "").strip()
        if not name:
            return Response(422, {"error": "Validation failed: Application name can't be blank"})
        given = params.get("redirect_uris")
        listed = given if isinstance(given, list) else str(given or "").split("\n")
        uris = [str(uri).strip() for uri in listed if str(uri).strip()]
        if not uris or not all(_absolute_uri(uri) for uri in uris):
            error = "Validation failed: Redirect URI must be an absolute URI."
            return Response(422, {"error": error})
        scopes = str(params.get("scopes") or "read").split()
        if not set(scopes) <= SCOPES:
            return Response(422, {"error": "Validation failed: Scopes are invalid"})
        app: dict[str, Any] = {
            "id": str(len(self.apps) + 1),
            "name": name,
            "website": params.get("website"),
            "scopes": scopes,
            "redirect_uri": "\n".join(uris),
            "redirect_uris": uris,
            "client_id": secrets.token_urlsafe(32),
            "client_secret": secrets.token_urlsafe(32),
            "client_secret_expires_at": 0,
        }
        with self.lock:
            self.apps[app["client_id"]] = app
        return Response(200, app)

    def authorize(self, request: Request) -> Response:
        with self.lock:
            app = self.apps.get(request.arg("client_id"))
            account_id, deny = self.signed_in, self.deny
        redirect_uri = request.arg("redirect_uri")
        if app is None or redirect_uri not in app["redirect_uris"]:
            # like Doorkeeper: an error page, never a redirect to an unregistered address
            return Response(400, {"error": "invalid_client"})
        state = request.arg("state")
        scopes = (request.arg("scope") or "read").split()
        if request.arg("response_type") != "code":
            return _redirect(redirect_uri, state, error="unsupported_response_type")
        if not set(scopes) <= set(app["scopes"]):
            return _redirect(redirect_uri, state, error="invalid_scope")
        challenge = request.arg("code_challenge")
        if challenge and request.arg("code_challenge_method") != "S256":
            return _redirect(redirect_uri, state, error="invalid_request")
        if account_id is None:
            page = b"<!doctype html><title>Log in</title><form>Log in to continue</form>"
            return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
        if deny:
            return _redirect(redirect_uri, state, error="access_denied")
        code = secrets.token_urlsafe(32)
        with self.lock:
            self.codes[code] = {
                "client_id": app["client_id"],
                "redirect_uri": redirect_uri,
                "scopes": scopes,
                "account_id": account_id,
                "code_challenge": challenge,
                "used": False,
            }
        return _redirect(redirect_uri, state, code=code)

    def issue_token(self, request: Request) -> Response:
        params = _params(request)
        with self.lock:
            app = self.apps.get(str(params.get("client_id") or ""))
            if app is None or app["client_secret"] != params.get("client_secret"):
                return Response(401, {"error": "invalid_client"})
            if params.get("grant_type") != "authorization_code":
                return Response(400, {"error": "unsupported_grant_type"})
            code = str(params.get("code") or "")
            grant = self.codes.get(code)
            if grant is not None and grant["used"]:  # a replayed code: revoke what it gave
                self.user_tokens = {k: v for k, v in self.user_tokens.items() if v["code"] != code}
            if grant is None or grant["used"] or not _grant_matches(grant, app, params):
                return Response(400, {"error": "invalid_grant"})
            grant["used"] = True
            token = secrets.token_urlsafe(32)
            self.user_tokens[token] = {**grant, "code": code}
        return Response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(grant["scopes"]),
                "created_at": int(datetime.now(UTC).timestamp()),
            },
        )

    def revoke(self, request: Request) -> Response:
        params = _params(request)
        with self.lock:
            app = self.apps.get(str(params.get("client_id") or ""))
            if app is None or app["client_secret"] != params.get("client_secret"):
                return Response(403, {"error": "unauthorized_client"})
            grant = self.user_tokens.get(str(params.get("token") or ""))
            if grant is not None and grant["client_id"] == app["client_id"]:
                del self.user_tokens[str(params["token"])]
        return Response(200, {})

    def verify_credentials(self, request: Request) -> Response:
        if self._authorised(request):
            return Response(200, self.account)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            grant = self.user_tokens.get(token)
            account = self.users.get(grant["account_id"]) if grant else None
        if grant is None or account is None:
            return _invalid_token()
        if not {"read", "read:accounts", "profile"} & set(grant["scopes"]):
            return Response(403, {"error": "This action is outside the authorized scopes"})
        return Response(200, {**account, "source": {"privacy": "public", "note": ""}})

    # -- the event stream ------------------------------------------------------------
    def _live(self) -> list[StreamSession]:
        with self.lock:
            return list(self.sessions)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base: Any = super()._handler_class()
        standin = self

        class _Handler(base):
            def _serve(self) -> None:
                if self.command == "GET" and urlsplit(self.path).path == STREAM_PATH:
                    standin._serve_stream(self)
                else:
                    super()._serve()

            do_GET = do_POST = _serve

        return _Handler

    def _serve_stream(self, handler: Any) -> None:
        parts = urlsplit(handler.path)
        request = Request(
            method="GET",
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=b"",
        )
        response = self.dispatch(request)
        if response.headers.get("Content-Type") != "text/event-stream":
            _write_whole(handler, response)
            return
        session = StreamSession()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        with self.changed:
            self.sessions.append(session)
            self.connects += 1
            self.changed.notify_all()
        self._pump(handler, session)

    def _pump(self, handler: Any, session: StreamSession) -> None:
        try:
            while True:
                try:
                    item = session.items.get(timeout=self.heartbeat or 0.5)
                except queue.Empty:
                    if self.heartbeat is not None:
                        _chunk(handler, ":thump\n")
                    continue
                if item is CLOSE:
                    break
                _chunk(handler, f"event: notification\ndata: {item}\n\n")
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the reader went away
        handler.close_connection = True


def _selected(notification: dict[str, Any], request: Request) -> bool:
    """Whether ``notification`` passes the request's ``types[]`` and id bounds."""
    types = request.query.get("types[]")
    if types and notification.get("type") not in types:
        return False
    key = _id_key(notification["id"])
    above = [_id_key(request.arg(name)) for name in ("since_id", "min_id") if request.arg(name)]
    below = [_id_key(request.arg("max_id"))] if request.arg("max_id") else []
    return all(key > bound for bound in above) and all(key < bound for bound in below)


def _absolute_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return uri == "urn:ietf:wg:oauth:2.0:oob" or bool(parts.scheme and parts.netloc)


def _redirect(redirect_uri: str, state: str, **params: str) -> Response:
    """Back to the app with ``params`` (and the state it sent), like Doorkeeper."""
    query = urlencode({**params, **({"state": state} if state else {})})
    separator = "&" if "?" in redirect_uri else "?"
    return Response(302, b"", {"Location": f"{redirect_uri}{separator}{query}"})


def _grant_matches(grant: dict[str, Any], app: dict[str, Any], params: dict[str, Any]) -> bool:
    """The code was issued to this client for this redirect URI, and the verifier
    hashes to the challenge it was issued with (RFC 7636 S256)."""
    if grant["client_id"] != app["client_id"] or grant["redirect_uri"] != params.get(
        "redirect_uri"
    ):
        return False
    if not grant["code_challenge"]:
        return True
    verifier = str(params.get("code_verifier") or "")
    return bool(verifier) and compare_s256_code_challenge(verifier, grant["code_challenge"])


def _countable(text: str) -> int:
    """Mastodon's count: a URL is 23 characters, a remote mention only its local part."""
    text = re.sub(r"https?://\S+", "x" * 23, text)
    return len(re.sub(r"(@\w+)@[\w.-]+\w", r"\1", text))


def _id_key(value: str) -> tuple[int, str]:
    return len(value), value


def _params(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        data = request.json()
        return data if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def _invalid_token() -> Response:
    return Response(401, {"error": "The access token is invalid"})


def _chunk(handler: Any, text: str) -> None:
    data = text.encode()
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    handler.wfile.flush()


def _write_whole(handler: Any, response: Response) -> None:
    payload = response.encoded()
    handler.send_response(response.status)
    for name, value in {"Content-Type": "application/json", **response.headers}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
