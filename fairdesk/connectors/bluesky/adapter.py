"""Bluesky (AT Protocol, ``app.bsky`` lexicons): notifications in, posts and messages out.

Built against the lexicons in bluesky-social/atproto (``lexicons/``):
``app.bsky.notification.listNotifications`` (newest first; ``cursor`` pages to OLDER
notifications; ``reasons`` filter), ``app.bsky.feed.post`` (record key type ``tid``;
``text`` at most 300 graphemes / 3,000 UTF-8 bytes; ``reply`` = ``{root, parent}``
``com.atproto.repo.strongRef`` pairs), ``app.bsky.feed.getPosts`` (``postView``),
``chat.bsky.convo.defs#messageInput`` (1,000 graphemes / 10,000 bytes), and the atproto
specs for TIDs and record keys (atproto.com/specs/tid, /specs/record-key).

Pure functions, no HTTP: ``read_page`` turns one page of notifications and the channel's
cursor into interchange records and the next cursor; the rest builds what is posted.

A post's images and video become attachment links for the media worker. A notification
carries the post *record*, whose ``embed`` (``app.bsky.embed.images``: ``images[].image``;
``app.bsky.embed.video``: ``video``; ``app.bsky.embed.recordWithMedia``: the same in
``media``) holds blob references (``ref.$link``, the blob's CID; ``cid`` in legacy
blobs), fetched with ``com.atproto.sync.getBlob?did=<author>&cid=<cid>`` on the channel's
service host. The bsky.social entryway answers that for every account Bluesky hosts by
redirecting to the account's PDS (which the fetcher follows, checking each hop); an
author on a PDS elsewhere gets a failed fetch and its "could not fetch" note, as
resolving each author's DID document to find their PDS is not done. A hydrated view
(``app.bsky.embed.images#view``) names its images' ``fullsize`` (else ``thumb``) CDN
URLs, used as they are; a video view only has an HLS playlist, which is not a file.

Every value in a payload is hostile input; each record returned has passed
``InterchangeMessage`` validation.
"""

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fairdesk.connectors.base import PermanentSendError
from fairdesk.connectors.bluesky import graphemes
from fairdesk.connectors.payloads import PayloadError, dicts, interchange, media_links, objects

logger = logging.getLogger(__name__)

CHANNEL = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
# Customers addressing the brand: a mention, a reply in one of its threads, a quote of
# one of its posts (often a complaint about an answer). Likes, reposts, follows are not.
WANTED_REASONS = ("mention", "reply", "quote")
PAGE_SIZE = 50  # the lexicon's default page; at most 100
MAX_POST_GRAPHEMES, MAX_POST_BYTES = 300, 3000
MAX_MESSAGE_GRAPHEMES, MAX_MESSAGE_BYTES = 1000, 10_000
# ``record.createdAt`` is chosen by the author's client; the AppView's ``indexedAt`` is
# not. A client time that disagrees with the server by more than this is not believed,
# so a back-dated post cannot jump the queue (deadlines count from when a customer asked).
MAX_CLOCK_SKEW = timedelta(minutes=10)
MAX_NAME_CHARS = 320  # the interchange format's cap on a display name
MAX_MARK_URIS = 200
EMBED_IMAGES, EMBED_VIDEO = "app.bsky.embed.images", "app.bsky.embed.video"
EMBED_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"
VIEW = "#view"
CID = re.compile(r"[A-Za-z0-9]{8,256}")  # multibase: base32 (b…) or base58btc (z…/Qm…)
DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}")

AT_URI_POST = re.compile(
    r"^at://(?P<did>did:[a-z]+:[A-Za-z0-9._:%-]{1,2000})/app\.bsky\.feed\.post/"
    r"(?P<rkey>[A-Za-z0-9._:~-]{1,512})$"
)
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# Record keys derived from idempotency keys carry a timestamp between these instants
# (2023-01-01 plus 2**46 µs, about 26 months): always a valid TID, never in the future.
TID_EPOCH_US = 1_672_531_200_000_000
TID_SPAN_US = 2**46


