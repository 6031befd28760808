"""The demo stream as the platforms would send it: ids, webhook bodies, notifications.

``on_platforms`` gives each record of the stream (``stream.py``) the ids its platform
gives it (``platform_ids.py``). The builders below turn such records into what the
platform delivers, in the documented shapes the connectors parse, as in the connectors'
recorded fixtures:

- X Account Activity: ``{"for_user_id", "tweet_create_events": [...]}`` with v1.1 tweet
  objects (``created_at`` like ``Mon Nov 02 09:14:00 +0000 2026``, text HTML-escaped, a
  text over 140 characters ``truncated`` with ``extended_tweet.full_text``) and
  ``{"for_user_id", "direct_message_events": [...], "users": {...}}``
  (developer.x.com account-activity-api "Account Activity data objects").
- Meta Graph webhooks: ``{"object": "page", "entry": [{"id", "time", "changes": [{"field":
  "feed", "value": {...}}]}]}`` (a visitor post is item ``status``, a comment item
  ``comment``) and ``{"object": "instagram", ...}`` with ``comments`` changes (``from``
  ``{id, username}``, ``media``, ``id``, ``text``, ``parent_id``)
  (developers.facebook.com graph-api/webhooks/reference/page and /instagram).
- Mastodon: a ``mention`` Notification with its Status and Account entities, content as
  HTML (docs.joinmastodon.org/entities/Notification).
- Bluesky: the author's ``profileView`` for ``app.bsky.feed.post`` posts the stand-in
  indexes (atproto lexicons).
"""

import html
import re
from datetime import UTC, datetime
from typing import Any

from fairdesk.demo import platform_ids as ids
from fairdesk.demo.stream import Record

X_TIME_FORMAT = "%a %b %d %H:%M:%S +0000 %Y"
X_SHORT_TEXT = 140
BRAND_HANDLES = {
    "x": "@" + ids.X_BRAND_USERNAME,
    "instagram": "@" + ids.INSTAGRAM_USERNAME,
    "mastodon": "@" + ids.MASTODON_ACCT,
    "bluesky": "@" + ids.BLUESKY_HANDLE,
}


def created(record: Record) -> datetime:
    return datetime.fromisoformat(str(record["created_at"]).replace("Z", "+00:00"))


def is_brand(record: Record) -> bool:
    return bool(record["author"]["external_id"] == ids.BRAND_KEY)


# -- ids ------------------------------------------------------------------------------
def on_platforms(records: list[Record]) -> list[Record]:
    """``records`` with the ids their platforms give them (other channels unchanged).

    A Bluesky reply's parent is named by its uri, which holds its author's DID: it must
    come earlier in ``records`` (the stream puts every reply right after its parent).
    """
    uris: dict[str, str] = {}
    translated = []
    for record in records:
        found = _with_ids(record, uris)
        if record["channel"] == "bluesky":
            uris[record["external_id"]] = found["external_id"]
        translated.append(found)
    return translated


def _with_ids(record: Record, uris: dict[str, str]) -> Record:
    channel, key, parent = record["channel"], record["external_id"], record["in_reply_to"]
    author_key = record["author"]["external_id"]
    if channel == "x":
        private = record["visibility"] == "private"
        external_id = "dm-" + ids.x_dm_event_id(key) if private else ids.x_tweet_id(key)
        reply_to = ids.x_tweet_id(parent) if parent else None
        author_id = ids.x_user_id(author_key)
    elif channel == "facebook":
        post = ids.facebook_post_id(parent or key)
        external_id = ids.facebook_comment_id(post, key) if parent else post
        reply_to = post if parent else None
        author_id = ids.PAGE_ID if is_brand(record) else ids.meta_user_id(author_key)
    elif channel == "instagram":
        external_id = ids.instagram_comment_id(key)
        reply_to = ids.instagram_comment_id(parent) if parent else ids.INSTAGRAM_MEDIA_ID
        author_id = ids.INSTAGRAM_ACCOUNT_ID if is_brand(record) else ids.meta_user_id(author_key)
    elif channel == "mastodon":
        external_id = ids.mastodon_status_id(key)
        reply_to = ids.mastodon_status_id(parent) if parent else None
        author_id = ids.mastodon_account_id(author_key)
    elif channel == "bluesky":
        external_id = ids.bluesky_uri(author_key, key)
        reply_to = uris[parent] if parent else None
        author_id = ids.bluesky_did(author_key)
    else:
        return record
    return _renamed(record, external_id, reply_to, author_id)


def _renamed(record: Record, external_id: str, reply_to: str | None, author_id: str) -> Record:
    brand = BRAND_HANDLES.get(record["channel"], record["brand_handle"])
    author = {**record["author"], "external_id": author_id}
    if is_brand(record):
        author["handle"] = brand
    return {
        **record,
        "external_id": external_id,
        "in_reply_to": reply_to,
        "author": author,
        "brand_handle": brand,
    }


def user_name(handle: str) -> str:
    """A handle as a platform user name: the ``@`` dropped, only word characters."""
    return re.sub(r"\W", "_", handle.removeprefix("@"))


