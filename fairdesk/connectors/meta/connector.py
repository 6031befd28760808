"""Replies on Facebook Pages, Messenger and Instagram through the Meta Graph API.

Built against Meta's documentation (developers.facebook.com/docs), in this order of choice:

- Public reply to a Page comment or visitor post: ``POST /{version}/{object-id}/comments``
  with ``message``; answers ``{"id": "{post}_{comment}"}``, the id the Page ``feed``
  webhook gives the same comment as ``comment_id`` (graph-api/reference/object/comments).
- Public reply to an Instagram comment: ``POST /{version}/{ig-comment-id}/replies`` with
  ``message``; answers ``{"id"}`` (instagram-platform/comment-moderation).
- Messenger and Instagram direct messages: the Send API, ``POST /{version}/{page-id}/
  messages`` with ``{"recipient": {"id": PSID | IGSID}, "messaging_type": "RESPONSE",
  "message": {"text"}}``; answers ``{"recipient_id", "message_id"}``, the ``mid`` of the
  echo webhook (messenger-platform/send-messages).
- Private replies to a public comment or visitor post: the same endpoint with
  ``recipient: {"comment_id"}`` (or ``{"post_id"}``): one message per comment, within 7
  days (messenger-platform/discovery/private-replies).
- Reconciliation after a crash (``find_sent``): ``GET /{comment-id}/comments`` and
  ``GET /{ig-comment-id}/replies`` filtered by the Page's / Instagram account's own id
  and the same text; DMs through the Conversations API, ``GET /{page-id}/conversations?
  platform=…&user_id=…&fields=messages{…}`` (messenger-platform/conversations); a
  Facebook private reply through the comment's ``private_reply_conversation`` field.
- Errors are ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id",
  "is_transient"}}`` (graph-api/guides/error-handling, messenger-platform/error-codes).
  Throttling is an error code, rarely HTTP 429: 4 (app), 17 (user), 32 (Page), 613
  (custom) and the Business Use Case codes 80001…; the usage headers ``X-Business-Use-
  Case-Usage`` (``{"<id>": [{"type", "call_count", "total_cputime", "total_time",
  "estimated_time_to_regain_access"}]}``, minutes), ``X-App-Usage`` and ``X-Page-Usage``
  tell how long (graph-api/overview/rate-limiting).

The Page access token is sent as ``Authorization: Bearer`` (never in a URL), with
``appsecret_proof`` (HMAC-SHA256 of the token keyed with the app secret) when the channel
has an app secret, as Meta recommends. External ids take the webhook parser's form
(``adapter.py``): comment and message ids as Meta gives them, Instagram DM ids prefixed
``dm-``, so the echo of a reply de-duplicates against the reply itself. A Facebook private
reply is stored on "facebook" but echoed on "messenger": the pipeline folds that echo onto
it and links the echo's recipient (the PSID) to the customer (``inbound/echoes.py``).
"""

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fairdesk.connectors import http
from fairdesk.connectors.base import (
    Account,
    Connector,
    OutboundRequest,
    PermanentSendError,
    RateLimit,
    RateLimited,
    SendError,
)
from fairdesk.connectors.config import MetaConfig

META_CHANNELS = ("facebook", "instagram", "messenger")
DM_PREFIX = "dm-"  # Instagram DMs share the "instagram" channel with comments (adapter.py)
GRAPH_ID = re.compile(r"^[0-9]{1,40}(_[0-9]{1,40})?$")
TOKEN = re.compile(r"^[\x21-\x7e]{1,1000}$")
THROTTLE_CODES = frozenset({4, 17, 32, 613})
BUC_THROTTLE_CODES = range(80000, 80100)
TRANSIENT_CODES = frozenset({1, 2})
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-page-usage")
# Throttled without an estimate: Meta's windows roll over an hour (app) or a day (Page),
# and calls made while throttled count too, so waiting a while beats retrying each minute.
THROTTLE_WAIT = timedelta(minutes=15)
MAX_THROTTLE_WAIT = timedelta(hours=24)  # no Meta window is longer; caps a bogus header
READ_LIMIT = 100
EXPLANATIONS = {
    2018278: "the customer's 24-hour messaging window has closed",
    1545041: "the person is not available (blocked the Page or turned off messages)",
}