# -- reading notifications ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """A point in the notification stream: an ``indexedAt`` and the uris seen at it."""

    at: datetime
    uris: frozenset[str] = frozenset()

    def before(self, at: datetime, uri: str) -> bool:
        """Whether the notification (``at``, ``uri``) is newer than this mark."""
        return at > self.at or (at == self.at and uri not in self.uris)

    def merged(self, other: "Mark | None") -> "Mark":
        """The later of two marks; at the same instant, every uri of both."""
        if other is None or self.at > other.at:
            return self
        if other.at > self.at:
            return other
        return Mark(self.at, frozenset(sorted(self.uris | other.uris)[:MAX_MARK_URIS]))

    def as_json(self) -> dict[str, Any]:
        return {"indexed_at": self.at.isoformat(), "uris": sorted(self.uris)}

    @classmethod
    def from_json(cls, data: Any) -> "Mark":
        if not isinstance(data, dict) or not isinstance(data.get("uris"), list):
            raise PayloadError("cursor mark is not an object with uris")
        return cls(_time(data.get("indexed_at")), frozenset(str(u) for u in data["uris"]))


@dataclass(frozen=True, slots=True)
class PollState:
    """The channel cursor. ``seen``: the newest notification stored. While a backlog
    larger than one page is read (``catchup`` in the JSON), ``page`` is the platform's
    cursor of the next, older page and ``top`` the mark the channel will have seen once
    the backlog is done; each page is stored with its cursor, so a crash resumes there."""

    seen: Mark | None = None
    page: str = ""
    top: Mark | None = None

    @classmethod
    def from_cursor(cls, cursor: dict[str, Any]) -> "PollState":
        if "seen" not in cursor:  # nothing stored yet (the chat log has its own key)
            return cls()
        seen = Mark.from_json(cursor.get("seen"))
        catchup = cursor.get("catchup")
        if catchup is None:
            return cls(seen=seen)
        if not isinstance(catchup, dict) or not isinstance(catchup.get("page"), str):
            raise PayloadError("cursor catchup is not an object with a page")
        return cls(seen=seen, page=catchup["page"], top=Mark.from_json(catchup.get("top")))

    def as_cursor(self) -> dict[str, Any]:
        if self.seen is None:
            return {}
        cursor: dict[str, Any] = {"seen": self.seen.as_json()}
        if self.page and self.top is not None:
            cursor["catchup"] = {"page": self.page, "top": self.top.as_json()}
        return cursor


@dataclass(slots=True)
class PageResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    state: PollState = field(default_factory=PollState)
    more: bool = False


def read_page(
    payload: Any,
    state: PollState,
    *,
    brand_did: str,
    brand_handle: str | None,
    service_url: str = "",
) -> PageResult:
    """The new mentions, replies and quotes on one page, and where to go next.

    A page that reaches what ``state`` has already seen (or the end of the stream)
    finishes the round: the cursor becomes the newest mark read. A page that is all new
    leaves more to read further back: the cursor keeps the old mark and the next page.
    On the very first poll (no mark) only the newest page is read. Notifications
    already seen (at or before the mark, or at its instant with a uri it lists) are left
    out here, so an overlap is never handed to the store again. ``service_url`` is where
    blobs are fetched from (without it, only hydrated views give media links).
    """
    if not isinstance(payload, dict):
        raise PayloadError("answer is not a JSON object")
    notifications = [_dated(n) for n in objects(payload, "notifications")]
    dated = [(at, n) for at, n in notifications if at is not None]
    seen = state.seen
    fresh = [n for at, n in dated if seen is None or seen.before(at, n["uri"])]
    newest = _newest(dated)
    # Catching up, the mark to end on was fixed by the first (newest) page of the round.
    top = state.top if state.top is not None else (newest.merged(seen) if newest else seen)
    next_page = payload.get("cursor")
    next_page = next_page if isinstance(next_page, str) else ""
    reached = seen is None or not next_page or len(fresh) < len(dated) or not dated
    records = parse(fresh, brand_did=brand_did, brand_handle=brand_handle, service_url=service_url)
    if reached:
        # A finished catch-up looks at the newest page once more: what arrived meanwhile.
        return PageResult(records=records, state=PollState(seen=top), more=bool(state.top))
    return PageResult(
        records=records, state=PollState(seen=seen, page=next_page, top=top), more=True
    )


