"""X on loopback: the v2 endpoints the X connector calls, kept in memory.

Accounts (``add_account``) are users with an OAuth 2.0 access token; a request with any
other bearer token is answered 401 like X does. Posts get increasing snowflake-like ids;
the user tweet timeline and the mention timeline return what was posted or seeded
(``add_mention``, ``add_tweet``), newest first, with ``since_id``, ``max_results`` and
``pagination_token`` paging and only the requested ``tweet.fields``; a tweet's media
(``add_tweet(media=…)``) come as ``attachments.media_keys`` and, with the
``attachments.media_keys`` expansion, in ``includes.media`` with the requested
``media.fields`` (``media_key`` and ``type`` always). Text is returned
HTML-escaped (``&amp;``, ``&lt;``, ``&gt;``) as X returns it. Tests and ``fairdesk demo``
seed customers' mentions here and read what the brand posted.

Sign-in with X (OAuth 2.0 Authorization Code Flow with PKCE, docs.x.com
fundamentals/authentication/oauth-2-0): ``add_oauth_client`` registers an app's client
id, its callback URLs and, for a confidential client, its secret. ``GET
/i/oauth2/authorize`` approves at once as the user ``signed_in`` names (the login page
while it is None, ``access_denied`` while ``deny`` is set) and redirects to the callback
with ``code`` and ``state``; an unknown client or callback gets an error page, never a
redirect. ``POST /2/oauth2/token`` with ``grant_type=authorization_code`` trades a code
once (client: HTTP Basic for a confidential client, ``client_id`` for a public one;
redirect URI and PKCE verifier checked; a code used twice also revokes its token);
``GET /2/users/me`` answers the bearer's user (scopes ``users.read`` and ``tweet.read``);
``POST /2/oauth2/revoke`` ends a token.
"""

import base64
import html
import itertools
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge

from fairdesk.connectors.standin import Request, Response, StandIn

FIRST_ID = 1_860_000_000_000_000_000
ID_STEP = 4096  # the low bits of a snowflake: ids grow and leave gaps like X's
EPOCH = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ALWAYS_FIELDS = ("id", "text", "edit_history_tweet_ids")
TIMELINE_LIMITS = (5, 100)
DM_LIMITS = (1, 100)
SCOPES = frozenset(
    {
        "tweet.read",
        "tweet.write",
        "users.read",
        "dm.read",
        "dm.write",
        "follows.read",
        "offline.access",
    }
)
ME_SCOPES = frozenset({"users.read", "tweet.read"})


def problem(status: int, title: str, detail: str) -> Response:
    """An error in X's RFC 7807 problem shape."""
    body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    return Response(status, body)


@dataclass
class User:
    id: str
    username: str
    name: str
    followers: int = 0


@dataclass
class Media:
    """A photo (``url``), video or animated GIF (``variants``: ``bit_rate``,
    ``content_type``, ``url``) as the v2 media object describes it."""

    media_key: str
    type: str = "photo"
    url: str = ""
    preview_image_url: str = ""
    variants: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self, fields: set[str]) -> dict[str, Any]:
        full: dict[str, Any] = {
            "url": self.url,
            "preview_image_url": self.preview_image_url,
            "variants": self.variants,
        }
        chosen = {k: v for k, v in full.items() if k in fields and v}
        return {"media_key": self.media_key, "type": self.type, **chosen}


@dataclass
class Tweet:
    id: str
    author_id: str
    text: str
    created_at: datetime
    in_reply_to: str | None = None
    in_reply_to_user_id: str | None = None
    conversation_id: str = ""
    media: list[Media] = field(default_factory=list)

    def as_json(self, fields: set[str]) -> dict[str, Any]:
        full: dict[str, Any] = {
            "id": self.id,
            "text": html.escape(self.text, quote=False),
            "edit_history_tweet_ids": [self.id],
            "author_id": self.author_id,
            "created_at": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "conversation_id": self.conversation_id or self.id,
        }
        if self.in_reply_to is not None:
            full["referenced_tweets"] = [{"type": "replied_to", "id": self.in_reply_to}]
        if self.in_reply_to_user_id is not None:
            full["in_reply_to_user_id"] = self.in_reply_to_user_id
        if self.media:
            full["attachments"] = {"media_keys": [m.media_key for m in self.media]}
        return {k: v for k, v in full.items() if k in fields or k in ALWAYS_FIELDS}


