"""The Bluesky connector: polls notifications, posts replies, sends chat messages.

- ``poll``: ``app.bsky.notification.listNotifications`` (mentions, replies, quotes), one
  page per call, newest first, paging back to the last notification stored (see
  ``adapter.read_page`` for the cursor); and ``chat.bsky.convo.getLog`` after the last
  log revision read, for customers' chat messages (a conversation moved to chat goes on
  coming in; ``adapter.read_chat_log``).
- ``send`` (public): ``com.atproto.repo.createRecord`` of an ``app.bsky.feed.post`` in
  the brand's repo, with ``reply.root``/``reply.parent`` resolved through
  ``app.bsky.feed.getPosts``, at a record key derived from the outbox idempotency key.
- ``send`` (private): Bluesky chat, ``chat.bsky.convo.getConvoForMembers`` then
  ``chat.bsky.convo.sendMessage``, proxied by the PDS to ``did:web:api.bsky.chat``
  (the app password needs its "direct messages" permission).
- ``find_sent``: the post at the derived record key (``com.atproto.repo.getRecord``), or
  our identical message among the conversation's latest (``chat.bsky.convo.getMessages``).

Built against the atproto lexicons and docs.bsky.app ("Rate Limits": 5,000 points per
hour per account, a created record costs 3, so at most 1,666 posts an hour).
"""

import re
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import StringConstraints, field_validator

from fairdesk.connectors.base import (
    Account,
    Connector,
    OutboundRequest,
    PermanentSendError,
    PollError,
    PollResult,
    RateLimit,
    RateLimited,
    SendError,
)
from fairdesk.connectors.bluesky import adapter
from fairdesk.connectors.bluesky.xrpc import CHAT_PROXY, Xrpc
from fairdesk.connectors.config import ChannelConfig
from fairdesk.connectors.payloads import PayloadError