def parse(
    notifications: list[dict[str, Any]],
    *,
    brand_did: str,
    brand_handle: str | None,
    service_url: str = "",
) -> list[dict[str, Any]]:
    """Interchange records (DESIGN section 10) for the wanted notifications.

    A notification that does not have the documented shape is logged and skipped: one
    malformed item must not stop the channel from ever moving past it.
    """
    records = []
    for notification in notifications:
        if notification.get("reason") not in WANTED_REASONS:
            continue
        try:
            raw = _post_record(
                notification,
                brand_did=brand_did,
                brand_handle=brand_handle,
                service_url=service_url,
            )
            records.extend(interchange([raw]))
        except (PayloadError, KeyError, TypeError, ValueError, AttributeError) as exc:
            uri = str(notification.get("uri"))[:120]
            logger.warning("skipping malformed Bluesky notification %s: %s", uri, exc)
    return records


def _post_record(
    notification: dict[str, Any], *, brand_did: str, brand_handle: str | None, service_url: str
) -> dict[str, Any]:
    record, author = notification["record"], notification["author"]
    if not isinstance(record, dict) or record.get("$type") != POST_COLLECTION:
        raise PayloadError("the notification's record is not a post")
    did = _text(author["did"])
    handle = _text(author.get("handle"))
    outbound = did == brand_did
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, dict) else None
    return {
        "channel": CHANNEL,
        "external_id": _text(notification["uri"]),
        "direction": "outbound" if outbound else "inbound",
        "visibility": "public",
        "created_at": _created_at(record.get("createdAt"), notification["indexedAt"]),
        "author": {
            "external_id": did,
            "handle": "@" + handle if handle else "",
            "display_name": _text(author.get("displayName"))[:MAX_NAME_CHARS],
            "followers": None,  # a notification's profileView carries no follower count
        },
        "text": _text(record.get("text")),
        "in_reply_to": (_text(parent.get("uri")) or None) if isinstance(parent, dict) else None,
        "brand_handle": ("@" + handle if handle else brand_handle) if outbound else brand_handle,
        "attachments": post_media(record.get("embed"), did=did, service_url=service_url),
    }


def post_media(embed: Any, *, did: str, service_url: str) -> list[dict[str, str]]:
    """Attachment links for a post's embedded images and video (see the module's notes);
    an embed of another kind or a malformed one gives none, never an error."""
    if not isinstance(embed, dict):
        return []
    kind = embed.get("$type")
    if kind in (EMBED_RECORD_WITH_MEDIA, EMBED_RECORD_WITH_MEDIA + VIEW):
        embed = embed.get("media")  # images or video (or an external link card)
        if not isinstance(embed, dict):
            return []
        kind = embed.get("$type")
    if kind == EMBED_IMAGES:
        images = dicts(embed.get("images"))
        return media_links((_blob_url(i.get("image"), did, service_url), "image") for i in images)
    if kind == EMBED_IMAGES + VIEW:
        images = dicts(embed.get("images"))
        return media_links(((i.get("fullsize"), i.get("thumb")), "image") for i in images)
    if kind == EMBED_VIDEO:
        return media_links([(_blob_url(embed.get("video"), did, service_url), "video")])
    return []