@dataclass
class DmEvent:
    id: str
    sender_id: str
    participant_ids: tuple[str, str]
    text: str
    created_at: datetime

    @property
    def conversation_id(self) -> str:
        return "-".join(sorted(self.participant_ids, key=int))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_type": "MessageCreate",
            "text": self.text,
            "sender_id": self.sender_id,
            "dm_conversation_id": self.conversation_id,
            "created_at": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


@dataclass
class Page:
    items: list[Any]
    meta: dict[str, Any] = field(default_factory=dict)


class XStandIn(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}  # access token → user id
        # OAuth 2.0: refresh token → (user id, client id); client id → secret (confidential)
        self.refresh_tokens: dict[str, tuple[str, str]] = {}
        self.clients: dict[str, str] = {}
        # Sign-in: client id → callback URLs; code → grant; access token → its grant
        self.callbacks: dict[str, set[str]] = {}
        self.signed_in: str | None = None  # the user the browser is logged in to X as
        self.deny = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.grants: dict[str, dict[str, Any]] = {}
        self.tweets: list[Tweet] = []
        self.dm_events: list[DmEvent] = []
        self._ids = itertools.count(FIRST_ID, ID_STEP)
        self.route("POST", r"/2/tweets", self.create_tweet)
        self.route("POST", r"/2/oauth2/token", self.oauth_token)
        self.route("POST", r"/2/oauth2/revoke", self.oauth_revoke)
        self.route("GET", r"/i/oauth2/authorize", self.authorize)
        self.route("GET", r"/2/users/me", self.users_me)
        self.route("POST", r"/2/dm_conversations/with/(?P<participant>\d+)/messages", self.send_dm)
        self.route("GET", r"/2/users/(?P<user>\d+)/tweets", self.user_tweets)
        self.route("GET", r"/2/users/(?P<user>\d+)/mentions", self.user_mentions)
        self.route(
            "GET", r"/2/dm_conversations/with/(?P<participant>\d+)/dm_events", self.conversation
        )

    # -- seeding ------------------------------------------------------------------------
    def add_user(self, *, user_id: str, username: str, name: str = "", followers: int = 0) -> User:
        user = User(id=user_id, username=username, name=name or username, followers=followers)
        with self.lock:
            self.users[user_id] = user
        return user

    def add_account(self, *, user_id: str, username: str, token: str, name: str = "") -> User:
        """A brand account whose OAuth 2.0 user access token is ``token``."""
        user = self.add_user(user_id=user_id, username=username, name=name)
        with self.lock:
            self.tokens[token] = user_id
        return user

    def add_refresh_token(
        self, *, user_id: str, refresh_token: str, client_id: str, client_secret: str = ""
    ) -> None:
        """A single-use refresh token of ``user_id``'s grant to ``client_id``."""
        with self.lock:
            self.refresh_tokens[refresh_token] = (user_id, client_id)
            if client_secret:
                self.clients[client_id] = client_secret

    def add_oauth_client(self, *, client_id: str, callback: str, client_secret: str = "") -> None:
        """An app's OAuth 2.0 client with one callback URL (confidential with a secret)."""
        with self.lock:
            self.callbacks.setdefault(client_id, set()).add(callback)
            if client_secret:
                self.clients[client_id] = client_secret

    def revoke_access_token(self, token: str) -> None:
        """The access token expires (or is revoked): X answers 401 to it from now on."""
        with self.lock:
            self.tokens.pop(token, None)

    def add_tweet(
        self,
        *,
        author_id: str,
        text: str,
        in_reply_to: str | None = None,
        tweet_id: str | None = None,
        created_at: datetime | None = None,
        media: list[Media] | None = None,
    ) -> Tweet:
        """A tweet as if posted on X; ``tweet_id`` and ``created_at`` replay a known one."""
        with self.lock:
            tweet = self._post(
                author_id=author_id,
                text=text,
                in_reply_to=in_reply_to,
                tweet_id=tweet_id,
                created_at=created_at,
            )
            tweet.media = list(media or [])
            return tweet

    def add_mention(
        self,
        *,
        of: str,
        author_id: str,
        text: str,
        in_reply_to: str | None = None,
        tweet_id: str | None = None,
        created_at: datetime | None = None,
        media: list[Media] | None = None,
    ) -> Tweet:
        """A tweet by ``author_id`` mentioning account ``of`` (``@username`` is put in
        front of ``text`` unless it is already there)."""
        handle = "@" + self.users[of].username
        if handle.lower() not in text.lower():
            text = f"{handle} {text}"
        return self.add_tweet(
            author_id=author_id,
            text=text,
            in_reply_to=in_reply_to,
            tweet_id=tweet_id,
            created_at=created_at,
            media=media,
        )

    def posted_by(self, user_id: str) -> list[Tweet]:
        with self.lock:
            return [t for t in self.tweets if t.author_id == user_id]

    def dms_from(self, user_id: str) -> list[DmEvent]:
        with self.lock:
            return [e for e in self.dm_events if e.sender_id == user_id]

    # -- endpoints ----------------------------------------------------------------------
    def create_tweet(self, request: Request) -> Response:
        me, body = self._caller(request), _json_body(request)
        if me is None:
            return _unauthorized()
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return problem(400, "Invalid Request", "The `text` field is required.")
        reply = body.get("reply") or {}
        target = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if target is not None and not str(target).isdigit():
            return problem(400, "Invalid Request", "`in_reply_to_tweet_id` is not a tweet id.")
        with self.lock:
            tweet = self._post(author_id=me, text=text, in_reply_to=target)
        return Response(201, {"data": {"id": tweet.id, "text": tweet.as_json(set())["text"]}})

    def send_dm(self, request: Request) -> Response:
        me, body = self._caller(request), _json_body(request)
        if me is None:
            return _unauthorized()
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return problem(400, "Invalid Request", "The `text` field is required.")
        participant = request.params["participant"]
        with self.lock:
            event = DmEvent(
                id=self._next_id(),
                sender_id=me,
                participant_ids=(me, participant),
                text=text,
                created_at=self._now(),
            )
            self.dm_events.append(event)
        data = {"dm_conversation_id": event.conversation_id, "dm_event_id": event.id}
        return Response(201, {"data": data})

    def user_tweets(self, request: Request) -> Response:
        user_id = request.params["user"]
        return self._timeline(request, lambda t: t.author_id == user_id)

    def user_mentions(self, request: Request) -> Response:
        user = self.users.get(request.params["user"])
        if user is None:
            return problem(404, "Not Found Error", "Could not find user.")
        handle = re.compile(rf"@{re.escape(user.username)}\b", re.IGNORECASE)
        return self._timeline(request, lambda t: handle.search(t.text) is not None)

    def conversation(self, request: Request) -> Response:
        me = self._caller(request)
        if me is None:
            return _unauthorized()
        limits = _page_size(request, DM_LIMITS)
        if isinstance(limits, Response):
            return limits
        pair = {me, request.params["participant"]}
        with self.lock:
            events = [e for e in reversed(self.dm_events) if set(e.participant_ids) == pair]
        page = _paginate(events, limits, request.arg("pagination_token"))
        body: dict[str, Any] = {"meta": page.meta}
        if page.items:
            body["data"] = [e.as_json() for e in page.items]
        return Response(200, body)

    def oauth_token(self, request: Request) -> Response:
        """``POST /2/oauth2/token`` with ``grant_type=refresh_token``: a new access token
        and a new refresh token; the one used is spent."""
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        refused = Response(
            400,
            {
                "error": "invalid_request",
                "error_description": "Value passed for the token was invalid.",
            },
        )
        if form.get("grant_type") == "authorization_code":
            return self._trade_code(request, form)
        if form.get("grant_type") != "refresh_token":
            return refused
        client_id = form.get("client_id", "")
        with self.lock:
            secret = self.clients.get(client_id)
            if secret is not None and not _basic_matches(request, client_id, secret):
                return Response(401, {"error": "unauthorized_client"})
            grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant is None or grant[1] != client_id:
                return refused
            serial = next(self._ids)
            access, renewed = f"at-{serial}", f"rt-{serial}"
            self.tokens[access] = grant[0]
            self.refresh_tokens[renewed] = grant
        return Response(
            200,
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access,
                "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access",
                "refresh_token": renewed,
            },
        )

    def authorize(self, request: Request) -> Response:
        """The consent screen, approved (or denied) at once for ``signed_in``."""
        client_id, callback = request.arg("client_id"), request.arg("redirect_uri")
        with self.lock:
            known = callback in self.callbacks.get(client_id, set())
            user_id, deny = self.signed_in, self.deny
        if not known:  # X shows an error page: never a redirect to an unregistered URL
            page = b"<!doctype html><title>X</title><p>Something went wrong.</p>"
            return Response(400, page, {"Content-Type": "text/html; charset=utf-8"})
        state, scopes = request.arg("state"), request.arg("scope").split()
        method, challenge = request.arg("code_challenge_method"), request.arg("code_challenge")
        if request.arg("response_type") != "code":
            return _redirect(callback, state, error="unsupported_response_type")
        if not state or not challenge or method not in ("S256", "plain"):
            return _redirect(callback, state, error="invalid_request")
        if not scopes or not set(scopes) <= SCOPES:
            return _redirect(callback, state, error="invalid_scope")
        if user_id is None:
            page = b"<!doctype html><title>Log in to X</title><form>Sign in to X</form>"
            return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
        if deny:
            return _redirect(callback, state, error="access_denied")
        code = secrets.token_urlsafe(32)
        with self.lock:
            self.codes[code] = {
                "client_id": client_id,
                "redirect_uri": callback,
                "scopes": scopes,
                "user_id": user_id,
                "challenge": (method, challenge),
                "used": False,
            }
        return _redirect(callback, state, code=code)

    def users_me(self, request: Request) -> Response:
        me = self._caller(request)
        if me is None:
            return _unauthorized()
        token = request.headers.get("authorization", "").partition(" ")[2]
        with self.lock:
            grant = self.grants.get(token)
            user = self.users.get(me)
        if grant is not None and not set(grant["scopes"]) >= ME_SCOPES:
            return problem(403, "Forbidden", "Missing scopes: users.read tweet.read")
        if user is None:
            return problem(404, "Not Found Error", "Could not find user.")
        return Response(
            200, {"data": {"id": user.id, "name": user.name, "username": user.username}}
        )

    def oauth_revoke(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        with self.lock:
            client_id = self._client(request, form)
            if client_id is None:
                return Response(401, {"error": "unauthorized_client"})
            token = form.get("token", "")
            grant = self.grants.get(token)
            if grant is not None and grant["client_id"] == client_id:
                del self.grants[token]
                self.tokens.pop(token, None)
        return Response(200, {"revoked": True})

    def _trade_code(self, request: Request, form: dict[str, str]) -> Response:
        invalid = Response(
            400,
            {
                "error": "invalid_request",
                "error_description": "Value passed for the authorization code was invalid.",
            },
        )
        with self.lock:
            client_id = self._client(request, form)
            if client_id is None:
                return Response(401, {"error": "unauthorized_client"})
            code = form.get("code", "")
            grant = self.codes.get(code)
            if grant is not None and grant["used"]:  # replayed: revoke what it gave
                for token in [t for t, g in self.grants.items() if g["code"] == code]:
                    del self.grants[token]
                    self.tokens.pop(token, None)
            if grant is None or grant["used"] or not _grant_matches(grant, client_id, form):
                return invalid
            grant["used"] = True
            access = f"at-{next(self._ids)}-{secrets.token_urlsafe(16)}"
            self.tokens[access] = grant["user_id"]
            self.grants[access] = {**grant, "code": code}
        return Response(
            200,
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access,
                "scope": " ".join(grant["scopes"]),
            },
        )

    def _client(self, request: Request, form: dict[str, str]) -> str | None:
        """The authenticated client: HTTP Basic for a confidential client, the
        ``client_id`` field for a public one; None when neither holds (lock held)."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme == "Basic":
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                return None
            known = self.clients.get(client_id)
            return (
                client_id if known is not None and secrets.compare_digest(known, secret) else None
            )
        client_id = form.get("client_id", "")
        public = client_id in self.callbacks and client_id not in self.clients
        return client_id if public else None

    # -- internals ----------------------------------------------------------------------
    def _caller(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self.lock:
            return self.tokens.get(token) if scheme == "Bearer" else None

    def _next_id(self) -> str:
        return str(next(self._ids))

    def _now(self) -> datetime:
        return EPOCH + timedelta(minutes=len(self.tweets) + len(self.dm_events))

    def _post(
        self,
        *,
        author_id: str,
        text: str,
        in_reply_to: str | None,
        tweet_id: str | None = None,
        created_at: datetime | None = None,
    ) -> Tweet:
        parent = next((t for t in self.tweets if t.id == in_reply_to), None)
        tweet = Tweet(
            id=tweet_id or self._next_id(),
            author_id=author_id,
            text=text,
            created_at=created_at or self._now(),
            in_reply_to=in_reply_to,
            in_reply_to_user_id=parent.author_id if parent is not None else None,
            conversation_id=(parent.conversation_id or parent.id) if parent is not None else "",
        )
        self.tweets.append(tweet)
        return tweet

    def _newest_first(self) -> list[Tweet]:
        return sorted(self.tweets, key=lambda t: int(t.id), reverse=True)

    def _timeline(self, request: Request, wanted: Callable[[Tweet], bool]) -> Response:
        if self._caller(request) is None:
            return _unauthorized()
        limits = _page_size(request, TIMELINE_LIMITS)
        if isinstance(limits, Response):
            return limits
        since = int(request.arg("since_id") or 0)
        with self.lock:
            found = [t for t in self._newest_first() if wanted(t) and int(t.id) > since]
        page = _paginate(found, limits, request.arg("pagination_token"))
        fields = set(request.arg("tweet.fields").split(","))
        body: dict[str, Any] = {"meta": page.meta}
        if page.items:
            body["data"] = [t.as_json(fields) for t in page.items]
            page.meta.update(newest_id=page.items[0].id, oldest_id=page.items[-1].id)
            body["includes"] = self._includes(request, page.items)
        return Response(200, body)

    def _includes(self, request: Request, tweets: list[Tweet]) -> dict[str, Any]:
        expansions = request.arg("expansions").split(",")
        includes: dict[str, Any] = {}
        if "attachments.media_keys" in expansions:
            fields = set(request.arg("media.fields").split(","))
            media = [m.as_json(fields) for t in tweets for m in t.media]
            if media:
                includes["media"] = media
        if "author_id" in expansions:
            includes["users"] = self._users(request, tweets)
        return includes

    def _users(self, request: Request, tweets: list[Tweet]) -> list[dict[str, Any]]:
        metrics = "public_metrics" in request.arg("user.fields").split(",")
        users = []
        for author_id in dict.fromkeys(t.author_id for t in tweets):
            user = self.users.get(author_id)
            if user is None:
                continue
            entry: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
            if metrics:
                entry["public_metrics"] = {"followers_count": user.followers}
            users.append(entry)
        return users


def _json_body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        return None


def _basic_matches(request: Request, client_id: str, secret: str) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return False
    try:
        pair = base64.b64decode(encoded).decode()
    except ValueError:
        return False
    return pair == f"{client_id}:{secret}"


def _redirect(callback: str, state: str, **params: str) -> Response:
    """Back to the app's callback with ``params`` and the state it sent."""
    query = urlencode({**params, **({"state": state} if state else {})})
    separator = "&" if "?" in callback else "?"
    return Response(302, b"", {"Location": f"{callback}{separator}{query}"})


