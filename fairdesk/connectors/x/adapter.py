"""X (Twitter) Account Activity API: CRC challenge, signature check, payload parsing.

Built against the documented protocol. The CRC ``response_token`` and the
``x-twitter-webhooks-signature`` header are both ``sha256=`` + base64 of an HMAC-SHA256
keyed with the app's consumer secret (of the ``crc_token``; of the raw request body).
X delivers text HTML-escaped (``&amp;``, ``&lt;``, ``&gt;``); it is stored unescaped, as
the customer wrote it (and as the v2 API poll stores it), and escaped again where shown.
Every value in a payload is hostile input; each record returned has passed
``InterchangeMessage`` validation.

Photos, videos and GIFs of a tweet become attachment links for the media worker
(``extended_entities.media[]``, developer.x.com data dictionary "extended entities"): a
photo's ``media_url_https``, a video's or animated GIF's best-bitrate ``video/mp4``
variant in ``video_info.variants[]``. Media in direct messages are not fetched: X serves
them from ``ton.twitter.com`` only to an OAuth 1.0a signed request of the recipient's
account, and the media worker fetches links without credentials (by design: a URL from
a payload never gets our tokens), so such a link could only fail. The DM's text keeps
the media's t.co link for the agent.
"""

import base64
import hashlib
import hmac
import html
from datetime import UTC, datetime
from typing import Any

from fairdesk.connectors.payloads import PayloadError, dicts, interchange, media_links, objects

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
        "attachments": tweet_media(tweet),
    }


def tweet_media(tweet: dict[str, Any]) -> list[dict[str, str]]:
    """Attachment links for a v1.1 tweet's native media. A long tweet delivered in
    compatibility mode carries them in ``extended_tweet``; a malformed item is left out."""
    extended = tweet.get("extended_tweet")
    holder = extended if isinstance(extended, dict) and "extended_entities" in extended else tweet
    entities = holder.get("extended_entities")
    media = dicts(entities.get("media")) if isinstance(entities, dict) else []
    return media_links(_media_link(item) for item in media)


def _media_link(item: dict[str, Any]) -> tuple[tuple[Any, ...], Any]:
    """A photo's image; a video's or GIF's mp4, else its still (``media_url_https``)."""
    kind = item.get("type")
    video = None
    if kind in ("video", "animated_gif"):
        info = item.get("video_info")
        video = best_variant(info.get("variants") if isinstance(info, dict) else None, "bitrate")
    return (video, item.get("media_url_https")), kind


def best_variant(variants: Any, rate_key: str) -> str | None:
    """The URL of the highest-bitrate ``video/mp4`` variant (an animated GIF's single
    variant has bitrate 0); None when there is none (HLS playlists are not files)."""
    best: tuple[int, str] | None = None
    for variant in dicts(variants):
        url, rate = variant.get("url"), variant.get(rate_key, 0)
        if variant.get("content_type") != "video/mp4" or not isinstance(url, str):
            continue
        if isinstance(rate, bool) or not isinstance(rate, int):
            rate = 0
        if best is None or rate > best[0]:
            best = (rate, url)
    return best[1] if best else None


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