def _blob_url(blob: Any, did: str, service_url: str) -> str | None:
    """``com.atproto.sync.getBlob`` of a blob of ``did``'s repo on ``service_url``."""
    if not isinstance(blob, dict) or not service_url or not DID.fullmatch(did):
        return None
    ref = blob.get("ref")
    cid = ref.get("$link") if isinstance(ref, dict) else blob.get("cid")  # legacy blob
    if not isinstance(cid, str) or not CID.fullmatch(cid):
        return None
    query = urlencode({"did": did, "cid": cid}, safe=":")
    return f"{service_url.rstrip('/')}/xrpc/com.atproto.sync.getBlob?{query}"


# -- reading chat ---------------------------------------------------------------------

CHAT_CURSOR_KEY = "chat"
LOG_CREATE_MESSAGE = "chat.bsky.convo.defs#logCreateMessage"
MESSAGE_VIEW = "chat.bsky.convo.defs#messageView"


@dataclass(slots=True)
class ChatPage:
    records: list[dict[str, Any]] = field(default_factory=list)
    rev: str = ""  # the log cursor to pass next ("" while nothing was ever logged)


def read_chat_log(payload: Any, rev: str, *, brand_did: str, brand_handle: str | None) -> ChatPage:
    """Customers' messages to the brand in one page of ``chat.bsky.convo.getLog`` (the
    account's log of every conversation after ``cursor``), and the cursor to pass next.

    The brand's own messages are left out: each reply Fairdesk sent is on its case already
    under the same ``chat:<convo>:<message>`` id. Deletions, reactions and conversation
    starts are not messages. A malformed entry is logged and skipped, like a malformed
    notification, so the log can always move past it.
    """
    if not isinstance(payload, dict):
        raise PayloadError("answer is not a JSON object")
    records = []
    for log in objects(payload, "logs"):
        message = log.get("message")
        if log.get("$type") != LOG_CREATE_MESSAGE or not isinstance(message, dict):
            continue
        if message.get("$type", MESSAGE_VIEW) != MESSAGE_VIEW:
            continue
        try:
            raw = _chat_record(log, message, brand_did=brand_did, brand_handle=brand_handle)
            if raw is not None:
                records.extend(interchange([raw]))
        except (PayloadError, KeyError, TypeError, ValueError, AttributeError) as exc:
            logger.warning("skipping malformed Bluesky chat log entry: %s", exc)
    after = payload.get("cursor")
    return ChatPage(records=records, rev=after if isinstance(after, str) and after else rev)


def _chat_record(
    log: dict[str, Any], message: dict[str, Any], *, brand_did: str, brand_handle: str | None
) -> dict[str, Any] | None:
    did = _text(message["sender"]["did"])
    if did == brand_did:
        return None
    convo_id, message_id = _text(log["convoId"]), _text(message["id"])
    if not convo_id or not message_id:
        raise PayloadError("a chat message without its conversation or id")
    return {
        "channel": CHANNEL,
        "external_id": f"chat:{convo_id}:{message_id}",
        "direction": "inbound",
        "visibility": "private",
        # ``sentAt`` is stamped by the chat service, not by the sender's client.
        "created_at": _time(message["sentAt"]).isoformat(),
        "author": {"external_id": did, "handle": "", "display_name": "", "followers": None},
        "text": _text(message.get("text")),
        "in_reply_to": None,
        "brand_handle": brand_handle,
    }


def _created_at(created: Any, indexed: str) -> str:
    """The author's ``createdAt`` when it agrees with ``indexedAt``, else ``indexedAt``."""
    indexed_at = _time(indexed)
    try:
        created_at = _time(created)
    except PayloadError:
        return indexed_at.isoformat()
    if indexed_at - MAX_CLOCK_SKEW <= created_at <= indexed_at:
        return created_at.isoformat()
    return indexed_at.isoformat()


