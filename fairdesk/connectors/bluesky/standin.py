"""A Bluesky PDS, AppView and chat service on loopback, for tests and the demo.

Implements, in the documented XRPC shapes: ``com.atproto.server.createSession`` /
``refreshSession`` (access tokens can be expired on demand), ``app.bsky.notification.
listNotifications`` (newest first, ``reasons`` filter, keyset ``cursor`` to older
pages), ``app.bsky.feed.getPosts``, ``com.atproto.repo.createRecord`` / ``getRecord`` /
``listRecords`` and ``chat.bsky.convo.getConvoForMembers`` / ``sendMessage`` /
``getMessages`` / ``getLog`` (only with the ``atproto-proxy`` chat header, as the PDS
proxies them; log revisions sort as strings, like the service's TIDs).

``createRecord`` honours record-key uniqueness the way the reference PDS does: a second
record at an existing key is refused (its repo's tree refuses the duplicate key and the
PDS answers 500 InternalServerError) and nothing is written.

Seed the network with ``add_account``, ``seed_post``, ``notify`` and ``chat`` (a
customer's chat message); read what the connector did with ``created_posts`` and
``messages``. ``seed_blob`` stores a file of any account (the stand-in plays the
entryway, which answers for every account it hosts) and gives the blob reference a
post's ``embed`` names; ``com.atproto.sync.getBlob`` (``did``, ``cid``; no auth) serves
it with its MIME type, a blob it does not have is 400 ``BlobNotFound`` and a DID with no
blobs here 400 ``RepoNotFound``.
"""

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fairdesk.connectors.bluesky import graphemes
from fairdesk.connectors.standin import Handler, Request, Response, StandIn

POST = "app.bsky.feed.post"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
LOG_PAGE = 100


def xrpc_error(status: int, error: str, message: str) -> Response:
    return Response(status, {"error": error, "message": message})


