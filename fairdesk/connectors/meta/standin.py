"""A Meta Graph API stand-in on loopback, for tests and the demo.

Implements, in memory and in the documented shapes, what ``meta/connector.py`` calls:
Page comments (``/{object}/comments``, POST and GET), Instagram comment replies
(``/{ig-comment}/replies``), the Send API with direct recipients and private replies
(``/{page}/messages``), the Conversations API (``/{page}/conversations``) and a comment's
``private_reply_conversation``. Ids look like Graph ids: comments ``{post}_{comment}``,
Instagram comments plain digits, Messenger message ids ``m_…``, Instagram message ids
``aWdf…``, conversations ``t_…``.

Every call needs the access token of the Page that owns the object (``Authorization:
Bearer``/``OAuth`` or ``access_token``) and, for a Page registered with an app secret, a
matching ``appsecret_proof``; failures answer like Graph: HTTP 400 with ``{"error":
{"message", "type", "code", "fbtrace_id"}}``. A message to someone who has not written
in the last 24 hours is refused with code 10, subcode 2018278; a second private reply
to one comment is refused too. ``refuse_next`` queues any Graph error (throttling with
usage headers, a 5xx) for the next matching request.
"""

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from fairdesk.connectors.standin import Request, Response, StandIn

VERSION = r"/v[0-9]{1,3}\.[0-9]{1,2}"
MESSAGING_WINDOW = timedelta(hours=24)
MAX_MESSAGE_CHARS = 2000


@dataclass
class Page:
    page_id: str
    token: str
    name: str = ""
    instagram_account_id: str = ""
    instagram_username: str = ""
    app_secret: str = ""


@dataclass
class Comment:
    """A Facebook comment, or an Instagram comment (``instagram``), on a Page's object."""

    id: str
    page_id: str
    parent: str  # the post or comment it answers
    author_id: str
    author_name: str
    text: str
    created_time: datetime
    instagram: bool = False
    private_reply: str = ""  # the conversation a private reply to it started
    # The commenter's page-scoped Messenger id (PSID), which Meta does not promise to
    # equal their id in the feed; a private reply starts the conversation with it.
    messenger_id: str = ""

    def as_graph(self) -> dict[str, Any]:
        author: dict[str, str] = {"id": self.author_id}
        author["username" if self.instagram else "name"] = self.author_name
        text_key = "text" if self.instagram else "message"
        found = {"id": self.id, "from": author, text_key: self.text, "created_time": _iso(self)}
        if self.instagram:
            found["username"] = self.author_name
        return found


@dataclass
class Conversation:
    id: str
    page_id: str
    platform: str  # messenger | instagram
    user_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    last_user_message_at: datetime | None = None


class GraphError(Exception):
    def __init__(self, code: int, message: str, kind: str = "OAuthException", **extra: Any):
        super().__init__(message)
        self.code, self.message, self.kind, self.extra = code, message, kind, extra