Did = Annotated[
    str, StringConstraints(pattern=r"^did:[a-z]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._-]$", max_length=2048)
]
HANDLE = re.compile(
    r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
RECENT_MESSAGES = 50


class BlueskyConfig(ChannelConfig):
    """A Bluesky account: its PDS (or the bsky.social entryway), handle and DID. The
    identifier and app password are credentials, not configuration."""

    service_url: str = "https://bsky.social"
    handle: Annotated[str, StringConstraints(max_length=253, strip_whitespace=True)] = ""
    did: Did

    @field_validator("service_url")
    @classmethod
    def https_or_loopback(cls, value: str) -> str:
        """https only; plain http only on loopback (local stand-ins and development PDSes)."""
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("service_url must be an https:// URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("service_url must be a plain https:// URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError("service_url may use plain http only on loopback")
        return value.strip().rstrip("/")

    @field_validator("handle")
    @classmethod
    def handle_syntax(cls, value: str) -> str:
        handle = value.removeprefix("@").lower()
        if handle and HANDLE.match(handle) is None:
            raise ValueError("handle must look like name.bsky.social")
        return handle

    @property
    def brand_handle(self) -> str | None:
        return "@" + self.handle if self.handle else None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class BlueskyConnector(Connector):
    kind = "bluesky"
    config_model = BlueskyConfig
    rate_limit = RateLimit(posts=1666, window=timedelta(hours=1))

    # -- polling ------------------------------------------------------------------------
    def poll(self, account: Account, cursor: dict[str, Any]) -> PollResult:
        config: BlueskyConfig = account.config
        try:
            state = adapter.PollState.from_cursor(cursor)
        except PayloadError as exc:
            raise PollError(f"unreadable Bluesky cursor ({exc}); reset it to poll again") from exc
        params: dict[str, Any] = {"limit": adapter.PAGE_SIZE, "reasons": adapter.WANTED_REASONS}
        if state.page:
            params["cursor"] = state.page
        rev = cursor.get(adapter.CHAT_CURSOR_KEY)
        rev = rev if isinstance(rev, str) else ""
        with Xrpc(account) as xrpc:
            payload = xrpc.read_for_poll("app.bsky.notification.listNotifications", params)
            log = xrpc.read_for_poll(
                "chat.bsky.convo.getLog", {"cursor": rev} if rev else {}, proxy=CHAT_PROXY
            )
        try:
            page = adapter.read_page(
                payload,
                state,
                brand_did=config.did,
                brand_handle=config.brand_handle,
                service_url=config.service_url,
            )
        except PayloadError as exc:
            raise PollError(f"listNotifications: {exc}") from exc
        try:
            chat = adapter.read_chat_log(
                log, rev, brand_did=config.did, brand_handle=config.brand_handle
            )
        except PayloadError as exc:
            raise PollError(f"getLog: {exc}") from exc
        next_cursor = page.state.as_cursor()
        if chat.rev:
            next_cursor[adapter.CHAT_CURSOR_KEY] = chat.rev
        return PollResult(records=page.records + chat.records, cursor=next_cursor, more=page.more)

    # -- sending ------------------------------------------------------------------------
    def send(self, account: Account, request: OutboundRequest) -> str:
        with Xrpc(account) as xrpc:
            if request.visibility == "private":
                return self._send_message(xrpc, request)
            return self._post(xrpc, account, request)

    def find_sent(self, account: Account, request: OutboundRequest) -> str | None:
        with Xrpc(account) as xrpc:
            if request.visibility == "private":
                convo_id = self._convo(xrpc, request)
                return self._find_message(xrpc, convo_id, request.text)
            rkey = adapter.record_key(
                workspace_id=account.workspace_id, idempotency_key=request.idempotency_key
            )
            return self._find_post(xrpc, rkey)

    def _post(self, xrpc: Xrpc, account: Account, request: OutboundRequest) -> str:
        """Create the reply post; a refusal because the record already exists (an
        earlier attempt got through) is success: that record is the reply."""
        adapter.check_length(
            request.text,
            graphemes_max=adapter.MAX_POST_GRAPHEMES,
            bytes_max=adapter.MAX_POST_BYTES,
            what="post",
        )
        reply = self._reply_ref(xrpc, request.in_reply_to) if request.in_reply_to else None
        rkey = adapter.record_key(
            workspace_id=account.workspace_id, idempotency_key=request.idempotency_key
        )
        body = {
            "repo": xrpc.did,
            "collection": adapter.POST_COLLECTION,
            "rkey": rkey,
            "record": adapter.post_record(request.text, reply=reply, now=datetime.now(UTC)),
        }
        try:
            created = xrpc.call_for_send("POST", "com.atproto.repo.createRecord", body=body)
        except RateLimited:
            raise
        except SendError:
            existing = self._existing_post(xrpc, rkey)
            if existing is None:
                raise
            return existing
        return _uri(created)

    def _reply_ref(self, xrpc: Xrpc, parent_uri: str) -> dict[str, Any]:
        adapter.parse_post_uri(parent_uri)
        posts = xrpc.call_for_send("GET", "app.bsky.feed.getPosts", params={"uris": [parent_uri]})
        try:
            return adapter.reply_ref(posts, parent_uri)
        except PayloadError as exc:
            raise SendError(f"getPosts: {exc}") from exc

    def _existing_post(self, xrpc: Xrpc, rkey: str) -> str | None:
        """The post an earlier attempt created at ``rkey``, if the lookup can tell."""
        try:
            return self._find_post(xrpc, rkey)
        except SendError:
            return None

    def _find_post(self, xrpc: Xrpc, rkey: str) -> str | None:
        params = {"repo": xrpc.did, "collection": adapter.POST_COLLECTION, "rkey": rkey}
        found = xrpc.lookup_for_send("com.atproto.repo.getRecord", params, absent="RecordNotFound")
        return _uri(found) if found is not None else None

    def _send_message(self, xrpc: Xrpc, request: OutboundRequest) -> str:
        adapter.check_length(
            request.text,
            graphemes_max=adapter.MAX_MESSAGE_GRAPHEMES,
            bytes_max=adapter.MAX_MESSAGE_BYTES,
            what="chat message",
        )
        convo_id = self._convo(xrpc, request)
        message = xrpc.call_for_send(
            "POST",
            "chat.bsky.convo.sendMessage",
            body={"convoId": convo_id, "message": {"text": request.text}},
            proxy=CHAT_PROXY,
        )
        return _message_id(convo_id, message)

    def _convo(self, xrpc: Xrpc, request: OutboundRequest) -> str:
        recipient = request.recipient
        if recipient is None or not recipient.external_id.startswith("did:"):
            raise PermanentSendError("the customer has no Bluesky account to message")
        answer = xrpc.call_for_send(
            "GET",
            "chat.bsky.convo.getConvoForMembers",
            params={"members": [recipient.external_id]},
            proxy=CHAT_PROXY,
        )
        convo = answer.get("convo")
        if not isinstance(convo, dict) or not isinstance(convo.get("id"), str):
            raise SendError("getConvoForMembers answered without a conversation id")
        return convo["id"]

    def _find_message(self, xrpc: Xrpc, convo_id: str, text: str) -> str | None:
        """Our message with exactly this text among the conversation's latest: chat has
        no idempotency key, so the text (signed ``^XY``) is what identifies a reply."""
        answer = xrpc.call_for_send(
            "GET",
            "chat.bsky.convo.getMessages",
            params={"convoId": convo_id, "limit": RECENT_MESSAGES},
            proxy=CHAT_PROXY,
        )
        messages = answer.get("messages")
        for message in messages if isinstance(messages, list) else []:
            if not isinstance(message, dict) or message.get("text") != text:
                continue
            sender = message.get("sender")
            if isinstance(sender, dict) and sender.get("did") == xrpc.did:
                return _message_id(convo_id, message)
        return None


def _uri(answer: dict[str, Any]) -> str:
    uri = answer.get("uri")
    if not isinstance(uri, str) or not adapter.AT_URI_POST.match(uri):
        raise SendError("the PDS answered without the post's at:// uri")
    return uri


def _message_id(convo_id: str, message: dict[str, Any]) -> str:
    message_id = message.get("id")
    if not isinstance(message_id, str) or not message_id:
        raise SendError("sendMessage answered without a message id")
    return f"chat:{convo_id}:{message_id}"


CONNECTOR = BlueskyConnector()