def _grant_matches(grant: dict[str, Any], client_id: str, form: dict[str, str]) -> bool:
    """The code was issued to this client for this callback, and the verifier matches
    the challenge it was issued with (RFC 7636: S256 or plain)."""
    if grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri"):
        return False
    method, challenge = grant["challenge"]
    verifier = form.get("code_verifier", "")
    if not verifier:
        return False
    if method == "plain":
        return secrets.compare_digest(verifier, challenge)
    return bool(compare_s256_code_challenge(verifier, challenge))


def _unauthorized() -> Response:
    return problem(401, "Unauthorized", "Unauthorized")


def _page_size(request: Request, limits: tuple[int, int]) -> int | Response:
    raw = request.arg("max_results", "10")
    low, high = limits
    if not raw.isdigit() or not low <= int(raw) <= high:
        return problem(400, "Invalid Request", f"max_results must be between {low} and {high}")
    return int(raw)


def _paginate(items: list[Any], size: int, token: str) -> Page:
    """Newest-first ``items`` after the page ``token`` names. A token is the id of the
    first item of its page, so pages stay put when newer items arrive."""
    start = 0
    if token:
        start = next((n for n, item in enumerate(items) if item.id == token), len(items))
    chunk = items[start : start + size]
    meta: dict[str, Any] = {"result_count": len(chunk)}
    if start + size < len(items):
        meta["next_token"] = items[start + size].id
    return Page(items=chunk, meta=meta)
