"""Hand the demo stream to Fairdesk the way each platform does.

- X: customers' tweets, the brand's tweets and customers' DMs arrive as signed Account
  Activity deliveries, received by ``receive_x_webhook`` exactly like a POST to the
  channel's webhook URL (signature check, parse, store).
- Facebook and Instagram: public posts and comments arrive as signed Meta webhook
  deliveries (``receive_meta_webhook``); the Meta stand-in holds the customers' posts
  and comments first, so agents' replies to them are accepted.
- Mastodon and Bluesky: customers' posts are put on the stand-ins as notifications of
  the brand; the poller (``fairdesk.connectors.polling``) reads them from there.
- Everything else (e-mail, web form, phone: no servers in the demo; the brand's earlier
  replies on Mastodon and Bluesky, which no notification carries) is stored as the
  importer stores history (``store_events``).
"""

import base64
import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fairdesk.connectors.meta.adapter import sign as meta_signature
from fairdesk.connectors.services import receive_meta_webhook, receive_x_webhook
from fairdesk.demo import payloads
from fairdesk.demo import platform_ids as ids
from fairdesk.demo.channels import connected_channel
from fairdesk.demo.platforms import DemoPlatforms
from fairdesk.demo.stream import Record
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.services import StoreResult, store_events
from fairdesk.workspaces.models import Workspace

POLLED = ("mastodon", "bluesky")


@dataclass(slots=True)
class Delivery:
    stored: int = 0  # new inbound events (webhooks and the importer path)
    duplicates: int = 0  # delivered before: not stored again
    seeded: int = 0  # put on Mastodon or Bluesky: stored once polled

    def add(self, result: StoreResult) -> None:
        self.stored += result.stored
        self.duplicates += result.duplicates


@dataclass(frozen=True, slots=True)
class Target:
    """Where one ``deliver`` call delivers, and its running count."""

    workspace: Workspace
    platforms: DemoPlatforms
    delivery: Delivery


def path_of(record: Record) -> str:
    """How a record (with platform ids) reaches Fairdesk: ``x-tweets`` / ``x-dms`` (X
    webhook), ``page`` / ``instagram`` (Meta webhook), ``poll`` or ``import``."""
    channel, inbound = record["channel"], record["direction"] == "inbound"
    public = record["visibility"] == "public"
    if channel == "x" and (public or inbound):
        return "x-tweets" if public else "x-dms"
    if channel == "facebook" and public:
        return "page"
    if channel == "instagram" and public:
        return "instagram"
    if channel in POLLED and inbound and not record["in_reply_to"]:
        return "poll"
    return "import"


def deliver(
    *, workspace: Workspace, platforms: DemoPlatforms, records: Sequence[Record]
) -> Delivery:
    """Deliver ``records`` (demo keys, see ``stream.py``) through their platforms."""
    delivery = Delivery()
    by_path: dict[str, list[Record]] = defaultdict(list)
    for record in payloads.on_platforms(list(records)):
        by_path[path_of(record)].append(record)
    for path, group in by_path.items():
        PATHS[path](Target(workspace, platforms, delivery), group)
    return delivery


def _x_tweets(target: Target, records: list[Record]) -> None:
    target.delivery.add(_x_webhook(target, payloads.x_tweet_delivery(records)))


def _x_dms(target: Target, records: list[Record]) -> None:
    target.delivery.add(_x_webhook(target, payloads.x_dm_delivery(records)))


def _page(target: Target, records: list[Record]) -> None:
    """Visitors' posts exist on the Page before Meta announces them."""
    for record in records:
        if record["direction"] == "inbound" and not record["in_reply_to"]:
            target.platforms.meta.seed_post(record["external_id"])
    target.delivery.add(_meta_webhook(target, payloads.page_feed_delivery(records)))


def _instagram(target: Target, records: list[Record]) -> None:
    """Customers' comments exist on Instagram before Meta announces them."""
    for record in records:
        if record["direction"] != "inbound":
            continue
        author = record["author"]
        target.platforms.meta.seed_instagram_comment(
            record["external_id"],
            account_id=ids.INSTAGRAM_ACCOUNT_ID,
            author_id=author["external_id"],
            username=payloads.user_name(author["handle"]),
            text=record["text"],
        )
    target.delivery.add(_meta_webhook(target, payloads.instagram_delivery(records)))


def _poll(target: Target, records: list[Record]) -> None:
    for record in records:
        _seed(target.platforms, record, target.delivery)


def _import(target: Target, records: list[Record]) -> None:
    target.delivery.add(store(target.workspace, records))


PATHS = {
    "x-tweets": _x_tweets,
    "x-dms": _x_dms,
    "page": _page,
    "instagram": _instagram,
    "poll": _poll,
    "import": _import,
}


def store(workspace: Workspace, records: Sequence[Record]) -> StoreResult:
    """Validate like the importer does, then store as pending inbound events."""
    clean = [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]
    return store_events(workspace=workspace, records=clean, source="demo")


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def x_signature(consumer_secret: str, body: bytes) -> str:
    """How X signs a delivery: ``sha256=`` + base64 of HMAC-SHA256 of the raw body."""
    digest = hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def _x_webhook(target: Target, payload: dict[str, Any]) -> StoreResult:
    body = _body(payload)
    return receive_x_webhook(
        channel=connected_channel(target.workspace, "x"),
        body=body,
        signature=x_signature(target.platforms.secrets.x_consumer_secret, body),
    )


def _meta_webhook(target: Target, payload: dict[str, Any]) -> StoreResult:
    body = _body(payload)
    return receive_meta_webhook(
        channel=connected_channel(target.workspace, "facebook"),
        body=body,
        signature=meta_signature(target.platforms.secrets.meta_app_secret, body),
    )


def _seed(platforms: DemoPlatforms, record: Record, delivery: Delivery) -> None:
    """Put a customer's post on Mastodon or Bluesky as a mention of the brand; a post the
    stand-in already holds is a duplicate."""
    key = (record["channel"], record["external_id"])
    if key in platforms.seeded:
        delivery.duplicates += 1
        return
    if record["channel"] == "mastodon":
        notification_id = platforms.next_notification_id()
        platforms.mastodon.add_notification(
            payloads.mastodon_mention(record, notification_id=notification_id)
        )
    else:
        post = platforms.bluesky.seed_post(
            author=payloads.bluesky_profile(record["author"]),
            text=record["text"],
            at=payloads.created(record),
            rkey=record["external_id"].rsplit("/", 1)[1],
        )
        platforms.bluesky.notify(did=ids.BLUESKY_DID, reason="mention", post=post)
    platforms.seeded.add(key)
    delivery.seeded += 1
