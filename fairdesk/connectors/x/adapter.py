"""X (Twitter) Account Activity API: CRC challenge, signature check, payload parsing.

Built against the documented protocol. The CRC ``response_token`` and the
``x-twitter-webhooks-signature`` header are both ``sha256=`` + base64 of an HMAC-SHA256
keyed with the app's consumer secret (of the ``crc_token``; of the raw request body).
X delivers text HTML-escaped (``&amp;``, ``&lt;``, ``&gt;``); it is stored unescaped, as
the customer wrote it (and as the v2 API poll stores it), and escaped again where shown.
Every value in a payload is hostile input; each record returned has passed
``InterchangeMessage`` validation.
"""

import base64
import hashlib
import hmac
import html
from datetime import UTC, datetime
from typing import Any

from fairdesk.connectors.payloads import PayloadError, interchange, objects

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
TWEET_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"


def _sign(consumer_secret: str, message: bytes) -> str:
    digest = hmac.new(consumer_secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    return {"response_token": _sign(consumer_secret, crc_token.encode())}


def verify_signature(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of the body's signature; no secret or no header never verifies."""
    if not consumer_secret or not header:
        return False
    return hmac.compare_digest(_sign(consumer_secret, body).encode(), header.strip().encode())


def parse(
    payload: Any, *, brand_user_id: str, brand_handle: str | None = None
) -> list[dict[str, Any]]:
    """Interchange records (DESIGN section 10) for the tweets and DMs in one delivery.

    Other event kinds (favorites, follows, typing, …) are ignored. A delivery for another
    account than ``brand_user_id`` is refused: it is not this channel's.
    """
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    if str(payload.get("for_user_id", "")) != brand_user_id:
        raise PayloadError("for_user_id is not this channel's account")
    handle = brand_handle or None
    raw: list[dict[str, Any]] = []
    try:
        for tweet in objects(payload, "tweet_create_events"):
            if "retweeted_status" not in tweet:
                raw.append(_tweet_record(tweet, brand_user_id=brand_user_id, brand_handle=handle))
        users = payload.get("users") or {}
        for event in objects(payload, "direct_message_events"):
            if event.get("type") == "message_create":
                raw.append(
                    _dm_record(event, users, brand_user_id=brand_user_id, brand_handle=handle)
                )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PayloadError(f"malformed event: {type(exc).__name__} {str(exc)[:80]}") from exc
    return interchange(raw)


def _author(user: dict[str, Any]) -> dict[str, Any]:
    screen_name = user.get("screen_name") or ""
    return {
        "external_id": str(user["id_str"] if "id_str" in user else user["id"]),
        "handle": "@" + screen_name if screen_name else "",
        "display_name": user.get("name") or "",
        "followers": user.get("followers_count"),
    }


def _tweet_record(
    tweet: dict[str, Any], *, brand_user_id: str, brand_handle: str | None
) -> dict[str, Any]:
    author = _author(tweet["user"])
    outbound = author["external_id"] == brand_user_id
    extended = tweet.get("extended_tweet") or {}
    text = extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or ""
    created = datetime.strptime(tweet["created_at"], TWEET_TIME_FORMAT)
    return {
        "channel": "x",
        "external_id": str(tweet["id_str"]),
        "direction": "outbound" if outbound else "inbound",
        "visibility": "public",
        "created_at": created.isoformat(),
        "author": author,
        "text": html.unescape(text),
        "in_reply_to": tweet.get("in_reply_to_status_id_str") or None,
        "brand_handle": (author["handle"] or brand_handle) if outbound else brand_handle,
    }


def _dm_record(
    event: dict[str, Any],
    users: dict[str, Any],
    *,
    brand_user_id: str,
    brand_handle: str | None,
) -> dict[str, Any]:
    create = event["message_create"]
    sender_id = str(create["sender_id"])
    user = users.get(sender_id) or {"id_str": sender_id}
    author = _author(user)
    outbound = sender_id == brand_user_id
    created = datetime.fromtimestamp(int(event["created_timestamp"]) / 1000, tz=UTC)
    return {
        "channel": "x",
        "external_id": "dm-" + str(event["id"]),
        "direction": "outbound" if outbound else "inbound",
        "visibility": "private",
        "created_at": created.isoformat(),
        "author": author,
        "text": html.unescape(create["message_data"]["text"]),
        "in_reply_to": None,
        "brand_handle": (author["handle"] or brand_handle) if outbound else brand_handle,
    }