class MissingToken(PermanentSendError):
    """The channel has no usable Page access token: nothing can be sent or read."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where one reply goes: a comment (``comment``), an Instagram comment reply
    (``ig_reply``), a direct message (``message``) or a private reply to a public comment
    or post (``private_reply``)."""

    kind: str
    object_id: str
    recipient: dict[str, str]
    instagram: bool


def route(config: MetaConfig, request: OutboundRequest) -> Route:
    """Choose the endpoint from the message channel, the visibility and what is answered.

    Raises ``PermanentSendError`` for a reply Meta cannot take (a public Messenger reply,
    a public reply to a DM, nothing to answer, an id that is not a Graph id).
    """
    channel = request.channel or "facebook"
    if channel not in META_CHANNELS:
        raise PermanentSendError(f"{channel[:40]!r} is not a Meta message channel")
    instagram = channel == "instagram"
    if instagram and not config.instagram_account_id:
        raise PermanentSendError("this Page channel has no Instagram account configured")
    answered = request.in_reply_to
    if request.visibility == "public":
        if channel == "messenger":
            raise PermanentSendError("Messenger conversations are private: no public reply")
        if not answered or answered.startswith(DM_PREFIX):
            raise PermanentSendError(f"a public reply on {channel} must answer a comment or post")
        kind = "ig_reply" if instagram else "comment"
        return Route(kind, graph_id(answered), {}, instagram)
    if channel == "messenger" or answered.startswith(DM_PREFIX):
        if request.recipient is None:
            raise PermanentSendError("a direct message needs the customer's id on the channel")
        return Route("message", "", {"id": graph_id(request.recipient.external_id)}, instagram)
    if not answered:
        raise PermanentSendError("a private reply needs the comment or post it answers")
    is_post = not instagram and answered.startswith(f"{config.page_id}_")
    key = "post_id" if is_post else "comment_id"
    return Route("private_reply", graph_id(answered), {key: graph_id(answered)}, instagram)


def graph_id(value: str) -> str:
    """A Graph object id (digits, ``{post}_{comment}``) safe to put in a path; ids come
    from webhooks, so anything else (``../``, ``?``) is refused."""
    if not GRAPH_ID.match(value or ""):
        raise PermanentSendError(f"{(value or '')[:60]!r} is not a Graph object id")
    return value


def page_token(account: Account) -> str:
    token = str(account.credentials.get("page_access_token") or "").strip()
    if not token:
        raise MissingToken(
            f"Meta channel {account.channel.name!r} has no page_access_token: connect the "
            "Page with a Page access token (pages_manage_engagement, pages_messaging, "
            "instagram_manage_comments, instagram_manage_messages)"
        )
    if not TOKEN.match(token):
        raise MissingToken(f"Meta channel {account.channel.name!r} has a malformed token")
    return token


class Graph:
    """One Page's session with the Graph API: its token, proof and version."""

    def __init__(self, account: Account) -> None:
        token = page_token(account)
        self.config: MetaConfig = account.config
        self.params: dict[str, str] = {}
        app_secret = str(account.credentials.get("app_secret") or "")
        if app_secret:
            proof = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            self.params["appsecret_proof"] = proof
        self.client = http.client(
            self.config.api_base, headers={"Authorization": f"Bearer {token}"}
        )

    def __enter__(self) -> "Graph":
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def path(self, *parts: str) -> str:
        return "/" + "/".join((self.config.graph_version, *parts))

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = checked_send(lambda: self.client.post(path, params=self.params, json=body))
        try:
            answer = response.json()
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        query = {**params, **self.params}
        return http.json_object(http.checked_read(lambda: self.client.get(path, params=query)))