def _dated(notification: dict[str, Any]) -> tuple[datetime | None, dict[str, Any]]:
    """A notification with its ``indexedAt``; None where it has no usable time or uri."""
    if not isinstance(notification.get("uri"), str):
        return None, notification
    try:
        return _time(notification.get("indexedAt")), notification
    except PayloadError:
        logger.warning("skipping Bluesky notification without indexedAt")
        return None, notification


def _newest(dated: list[tuple[datetime, dict[str, Any]]]) -> Mark | None:
    if not dated:
        return None
    newest = max(at for at, _ in dated)
    uris = sorted(n["uri"] for at, n in dated if at == newest)
    return Mark(newest, frozenset(uris[:MAX_MARK_URIS]))


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PayloadError("a datetime is not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError(f"not a datetime: {value[:40]!r}") from exc
    if parsed.tzinfo is None:
        raise PayloadError(f"datetime without a time zone: {value[:40]!r}")
    return parsed.astimezone(UTC)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError("a text field is not a string")
    return value


# -- posting --------------------------------------------------------------------------


def check_length(text: str, *, graphemes_max: int, bytes_max: int, what: str) -> None:
    """Refuse a text the platform would refuse; it is never truncated."""
    used = graphemes.count(text)
    if used > graphemes_max:
        raise PermanentSendError(
            f"a Bluesky {what} holds at most {graphemes_max} characters; this one has {used}"
        )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > bytes_max:
        raise PermanentSendError(
            f"a Bluesky {what} holds at most {bytes_max} bytes; this one has {size}"
        )


def record_key(*, workspace_id: int, idempotency_key: str) -> str:
    """A TID record key derived from the reply's idempotency key.

    The same reply always gets the same key, so a second attempt after a crash names
    the record the first attempt created: the PDS refuses a second record at that key,
    and ``com.atproto.repo.getRecord`` finds the first. ``app.bsky.feed.post`` records
    must have TID keys: 13 base32-sortable characters of a 64-bit integer whose top bit
    is 0, then 53 bits of microseconds, then a 10-bit clock id.
    """
    material = f"fairdesk bluesky reply\x00{workspace_id}\x00{idempotency_key}".encode()
    number = int.from_bytes(hashlib.sha256(material).digest()[:8], "big")
    micros = TID_EPOCH_US + (number >> 10) % TID_SPAN_US
    value = (micros << 10) | (number & 0x3FF)
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -5, -5))


def parse_post_uri(uri: str) -> tuple[str, str]:
    """The (did, rkey) of a post's at-uri, or ``PermanentSendError``."""
    match = AT_URI_POST.match(uri)
    if match is None:
        raise PermanentSendError(f"{uri[:80]!r} is not the at:// uri of a Bluesky post")
    return match["did"], match["rkey"]


def reply_ref(posts: dict[str, Any], parent_uri: str) -> dict[str, Any]:
    """The ``reply`` of a post answering ``parent_uri``, from a ``getPosts`` answer.

    The parent is the post answered; the root is the parent's own root when the parent
    is itself a reply, else the parent.
    """
    view = next((v for v in objects(posts, "posts") if v.get("uri") == parent_uri), None)
    if view is None:
        raise PermanentSendError("the post being answered is deleted or not visible")
    parent = _strong_ref(view)
    record = view.get("record")
    reply = record.get("reply") if isinstance(record, dict) else None
    root = _strong_ref(reply["root"]) if isinstance(reply, dict) and "root" in reply else parent
    return {"root": root, "parent": parent}


def _strong_ref(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        raise PayloadError("a post reference is not an object")
    uri, cid = data.get("uri"), data.get("cid")
    if not isinstance(uri, str) or not isinstance(cid, str) or not uri or not cid:
        raise PayloadError("a post reference lacks its uri or cid")
    return {"uri": uri, "cid": cid}


def post_record(text: str, *, reply: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": text,
        "createdAt": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if reply is not None:
        record["reply"] = reply
    return record
