"""Meta Graph webhooks (Facebook Pages, Messenger, Instagram): verification, signature, parsing.

Built against the documented protocol. Subscribing, Meta sends a GET with ``hub.mode``
(``subscribe``), ``hub.verify_token`` (the token configured for this channel) and
``hub.challenge`` (echoed back). Every POST carries ``X-Hub-Signature-256``:
``sha256=`` + hex of an HMAC-SHA256 of the raw body keyed with the app secret. A
delivery is ``{"object": "page" | "instagram", "entry": [...]}``; each entry may hold
several ``messaging`` events (Messenger and Instagram DMs) and ``changes`` (Page feed and
Instagram comments). Every value is hostile input; each record returned has passed
``InterchangeMessage`` validation.
"""

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from fairdesk.connectors.payloads import PayloadError, interchange, media_links, objects

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Page feed items that are something a person wrote: comments, and posts on the Page,
# which Meta announces by kind (a text post is "status", a photo post "photo", …).
FEED_ITEMS = frozenset({"comment", "post", "status", "photo", "video", "share", "link"})
MAX_CHALLENGE_CHARS = 200


def verify_subscription(configured_token: str, mode: str, token: str) -> bool:
    """The ``hub.*`` handshake: constant-time; an empty configured token never verifies."""
    if not configured_token or mode != "subscribe":
        return False
    return hmac.compare_digest(configured_token.encode(), token.encode())


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of the body's signature; no secret or no header never verifies."""
    if not app_secret or not header:
        return False
    return hmac.compare_digest(sign(app_secret, body).encode(), header.strip().lower().encode())


def parse(
    payload: Any,
    *,
    page_id: str,
    instagram_account_id: str | None = None,
    page_name: str | None = None,
    instagram_username: str | None = None,
) -> list[dict[str, Any]]:
    """Interchange records (DESIGN section 10) for every event of every entry.

    Entries of another account than this channel's page or Instagram account are not
    this channel's and are skipped; unknown objects, fields and event kinds are ignored.
    """
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    kind = payload.get("object")
    if kind == "page":
        account, brand = page_id, page_name or None
    elif kind == "instagram" and instagram_account_id:
        account, brand = instagram_account_id, instagram_username or None
    else:
        return []
    raw: list[dict[str, Any]] = []
    try:
        for entry in objects(payload, "entry"):
            if str(entry.get("id", "")) != account:
                continue
            raw.extend(_entry_records(entry, kind=kind, account=account, brand=brand))
    except PayloadError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise PayloadError(f"malformed event: {type(exc).__name__} {str(exc)[:80]}") from exc
    return interchange(raw)


def _entry_records(
    entry: dict[str, Any], *, kind: str, account: str, brand: str | None
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for event in objects(entry, "messaging"):
        message = event.get("message")
        if isinstance(message, dict) and not message.get("is_deleted"):
            records.append(_dm_record(event, message, kind=kind, account=account, brand=brand))
    for change in objects(entry, "changes"):
        value = change.get("value")
        if not isinstance(value, dict):
            continue
        field = change.get("field")
        if kind == "page" and field == "feed" and value.get("verb", "add") == "add":
            if value.get("item") in FEED_ITEMS:
                records.append(_feed_record(value, account=account, brand=brand))
        elif kind == "instagram" and field == "comments":
            records.append(_ig_comment_record(value, entry, account=account, brand=brand))
    return records


def timestamp(value: Any) -> datetime:
    """Meta sends Unix seconds, Unix milliseconds or ISO 8601 (``+0000``); always UTC-aware."""
    if isinstance(value, bool):
        raise ValueError("timestamp is a boolean")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, tz=UTC)
    return datetime.strptime(str(value)[:40], "%Y-%m-%dT%H:%M:%S%z")