class MetaConnector(Connector):
    """Facebook Page comments, Messenger, Instagram comments and DMs for one Page."""

    kind = "facebook"
    config_model = MetaConfig
    # Meta's budgets are usage-based (Pages: 4800 calls per engaged user per 24 h,
    # Messenger: 200 per engaged user per 24 h, Instagram: 4800 per impression) and every
    # reply answers an engaged user, so replies alone stay far below them. Our own budget
    # only stops a burst: 200 sends an hour per Page, the classic Graph figure of 200
    # calls per person per hour, more than a support team answers from one Page and low
    # enough not to look like a comment flood.
    rate_limit = RateLimit(posts=200, window=timedelta(hours=1))

    def send(self, account: Account, request: OutboundRequest) -> str:
        target = route(account.config, request)
        with Graph(account) as graph:
            if target.kind in ("comment", "ig_reply"):
                edge = "replies" if target.kind == "ig_reply" else "comments"
                path = graph.path(target.object_id, edge)
                return created_id(graph.post(path, {"message": request.text}), "id")
            body = {
                "recipient": target.recipient,
                "messaging_type": "RESPONSE",
                "message": {"text": request.text},
            }
            answer = graph.post(graph.path(graph.config.page_id, "messages"), body)
        message_id = created_id(answer, "message_id")
        return DM_PREFIX + message_id if target.instagram else message_id

    def find_sent(self, account: Account, request: OutboundRequest) -> str | None:
        """Our own reply to the same comment / person with the same text, if an earlier
        attempt posted it. A private reply to a visitor post has no documented lookup,
        but Meta takes only one per post, so a repeat is refused rather than posted."""
        target = route(account.config, request)
        with Graph(account) as graph:
            if target.kind == "comment":
                return own_comment(graph, target.object_id, request.text)
            if target.kind == "ig_reply":
                return own_ig_reply(graph, target.object_id, request.text)
            if target.kind == "private_reply" and not target.instagram:
                if "comment_id" not in target.recipient:
                    return None
                return own_private_reply(graph, target.object_id, request.text)
            user = request.recipient.external_id if request.recipient else ""
            if not user:
                return None
            return own_dm(graph, graph_id(user), request.text, instagram=target.instagram)


CONNECTOR = MetaConnector()


# -- reconciliation -----------------------------------------------------------------


def own_comment(graph: Graph, object_id: str, text: str) -> str | None:
    params = {
        "fields": "id,from,message",
        "filter": "stream",
        "order": "reverse_chronological",
        "limit": READ_LIMIT,
    }
    for comment in items(graph.get(graph.path(object_id, "comments"), params)):
        if author_id(comment) == graph.config.page_id and same_text(comment, "message", text):
            return str(comment.get("id") or "") or None
    return None


def own_ig_reply(graph: Graph, comment_id: str, text: str) -> str | None:
    params = {"fields": "id,from,text,username", "limit": READ_LIMIT}
    own_username = graph.config.instagram_username.lstrip("@")
    for reply in items(graph.get(graph.path(comment_id, "replies"), params)):
        mine = author_id(reply) == graph.config.instagram_account_id or (
            bool(own_username) and reply.get("username") == own_username
        )
        if mine and same_text(reply, "text", text):
            return str(reply.get("id") or "") or None
    return None


def own_private_reply(graph: Graph, comment_id: str, text: str) -> str | None:
    params = {"fields": "private_reply_conversation{messages{id,message,from,created_time}}"}
    node = graph.get(graph.path(comment_id), params)
    conversation = node.get("private_reply_conversation")
    if not isinstance(conversation, dict):
        return None
    return own_message(conversation, graph.config.page_id, text)


def own_dm(graph: Graph, user_id: str, text: str, *, instagram: bool) -> str | None:
    params = {
        "platform": "instagram" if instagram else "messenger",
        "user_id": user_id,
        "fields": "messages{id,message,from,created_time}",
    }
    own = graph.config.instagram_account_id if instagram else graph.config.page_id
    conversations = graph.get(graph.path(graph.config.page_id, "conversations"), params)
    for conversation in items(conversations):
        found = own_message(conversation, str(own), text)
        if found is not None:
            return DM_PREFIX + found if instagram else found
    return None


def own_message(conversation: dict[str, Any], own_id: str, text: str) -> str | None:
    messages = conversation.get("messages")
    for message in items(messages if isinstance(messages, dict) else {}):
        if author_id(message) == own_id and same_text(message, "message", text):
            return str(message.get("id") or "") or None
    return None