# -- X --------------------------------------------------------------------------------
def x_user(author: dict[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": int(author["external_id"]),
        "id_str": author["external_id"],
        "name": author["display_name"],
        "screen_name": user_name(author["handle"]),
    }
    if author.get("followers") is not None:
        user["followers_count"] = author["followers"]
    return user


def x_tweet(record: Record) -> dict[str, Any]:
    at = created(record)
    text = html.escape(record["text"], quote=False)
    tweet: dict[str, Any] = {
        "created_at": at.astimezone(UTC).strftime(X_TIME_FORMAT),
        "id": int(record["external_id"]),
        "id_str": record["external_id"],
        "text": text,
        "truncated": False,
        "in_reply_to_status_id": None,
        "in_reply_to_status_id_str": None,
        "user": x_user(record["author"]),
        "lang": "en",
        "timestamp_ms": str(int(at.timestamp() * 1000)),
    }
    if len(text) > X_SHORT_TEXT:
        tweet.update(
            text=text[: X_SHORT_TEXT - 1] + "…", truncated=True, extended_tweet={"full_text": text}
        )
    if record["in_reply_to"]:
        reply_to = record["in_reply_to"]
        tweet.update(in_reply_to_status_id=int(reply_to), in_reply_to_status_id_str=reply_to)
    return tweet


def x_tweet_delivery(records: list[Record]) -> dict[str, Any]:
    return {"for_user_id": ids.X_BRAND_ID, "tweet_create_events": [x_tweet(r) for r in records]}


def x_dm_delivery(records: list[Record]) -> dict[str, Any]:
    """Customers' direct messages to the brand."""
    events, users = [], {}
    for record in records:
        sender = record["author"]["external_id"]
        events.append(
            {
                "type": "message_create",
                "id": record["external_id"].removeprefix("dm-"),
                "created_timestamp": str(int(created(record).timestamp() * 1000)),
                "message_create": {
                    "target": {"recipient_id": ids.X_BRAND_ID},
                    "sender_id": sender,
                    "message_data": {"text": html.escape(record["text"], quote=False)},
                },
            }
        )
        users[sender] = x_user(record["author"])
    return {"for_user_id": ids.X_BRAND_ID, "direct_message_events": events, "users": users}


# -- Meta -----------------------------------------------------------------------------
def page_feed_delivery(records: list[Record]) -> dict[str, Any]:
    return {"object": "page", "entry": [_feed_entry(r) for r in records]}


def _feed_entry(record: Record) -> dict[str, Any]:
    when = int(created(record).timestamp())
    author = record["author"]
    value: dict[str, Any] = {
        "from": {"id": author["external_id"], "name": author["display_name"]},
        "message": record["text"],
        "created_time": when,
        "verb": "add",
    }
    if record["in_reply_to"]:  # a comment on a post
        value.update(
            item="comment",
            post_id=record["in_reply_to"],
            comment_id=record["external_id"],
            parent_id=record["in_reply_to"],
        )
    else:  # a visitor post on the Page
        value.update(item="status", post_id=record["external_id"], published=1)
    change = {"field": "feed", "value": value}
    return {"id": ids.PAGE_ID, "time": when, "changes": [change]}


def instagram_delivery(records: list[Record]) -> dict[str, Any]:
    return {"object": "instagram", "entry": [_instagram_entry(r) for r in records]}


def _instagram_entry(record: Record) -> dict[str, Any]:
    author = record["author"]
    value: dict[str, Any] = {
        "from": {"id": author["external_id"], "username": user_name(author["handle"])},
        "media": {"id": ids.INSTAGRAM_MEDIA_ID, "media_product_type": "FEED"},
        "id": record["external_id"],
        "text": record["text"],
    }
    if record["in_reply_to"] != ids.INSTAGRAM_MEDIA_ID:
        value["parent_id"] = record["in_reply_to"]
    change = {"field": "comments", "value": value}
    return {
        "id": ids.INSTAGRAM_ACCOUNT_ID,
        "time": int(created(record).timestamp()),
        "changes": [change],
    }


# -- Mastodon and Bluesky -------------------------------------------------------------
def mastodon_account(author: dict[str, Any]) -> dict[str, Any]:
    acct = user_name(author["handle"])
    account: dict[str, Any] = {
        "id": author["external_id"],
        "username": acct,
        "acct": acct,
        "display_name": author["display_name"],
        "locked": False,
        "bot": False,
        "emojis": [],
        "fields": [],
    }
    if author.get("followers") is not None:
        account["followers_count"] = author["followers"]
    return account


def mastodon_mention(record: Record, *, notification_id: str) -> dict[str, Any]:
    """A ``mention`` notification of the brand for the customer's post ``record``."""
    at = created(record).astimezone(UTC).isoformat(timespec="milliseconds")
    at = at.replace("+00:00", "Z")
    account = mastodon_account(record["author"])
    lines = record["text"].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    content = "<br />".join(html.escape(line) for line in lines)
    brand = {"id": ids.MASTODON_ACCOUNT_ID, "username": ids.MASTODON_ACCT}
    status = {
        "id": record["external_id"],
        "created_at": at,
        "in_reply_to_id": record["in_reply_to"],
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "direct" if record["visibility"] == "private" else "public",
        "language": "en",
        "content": f"<p>{content}</p>",
        "account": account,
        "media_attachments": [],
        "mentions": [{**brand, "acct": ids.MASTODON_ACCT}],
        "tags": [],
        "emojis": [],
    }
    return {
        "id": notification_id,
        "type": "mention",
        "created_at": at,
        "account": account,
        "status": status,
    }


def bluesky_profile(author: dict[str, Any]) -> dict[str, Any]:
    """A ``profileView``; the handle made a valid domain name (``name.bsky.social``)."""
    name = re.sub(r"[^a-z0-9-]+", "-", author["handle"].removeprefix("@").lower()).strip("-")
    return {
        "did": author["external_id"],
        "handle": f"{name or 'user'}.bsky.social",
        "displayName": author["display_name"],
    }