def _record(
    *,
    channel: str,
    external_id: str,
    author_id: str,
    outbound: bool,
    brand: str | None,
    visibility: str,
    created: datetime,
    text: str,
    in_reply_to: str | None = None,
    handle: str = "",
    display_name: str = "",
) -> dict[str, Any]:
    return {
        "channel": channel,
        "external_id": external_id,
        "direction": "outbound" if outbound else "inbound",
        "visibility": visibility,
        "created_at": created.isoformat(),
        "author": {"external_id": author_id, "handle": handle, "display_name": display_name},
        "text": text,
        "in_reply_to": in_reply_to or None,
        "brand_handle": brand,
    }


def _dm_record(
    event: dict[str, Any], message: dict[str, Any], *, kind: str, account: str, brand: str | None
) -> dict[str, Any]:
    """A Messenger or Instagram DM; an echo (``is_echo``) is the account's own reply."""
    sender = str(event["sender"]["id"])
    text = message.get("text") or " ".join(
        f"[{a.get('type') or 'attachment'}]" for a in objects(message, "attachments")
    )
    mid = str(message["mid"])
    reply_to = (message.get("reply_to") or {}).get("mid")
    if reply_to is not None and kind != "page":
        reply_to = "dm-" + str(reply_to)
    outbound = bool(message.get("is_echo")) or sender == account
    record = _record(
        channel="messenger" if kind == "page" else "instagram",
        # Instagram comments and DMs share the "instagram" channel: keep DM ids apart.
        external_id=mid if kind == "page" else "dm-" + mid,
        author_id=sender,
        outbound=outbound,
        brand=brand,
        visibility="private",
        created=timestamp(event["timestamp"]),
        text=str(text),
        in_reply_to=None if reply_to is None else str(reply_to),
    )
    recipient = event.get("recipient")
    if outbound and isinstance(recipient, dict) and recipient.get("id"):
        # Whom the Page wrote to: for the echo of a private reply to a comment, the only
        # place Meta names the commenter's Messenger id (PSID), where they will answer.
        record["recipient"] = str(recipient["id"])
    links = attachment_links(message)
    if links:
        record["attachments"] = links
    return record


def attachment_links(message: dict[str, Any]) -> list[dict[str, str]]:
    """``message.attachments[].payload.url`` of a Messenger or Instagram DM (images,
    video, audio, files), for the media worker to fetch: ``payloads.media_links`` keeps
    http(s) links only, at most ten; anything else (a sticker id, a location, a malformed
    value, a control character) is left out."""
    return media_links(
        (
            (a.get("payload") or {}).get("url") if isinstance(a.get("payload"), dict) else None,
            a.get("type"),
        )
        for a in objects(message, "attachments")
    )


def _feed_record(value: dict[str, Any], *, account: str, brand: str | None) -> dict[str, Any]:
    """A Page feed comment (or visitor post); a comment answers its parent, else the post."""
    sender = value["from"]
    is_comment = value["item"] == "comment"
    parent = (value.get("parent_id") or value.get("post_id")) if is_comment else None
    return _record(
        channel="facebook",
        external_id=str(value["comment_id"] if is_comment else value["post_id"]),
        author_id=str(sender["id"]),
        outbound=str(sender["id"]) == account,
        brand=brand,
        visibility="public",
        created=timestamp(value["created_time"]),
        text=str(value.get("message") or ""),
        in_reply_to=None if parent is None else str(parent),
        display_name=str(sender.get("name") or ""),
    )


def _ig_comment_record(
    value: dict[str, Any], entry: dict[str, Any], *, account: str, brand: str | None
) -> dict[str, Any]:
    """An Instagram comment; it carries no time of its own, so the entry's time is used."""
    sender = value["from"]
    username = str(sender.get("username") or "")
    parent = value.get("parent_id") or (value.get("media") or {}).get("id")
    return _record(
        channel="instagram",
        external_id=str(value["id"]),
        author_id=str(sender["id"]),
        outbound=str(sender["id"]) == account,
        brand=brand,
        visibility="public",
        created=timestamp(entry["time"]),
        text=str(value.get("text") or ""),
        in_reply_to=None if parent is None else str(parent),
        handle="@" + username if username else "",
    )