def items(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a Graph list answer (``{"data": [...]}``); anything else is none."""
    found = data.get("data")
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def author_id(item: dict[str, Any]) -> str:
    author = item.get("from")
    return str(author.get("id") or "") if isinstance(author, dict) else ""


def same_text(item: dict[str, Any], key: str, text: str) -> bool:
    """Meta may store line breaks as LF and trim the ends; compare the same way."""
    value = item.get(key)
    return isinstance(value, str) and _normal(value) == _normal(text)


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


# -- answers and errors ---------------------------------------------------------------


def created_id(answer: dict[str, Any], key: str) -> str:
    """The new object's id. A 2xx without one may still have posted, so this is a
    retryable error: the retry reconciles before sending again."""
    value = answer.get(key)
    if not isinstance(value, str) or not value or len(value) > 300:
        raise SendError(f"Meta answered without a usable {key}")
    return value


def checked_send(call: Callable[[], httpx.Response]) -> httpx.Response:
    """Run one Graph write; its 2xx response, else the matching connector error."""
    try:
        response = call()
    except httpx.HTTPError as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if 200 <= response.status_code < 300:
        return response
    raise refusal(response)


def refusal(response: httpx.Response) -> SendError:
    """Graph errors by code: throttling → ``RateLimited`` at the regain time; 5xx and
    transient codes → ``SendError``; the rest (permissions, invalid parameters, the
    24-hour window, an unavailable person) → ``PermanentSendError`` with Meta's words."""
    error = graph_error(response)
    code = _number(error.get("code"))
    detail = describe(response, error)
    throttled = code is not None and (code in THROTTLE_CODES or code in BUC_THROTTLE_CODES)
    if response.status_code == 429 or throttled:
        return RateLimited(regain_time(response.headers), detail)
    transient = code in TRANSIENT_CODES or error.get("is_transient") is True
    if response.status_code >= 500 or response.status_code < 400 or transient:
        return SendError(detail)
    return PermanentSendError(detail)


def graph_error(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def describe(response: httpx.Response, error: dict[str, Any]) -> str:
    """``HTTP 400 Graph error 10/2018278 (OAuthException): (#10) … — explanation``."""
    if not error:
        return f"HTTP {response.status_code} {response.text[:200]}".replace("\n", " ").strip()
    code, subcode = _number(error.get("code")), _number(error.get("error_subcode"))
    numbers = f"{code}/{subcode}" if subcode else str(code or "?")
    kind = str(error.get("type") or "")[:60]
    message = " ".join(str(error.get("message") or "").split())[:300]
    text = f"HTTP {response.status_code} Graph error {numbers} ({kind}): {message}"
    explanation = EXPLANATIONS.get(subcode or 0)
    return f"{text} — {explanation}" if explanation else text


def regain_time(headers: Mapping[str, str], now: datetime | None = None) -> datetime:
    """When a throttled account may call again: the longest ``estimated_time_to_regain_
    access`` (minutes) of the usage headers, else ``Retry-After``, else a quarter hour."""
    now = now or datetime.now(UTC)
    minutes = max(regain_minutes(headers), default=0.0)
    if minutes > 0:
        return now + min(timedelta(minutes=minutes), MAX_THROTTLE_WAIT)
    return http.retry_after(headers, now) or now + THROTTLE_WAIT


def regain_minutes(headers: Mapping[str, str]) -> Iterator[float]:
    """Every estimate in the usage headers. ``X-App-Usage`` and ``X-Page-Usage``
    are one usage object; ``X-Business-Use-Case-Usage`` maps ids to lists of them."""
    for name in USAGE_HEADERS:
        try:
            data = json.loads(headers.get(name) or "null")
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        usages = [data] + [u for v in data.values() if isinstance(v, list) for u in v]
        for usage in usages:
            if isinstance(usage, dict):
                yield _minutes(usage.get("estimated_time_to_regain_access"))


def _minutes(value: Any) -> float:
    """A usage header's estimate in minutes; 0 for anything that is not a sane number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