class MetaStandIn(StandIn):
    """Pages, their posts, comments and conversations; what the connector posted."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, Page] = {}
        self.posts: dict[str, str] = {}  # post id → page id
        self.comments: dict[str, Comment] = {}
        self.conversations: dict[tuple[str, str], Conversation] = {}  # (page, user)
        self.sent: list[dict[str, Any]] = []  # accepted Send API bodies, in order
        self.privately_answered: set[str] = set()  # comments and posts: one private reply
        self._ids = itertools.count(1)
        self.route("POST", rf"{VERSION}/(?P<object>[0-9_]+)/comments", self.create_comment)
        self.route("GET", rf"{VERSION}/(?P<object>[0-9_]+)/comments", self.list_comments)
        self.route("POST", rf"{VERSION}/(?P<object>[0-9]+)/replies", self.create_reply)
        self.route("GET", rf"{VERSION}/(?P<object>[0-9]+)/replies", self.list_replies)
        self.route("POST", rf"{VERSION}/(?P<page>[0-9]+)/messages", self.send_message)
        self.route("GET", rf"{VERSION}/(?P<page>[0-9]+)/conversations", self.list_conversations)
        self.route("GET", rf"{VERSION}/(?P<object>[0-9_]+)", self.node)

    # -- seeding ----------------------------------------------------------------------
    def add_page(self, page_id: str, token: str, **details: str) -> Page:
        """A Page (``name``, ``instagram_account_id``, ``instagram_username``,
        ``app_secret``) whose token may act on its objects."""
        page = Page(page_id=page_id, token=token, **details)
        with self.lock:
            self.pages[page_id] = page
        return page

    def seed_post(self, post_id: str) -> None:
        """A post ``{page}_{post}`` (a Page post, or a visitor post on the Page)."""
        with self.lock:
            self.posts[post_id] = post_id.split("_", 1)[0]

    def seed_comment(
        self,
        comment_id: str,
        *,
        parent: str,
        author_id: str,
        author_name: str,
        text: str,
        messenger_id: str = "",
    ) -> Comment:
        """A comment on a seeded post or comment of a Page, as its webhook announced it;
        ``messenger_id`` is the commenter's PSID (default: the same id)."""
        with self.lock:
            page_id = self._owner(parent)
            comment = Comment(comment_id, page_id, parent, author_id, author_name, text, _now())
            comment.messenger_id = messenger_id
            self.comments[comment_id] = comment
        return comment

    def seed_instagram_comment(
        self, comment_id: str, *, account_id: str, author_id: str, username: str, text: str
    ) -> Comment:
        """A comment on a media of the Instagram account linked to a seeded Page."""
        with self.lock:
            page = next(p for p in self.pages.values() if p.instagram_account_id == account_id)
            comment = Comment(
                comment_id, page.page_id, "", author_id, username, text, _now(), instagram=True
            )
            self.comments[comment_id] = comment
        return comment

    def seed_message(
        self,
        page_id: str,
        user_id: str,
        text: str,
        *,
        platform: str = "messenger",
        at: datetime | None = None,
    ) -> str:
        """A message from the person to the Page (it opens the 24-hour window); its mid."""
        at = at or _now()
        with self.lock:
            conversation = self._conversation(page_id, user_id, platform)
            mid = self._message_id(platform)
            conversation.messages.append(_message(mid, text, {"id": user_id}, at))
            conversation.last_user_message_at = at
        return mid

    # -- reading what was posted ------------------------------------------------------
    def replies_to(self, parent: str) -> list[Comment]:
        """Comments and Instagram replies posted on ``parent``, oldest first."""
        with self.lock:
            return [c for c in self.comments.values() if c.parent == parent]

    def messages_with(self, page_id: str, user_id: str) -> list[dict[str, Any]]:
        with self.lock:
            conversation = self.conversations.get((page_id, user_id))
            return list(conversation.messages) if conversation else []

    def refuse_next(
        self,
        code: int,
        message: str,
        *,
        status: int = 400,
        subcode: int | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = "POST",
        path: str | None = None,
    ) -> None:
        """Answer the next matching request with a Graph error (throttling, 5xx …)."""
        extra: dict[str, Any] = {"error_subcode": subcode} if subcode else {}
        body = self._error_body(GraphError(code, message, **extra))
        self.fail_next(status, body=body, headers=headers, method=method, path=path)

    # -- endpoints --------------------------------------------------------------------
    def create_comment(self, request: Request) -> Response:
        return self._answer(lambda: self._create_comment(request))

    def _create_comment(self, request: Request) -> dict[str, Any]:
        parent = request.params["object"]
        page = self._authorised(request, parent, "post")
        text = _text(_body(request).get("message"))
        post_part = parent.split("_", 1)[1] if parent in self.posts else parent.split("_")[0]
        comment_id = f"{post_part}_{self._next_number(900000000000000)}"
        name = page.name
        self.comments[comment_id] = Comment(
            comment_id, page.page_id, parent, page.page_id, name, text, _now()
        )
        return {"id": comment_id}

    def list_comments(self, request: Request) -> Response:
        return self._answer(lambda: self._list(request, instagram=False))

    def create_reply(self, request: Request) -> Response:
        return self._answer(lambda: self._create_reply(request))

    def _create_reply(self, request: Request) -> dict[str, Any]:
        parent = request.params["object"]
        page = self._authorised(request, parent, "post", instagram=True)
        text = _text(_body(request).get("message"))
        reply_id = str(self._next_number(17900000000000000))
        self.comments[reply_id] = Comment(
            reply_id,
            page.page_id,
            parent,
            page.instagram_account_id,
            page.instagram_username.lstrip("@"),
            text,
            _now(),
            instagram=True,
        )
        return {"id": reply_id}

    def list_replies(self, request: Request) -> Response:
        return self._answer(lambda: self._list(request, instagram=True))

    def _list(self, request: Request, *, instagram: bool) -> dict[str, Any]:
        parent = request.params["object"]
        self._authorised(request, parent, "get", instagram=instagram)
        found = [c.as_graph() for c in self.comments.values() if c.parent == parent]
        if request.arg("order") == "reverse_chronological":
            found.reverse()
        limit = request.arg("limit", "25")
        return {"data": found[: int(limit) if limit.isdigit() else 25]}

    def send_message(self, request: Request) -> Response:
        return self._answer(lambda: self._send_message(request))

    def _send_message(self, request: Request) -> dict[str, Any]:
        page = self._page(request, request.params["page"])
        body = _body(request)
        message = body.get("message")
        text = _text(message.get("text") if isinstance(message, dict) else None)
        if len(text) > MAX_MESSAGE_CHARS:
            limit = f"(#100) Length of param message[text] must be at most {MAX_MESSAGE_CHARS}"
            raise GraphError(100, limit)
        conversation = self._recipient(page, body.get("recipient"))
        mid = self._message_id(conversation.platform)
        own = page.instagram_account_id if conversation.platform == "instagram" else page.page_id
        conversation.messages.append(_message(mid, text, {"id": own}, _now()))
        self.sent.append({"page_id": page.page_id, **body})
        return {"recipient_id": conversation.user_id, "message_id": mid}

    def list_conversations(self, request: Request) -> Response:
        return self._answer(lambda: self._list_conversations(request))

    def _list_conversations(self, request: Request) -> dict[str, Any]:
        page = self._page(request, request.params["page"])
        platform = request.arg("platform", "messenger")
        user_id = request.arg("user_id")
        found = [
            _conversation_graph(c)
            for c in self.conversations.values()
            if c.page_id == page.page_id
            and c.platform == platform
            and (not user_id or c.user_id == user_id)
        ]
        return {"data": found}

    def node(self, request: Request) -> Response:
        return self._answer(lambda: self._node(request))

    def _node(self, request: Request) -> dict[str, Any]:
        object_id = request.params["object"]
        self._authorised(request, object_id, "get")
        found: dict[str, Any] = {"id": object_id}
        comment = self.comments.get(object_id)
        if "private_reply_conversation" in request.arg("fields") and comment is not None:
            for conversation in self.conversations.values():
                if conversation.id == comment.private_reply:
                    found["private_reply_conversation"] = _conversation_graph(conversation)
        return found

    # -- rules ------------------------------------------------------------------------
    def _answer(self, produce: Callable[[], dict[str, Any]]) -> Response:
        try:
            with self.lock:
                return Response(200, produce())
        except GraphError as error:
            return Response(400, self._error_body(error))

    def _error_body(self, error: GraphError) -> dict[str, Any]:
        trace = f"A{self._next_number(0):010x}"
        body = {"message": error.message, "type": error.kind, "code": error.code}
        return {"error": {**body, **error.extra, "fbtrace_id": trace}}

    def _page(self, request: Request, page_id: str) -> Page:
        """The Page whose token this request carries, which must be ``page_id``'s."""
        token = _token(request)
        if not token:
            raise GraphError(104, "An access token is required to request this resource.")
        page = next((p for p in self.pages.values() if p.token == token), None)
        if page is None:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        if page.app_secret:
            proof = hmac.new(page.app_secret.encode(), token.encode(), hashlib.sha256)
            if not hmac.compare_digest(proof.hexdigest(), request.arg("appsecret_proof")):
                message = "Invalid appsecret_proof provided in the API argument"
                raise GraphError(100, message, "GraphMethodException")
        if page.page_id != page_id:
            raise _unsupported(request.method, page_id)
        return page

    def _authorised(
        self, request: Request, object_id: str, verb: str, *, instagram: bool | None = None
    ) -> Page:
        """The token's Page, which must own ``object_id`` (of the right platform)."""
        comment = self.comments.get(object_id)
        known = comment is not None and (instagram is None or comment.instagram == instagram)
        if not known and (instagram or object_id not in self.posts):
            raise _unsupported(verb.upper(), object_id)
        return self._page(request, self._owner(object_id))

    def _owner(self, object_id: str) -> str:
        comment = self.comments.get(object_id)
        return comment.page_id if comment is not None else self.posts.get(object_id, "")

    def _recipient(self, page: Page, recipient: Any) -> Conversation:
        """The conversation a Send API ``recipient`` reaches, under Meta's rules."""
        if not isinstance(recipient, dict):
            raise GraphError(100, "(#100) The parameter recipient is required")
        target = recipient.get("comment_id") or recipient.get("post_id")
        if target:
            return self._private_reply(page, str(target))
        conversation = self.conversations.get((page.page_id, str(recipient.get("id") or "")))
        last = conversation.last_user_message_at if conversation else None
        if conversation is None or last is None or _now() - last > MESSAGING_WINDOW:
            raise GraphError(
                10,
                "(#10) This message is sent outside of allowed window.",
                error_subcode=2018278,
            )
        return conversation

    def _private_reply(self, page: Page, target: str) -> Conversation:
        comment = self.comments.get(target)
        if target in self.posts and self.posts[target] == page.page_id:
            author = target  # a visitor post: the stand-in keys its author by the post
            comment = None
        elif comment is not None and comment.page_id == page.page_id:
            author = comment.messenger_id or comment.author_id
        else:
            raise _unsupported("POST", target)
        if target in self.privately_answered:
            raise GraphError(10, "(#10) Only one private reply can be sent to this object.")
        self.privately_answered.add(target)
        platform = "instagram" if comment is not None and comment.instagram else "messenger"
        conversation = self._conversation(page.page_id, author, platform)
        if comment is not None:
            comment.private_reply = conversation.id
        return conversation

    def _conversation(self, page_id: str, user_id: str, platform: str) -> Conversation:
        key = (page_id, user_id)
        if key not in self.conversations:
            conversation_id = f"t_{self._next_number(10000000000)}"
            self.conversations[key] = Conversation(conversation_id, page_id, platform, user_id)
        return self.conversations[key]

    def _message_id(self, platform: str) -> str:
        number = self._next_number(0)
        if platform == "instagram":
            raw = f"ig_message_item:1:IGMessage:{number:020d}".encode()
            return "aWdf" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"m_{hashlib.sha256(str(number).encode()).hexdigest()[:40]}"

    def _next_number(self, base: int) -> int:
        return base + next(self._ids)

    # -- webhooks Meta would deliver for what was posted --------------------------------
    def feed_webhook(self, comment_id: str) -> dict[str, Any]:
        """The Page ``feed`` webhook announcing a comment (the echo of a reply)."""
        with self.lock:
            comment = self.comments[comment_id]
        post_id = comment.parent if comment.parent in self.posts else ""
        value = {
            "from": {"id": comment.author_id, "name": comment.author_name},
            "message": comment.text,
            "post_id": post_id or f"{comment.page_id}_{comment.parent.split('_')[0]}",
            "comment_id": comment.id,
            "parent_id": comment.parent,
            "created_time": int(comment.created_time.timestamp()),
            "item": "comment",
            "verb": "add",
        }
        change = {"field": "feed", "value": value}
        entry = {"id": comment.page_id, "time": value["created_time"], "changes": [change]}
        return {"object": "page", "entry": [entry]}

    def message_webhook(self, page_id: str, user_id: str, mid: str) -> dict[str, Any]:
        """The ``messages`` webhook for a message the person sent the Page."""
        with self.lock:
            conversation = self.conversations[(page_id, user_id)]
            sent = next(m for m in conversation.messages if m["id"] == mid)
        at = datetime.strptime(sent["created_time"], "%Y-%m-%dT%H:%M:%S%z")
        millis = int(at.timestamp()) * 1000
        own = page_id
        if conversation.platform == "instagram":
            own = self.pages[page_id].instagram_account_id
        event = {
            "sender": {"id": user_id},
            "recipient": {"id": own},
            "timestamp": millis,
            "message": {"mid": mid, "text": sent["message"]},
        }
        kind = "instagram" if conversation.platform == "instagram" else "page"
        return {"object": kind, "entry": [{"id": own, "time": millis, "messaging": [event]}]}

    def echo_webhook(self, page_id: str, user_id: str, mid: str) -> dict[str, Any]:
        """The ``message_echoes`` webhook for a message the Page sent."""
        with self.lock:
            conversation = self.conversations[(page_id, user_id)]
            sent = next(m for m in conversation.messages if m["id"] == mid)
        own = sent["from"]["id"]
        at = datetime.strptime(sent["created_time"], "%Y-%m-%dT%H:%M:%S%z")
        millis = int(at.timestamp()) * 1000
        event = {
            "sender": {"id": own},
            "recipient": {"id": user_id},
            "timestamp": millis,
            "message": {"is_echo": True, "mid": mid, "text": sent["message"]},
        }
        kind = "instagram" if conversation.platform == "instagram" else "page"
        return {"object": kind, "entry": [{"id": own, "time": millis, "messaging": [event]}]}


def _unsupported(verb: str, object_id: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {verb.lower()} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation.",
        "GraphMethodException",
        error_subcode=33,
    )


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.arg("access_token")


def _body(request: Request) -> dict[str, Any]:
    """A JSON or form-encoded Graph body."""
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise GraphError(100, "(#100) The request body is not valid JSON") from exc
        return data if isinstance(data, dict) else {}
    form = parse_qs(request.body.decode("utf-8", "replace"))
    return {key: values[0] for key, values in form.items()}


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GraphError(100, "(#100) param message must be non-empty UTF-8 encoded string")
    return value


def _message(mid: str, text: str, author: dict[str, str], at: datetime) -> dict[str, Any]:
    return {"id": mid, "message": text, "from": author, "created_time": _graph_time(at)}


def _conversation_graph(conversation: Conversation) -> dict[str, Any]:
    newest_first = list(reversed(conversation.messages))
    return {"id": conversation.id, "messages": {"data": newest_first}}


def _iso(comment: Comment) -> str:
    return _graph_time(comment.created_time)


def _graph_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _now() -> datetime:
    return datetime.now(UTC)