def fake_cid(data: Any) -> str:
    """A CIDv1-looking string (``bafyrei`` + base32 of a SHA-256) for ``data``."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Convo:
    id: str
    members: frozenset[str]
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BskyAccount:
    did: str
    handle: str
    password: str
    display_name: str = ""
    notifications: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # rkey → record view

    @property
    def profile(self) -> dict[str, Any]:
        return {"did": self.did, "handle": self.handle, "displayName": self.display_name}


AccountHandler = Callable[[Request, BskyAccount], Response]


class BlueskyStandIn(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, BskyAccount] = {}
        self.posts: dict[str, dict[str, Any]] = {}  # the AppView: uri → postView
        self.tokens: dict[str, tuple[str, str]] = {}  # jwt → ("access"|"refresh", did)
        self.expired: set[str] = set()
        self.convos: dict[frozenset[str], Convo] = {}
        self.chat_log: list[dict[str, Any]] = []  # logCreateMessage entries, oldest first
        self.blobs: dict[str, dict[str, tuple[bytes, str]]] = {}  # did → cid → (data, mime)
        self._serial = itertools.count(1)
        for method, nsid, handler in (
            ("POST", "com.atproto.server.createSession", self.create_session),
            ("POST", "com.atproto.server.refreshSession", self.refresh_session),
            ("GET", "app.bsky.notification.listNotifications", self._authed(self.notifications)),
            ("GET", "app.bsky.feed.getPosts", self._authed(self.get_posts)),
            ("POST", "com.atproto.repo.createRecord", self._authed(self.create_record)),
            ("GET", "com.atproto.repo.getRecord", self.get_record),
            ("GET", "com.atproto.repo.listRecords", self.list_records),
            ("GET", "com.atproto.sync.getBlob", self.get_blob),
            ("GET", "chat.bsky.convo.getConvoForMembers", self._chat(self.convo_for)),
            ("POST", "chat.bsky.convo.sendMessage", self._chat(self.send_message)),
            ("GET", "chat.bsky.convo.getMessages", self._chat(self.get_messages)),
            ("GET", "chat.bsky.convo.getLog", self._chat(self.get_log)),
        ):
            self.route(method, "/xrpc/" + re.escape(nsid), handler)

    # -- seeding and reading back ---------------------------------------------------------
    def add_account(
        self, *, did: str, handle: str, password: str, display_name: str = ""
    ) -> BskyAccount:
        account = BskyAccount(did, handle, password, display_name)
        with self.lock:
            self.accounts[did] = account
        return account

    def seed_post(
        self,
        *,
        author: dict[str, Any],
        text: str,
        at: datetime,
        reply_to: str | None = None,
        rkey: str | None = None,
        embed: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A post already on the network (``author``: a profileView), as a postView.
        A reply takes its root from the parent, as a client does. ``rkey`` fixes the
        post's record key (and so its uri), e.g. to seed the same post again later;
        ``embed`` is the record's embed (images or video of ``seed_blob`` blobs)."""
        record: dict[str, Any] = {
            "$type": POST,
            "createdAt": timestamp(at),
            "langs": ["en"],
            "text": text,
        }
        if embed is not None:
            record["embed"] = embed
        with self.lock:
            if reply_to is not None:
                record["reply"] = self._reply_refs(reply_to)
            return self._index(author, rkey or self._tid(at), record, at)

    def seed_blob(self, *, did: str, data: bytes, mime_type: str) -> dict[str, Any]:
        """A file in ``did``'s repo; the blob reference (``$type`` blob, ``ref.$link``)."""
        digest = hashlib.sha256(data).digest()
        cid = "bafkrei" + base64.b32encode(digest).decode().lower().rstrip("=")
        with self.lock:
            self.blobs.setdefault(did, {})[cid] = (data, mime_type)
        return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime_type, "size": len(data)}

    def notify(self, *, did: str, reason: str, post: dict[str, Any]) -> dict[str, Any]:
        """Tell account ``did`` about ``post`` (mention, reply, quote, like …)."""
        notification: dict[str, Any] = {
            "uri": post["uri"],
            "cid": post["cid"],
            "author": post["author"],
            "reason": reason,
            "record": post["record"],
            "isRead": False,
            "indexedAt": post["indexedAt"],
            "labels": [],
        }
        reply = post["record"].get("reply")
        if reason == "reply" and reply:
            notification["reasonSubject"] = reply["parent"]["uri"]
        with self.lock:
            self.accounts[did].notifications.append(notification)
        return notification

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.expired.update(t for t, (kind, _) in self.tokens.items() if kind == "access")

    def created_posts(self, did: str) -> list[dict[str, Any]]:
        """The account's post records (``{uri, cid, value}``), oldest key first."""
        with self.lock:
            records = self.accounts[did].records
            return [records[k] for k in sorted(records)]

    def chat(self, *, sender: str, to: str, text: str, at: datetime | None = None) -> dict:
        """A customer's chat message to ``to`` (a DID), as the chat service logs it."""
        with self.lock:
            convo = self._convo({sender, to})
            return self._log_message(convo, sender, text, at or datetime.now(UTC))

    def messages(self, *members: str) -> list[dict[str, Any]]:
        with self.lock:
            convo = self.convos.get(frozenset(members))
            return list(convo.messages) if convo else []

    # -- sessions -------------------------------------------------------------------------
    def create_session(self, request: Request) -> Response:
        body = request.json() or {}
        identifier, password = body.get("identifier"), body.get("password")
        with self.lock:
            for account in self.accounts.values():
                if identifier in (account.handle, account.did) and password == account.password:
                    return Response(200, self._issue(account))
        return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")

    def refresh_session(self, request: Request) -> Response:
        with self.lock:
            found = self._bearer(request, "refresh")
            if isinstance(found, Response):
                return found
            del self.tokens[request.headers["authorization"].removeprefix("Bearer ")]
            return Response(200, self._issue(found))

    def _issue(self, account: BskyAccount) -> dict[str, Any]:
        serial = next(self._serial)
        access, refresh = f"access-{serial}-{account.did}", f"refresh-{serial}-{account.did}"
        self.tokens[access] = ("access", account.did)
        self.tokens[refresh] = ("refresh", account.did)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": account.handle,
            "did": account.did,
            "active": True,
        }

    def _bearer(self, request: Request, kind: str = "access") -> BskyAccount | Response:
        """The account a request's token belongs to, or the PDS's refusal."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        found = self.tokens.get(token)
        if found is None or found[0] != kind:
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        if token in self.expired:
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        return self.accounts[found[1]]

    def _authed(self, handler: AccountHandler) -> Handler:
        def run(request: Request) -> Response:
            with self.lock:
                account = self._bearer(request)
                if isinstance(account, Response):
                    return account
                return handler(request, account)

        return run

    # -- reading --------------------------------------------------------------------------
    def notifications(self, request: Request, account: BskyAccount) -> Response:
        reasons = set(request.query.get("reasons", []))
        limit = min(max(int(request.arg("limit", "50")), 1), 100)
        items = sorted(
            (n for n in account.notifications if not reasons or n["reason"] in reasons),
            key=lambda n: (n["indexedAt"], n["uri"]),
            reverse=True,
        )
        cursor = request.arg("cursor")
        if cursor:
            at, _, uri = cursor.partition("::")
            items = [n for n in items if (n["indexedAt"], n["uri"]) < (at, uri)]
        page = items[:limit]
        answer: dict[str, Any] = {"notifications": page, "priority": False}
        if len(page) == limit:
            answer["cursor"] = f"{page[-1]['indexedAt']}::{page[-1]['uri']}"
        return Response(200, answer)

    def get_posts(self, request: Request, account: BskyAccount) -> Response:
        uris = request.query.get("uris", [])
        return Response(200, {"posts": [self.posts[u] for u in uris if u in self.posts]})

    def get_record(self, request: Request) -> Response:
        with self.lock:
            account = self.accounts.get(request.arg("repo"))
            rkey = request.arg("rkey")
            found = account.records.get(rkey) if account else None
            if found is None or request.arg("collection") != POST:
                uri = f"at://{request.arg('repo')}/{request.arg('collection')}/{rkey}"
                return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
            return Response(200, found)

    def get_blob(self, request: Request) -> Response:
        did, cid = request.arg("did"), request.arg("cid")
        with self.lock:
            repo = self.blobs.get(did)
            if repo is None:
                return xrpc_error(400, "RepoNotFound", f"Could not find repo for DID: {did}")
            found = repo.get(cid)
        if found is None:
            return xrpc_error(400, "BlobNotFound", "Blob not found")
        data, mime_type = found
        return Response(200, data, {"Content-Type": mime_type})

    def list_records(self, request: Request) -> Response:
        """The repo's records by key, newest first unless ``reverse``; keyset ``cursor``."""
        ascending = request.arg("reverse") == "true"
        cursor, limit = request.arg("cursor"), int(request.arg("limit", "50"))
        with self.lock:
            account = self.accounts.get(request.arg("repo"))
            if account is None or request.arg("collection") != POST:
                return xrpc_error(400, "InvalidRequest", "Could not find repo or collection")
            keys = sorted(account.records, reverse=not ascending)
            if cursor:
                keys = [k for k in keys if k != cursor and (k > cursor) == ascending]
            page = keys[:limit]
            answer: dict[str, Any] = {"records": [account.records[k] for k in page]}
            if len(page) == limit:
                answer["cursor"] = page[-1]
            return Response(200, answer)

    # -- writing --------------------------------------------------------------------------
    def create_record(self, request: Request, account: BskyAccount) -> Response:
        body = request.json() or {}
        if body.get("repo") not in (account.did, account.handle):
            return xrpc_error(401, "AuthRequired", "Input/repo must be the session's account")
        refused = _invalid_post(body)
        if refused is not None:
            return xrpc_error(400, "InvalidRequest", refused)
        rkey = body.get("rkey") or self._tid(datetime.now(UTC))
        if rkey in account.records:
            return xrpc_error(500, "InternalServerError", "Internal Server Error")
        view = self._index(account.profile, rkey, body["record"], datetime.now(UTC))
        commit = {"cid": fake_cid([view["uri"], "commit"]), "rev": self._tid(datetime.now(UTC))}
        answer = {"uri": view["uri"], "cid": view["cid"], "commit": commit}
        return Response(200, {**answer, "validationStatus": "valid"})

    def _index(
        self, author: dict[str, Any], rkey: str, record: dict[str, Any], at: datetime
    ) -> dict[str, Any]:
        """Put a post in its author's repo (when hosted here) and in the AppView."""
        uri = f"at://{author['did']}/{POST}/{rkey}"
        cid = fake_cid(record)
        view = {
            "uri": uri,
            "cid": cid,
            "author": author,
            "record": record,
            "replyCount": 0,
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": 0,
            "indexedAt": timestamp(at),
            "labels": [],
        }
        self.posts[uri] = view
        hosted = self.accounts.get(author["did"])
        if hosted is not None:
            hosted.records[rkey] = {"uri": uri, "cid": cid, "value": record}
        return view

    def _reply_refs(self, parent_uri: str) -> dict[str, Any]:
        parent = self.posts[parent_uri]
        ref = {"uri": parent["uri"], "cid": parent["cid"]}
        reply = parent["record"].get("reply")
        return {"root": reply["root"] if reply else ref, "parent": ref}

    def _tid(self, at: datetime) -> str:
        micros = int(at.timestamp() * 1_000_000)
        value = (micros << 10) | (next(self._serial) & 0x3FF)
        return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -5, -5))

    # -- chat -----------------------------------------------------------------------------
    def convo_for(self, request: Request, account: BskyAccount) -> Response:
        members = frozenset([account.did, *request.query.get("members", [])])
        convo = self._convo(members)
        view = {
            "id": convo.id,
            "rev": str(len(convo.messages)),
            "members": [{"did": did} for did in sorted(members)],
            "muted": False,
            "unreadCount": 0,
        }
        return Response(200, {"convo": view})

    def send_message(self, request: Request, account: BskyAccount) -> Response:
        body = request.json() or {}
        convo = next((c for c in self.convos.values() if c.id == body.get("convoId")), None)
        if convo is None or account.did not in convo.members:
            return xrpc_error(400, "InvalidConvo", "Convo not found")
        text = (body.get("message") or {}).get("text")
        if not isinstance(text, str) or graphemes.count(text) > 1000:
            return xrpc_error(400, "InvalidRequest", "Input/message/text is invalid")
        return Response(200, self._log_message(convo, account.did, text, datetime.now(UTC)))

    def get_messages(self, request: Request, account: BskyAccount) -> Response:
        convo = next((c for c in self.convos.values() if c.id == request.arg("convoId")), None)
        if convo is None or account.did not in convo.members:
            return xrpc_error(400, "InvalidConvo", "Convo not found")
        limit = int(request.arg("limit", "50"))
        return Response(200, {"messages": list(reversed(convo.messages))[:limit]})

    def get_log(self, request: Request, account: BskyAccount) -> Response:
        """The account's log after ``cursor`` (a revision), oldest first; the answer's
        cursor is the last revision it holds (the one given, when there is nothing new)."""
        after = request.arg("cursor", "")
        logs = [
            entry
            for entry in self.chat_log
            if entry["rev"] > after and account.did in self._members(entry["convoId"])
        ][:LOG_PAGE]
        return Response(200, {"logs": logs, "cursor": logs[-1]["rev"] if logs else after})

    def _convo(self, members: set[str] | frozenset[str]) -> Convo:
        key = frozenset(members)
        convo = self.convos.get(key)
        if convo is None:
            convo = Convo(id=f"convo-{next(self._serial)}", members=key)
            self.convos[key] = convo
        return convo

    def _members(self, convo_id: str) -> frozenset[str]:
        return next((c.members for c in self.convos.values() if c.id == convo_id), frozenset())

    def _log_message(self, convo: Convo, sender: str, text: str, at: datetime) -> dict:
        serial = next(self._serial)
        rev = f"{serial:013d}"
        message = {
            "$type": "chat.bsky.convo.defs#messageView",
            "id": f"msg-{serial}",
            "rev": rev,
            "text": text,
            "sender": {"did": sender},
            "sentAt": timestamp(at),
        }
        convo.messages.append(message)
        self.chat_log.append(
            {
                "$type": "chat.bsky.convo.defs#logCreateMessage",
                "rev": rev,
                "convoId": convo.id,
                "message": message,
            }
        )
        return message

    def _chat(self, handler: AccountHandler) -> Handler:
        """Chat methods exist only behind the PDS's proxy to the chat service."""
        authed = self._authed(handler)

        def run(request: Request) -> Response:
            if request.headers.get("atproto-proxy") != CHAT_PROXY:
                return xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")
            return authed(request)

        return run


def _invalid_post(body: dict[str, Any]) -> str | None:
    """Why the reference PDS's lexicon validation would refuse this post, or None."""
    record = body.get("record")
    if body.get("collection") != POST or not isinstance(record, dict):
        return f"Invalid collection or record: {str(body.get('collection'))[:40]}"
    rkey = body.get("rkey")
    if rkey is not None and not TID.match(str(rkey)):
        return "Invalid record key: app.bsky.feed.post keys must be TIDs"
    text = record.get("text")
    if record.get("$type") != POST or not isinstance(record.get("createdAt"), str):
        return "Invalid app.bsky.feed.post record: $type and createdAt are required"
    if not isinstance(text, str) or graphemes.count(text) > 300 or len(text.encode()) > 3000:
        return (
            "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
        )
    reply = record.get("reply")
    if reply is not None and not _strong_refs(reply):
        return "Invalid app.bsky.feed.post record: Record/reply must have root and parent"
    return None


def _strong_refs(reply: Any) -> bool:
    return isinstance(reply, dict) and all(
        isinstance(reply.get(part), dict)
        and isinstance(reply[part].get("uri"), str)
        and isinstance(reply[part].get("cid"), str)
        for part in ("root", "parent")
    )
