"""What the demo's platforms received from the brand: the replies, comments, posts and
private messages Fairdesk's connectors sent to each stand-in, in the order they arrived.

Read from the stand-ins' own records (under each stand-in's lock), so what is listed is
what reached the platform, not what Fairdesk believes it sent.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fairdesk.demo import platform_ids as ids
from fairdesk.demo.platforms import DemoPlatforms


@dataclass(frozen=True, slots=True)
class Received:
    what: str  # "reply", "direct message", "comment reply", …
    to: str  # the post answered or the person written to
    text: str
    platform_id: str


@dataclass(frozen=True, slots=True)
class Inbox:
    platform: str
    url: str
    items: list[Received]


def received(platforms: DemoPlatforms) -> list[Inbox]:
    return [
        Inbox("X", platforms.x.url, x_received(platforms)),
        Inbox("Facebook and Instagram (Meta)", platforms.meta.url, meta_received(platforms)),
        Inbox("Mastodon", platforms.mastodon.url, mastodon_received(platforms)),
        Inbox("Bluesky", platforms.bluesky.url, bluesky_received(platforms)),
    ]


def x_received(platforms: DemoPlatforms) -> list[Received]:
    """Tweets and DMs in the order X made them (its ids grow)."""
    x = platforms.x
    tweets = [
        Received("reply" if t.in_reply_to else "post", t.in_reply_to or "", t.text, t.id)
        for t in x.posted_by(ids.X_BRAND_ID)
    ]
    dms = [
        Received("direct message", _other(e.participant_ids, ids.X_BRAND_ID), e.text, e.id)
        for e in x.dms_from(ids.X_BRAND_ID)
    ]
    return sorted(tweets + dms, key=lambda item: int(item.platform_id))


def _other(members: Iterable[str], brand: str) -> str:
    """The customer in a one-to-one conversation with the brand."""
    return next((m for m in sorted(members) if m != brand), "")


def meta_received(platforms: DemoPlatforms) -> list[Received]:
    brand = {ids.PAGE_ID, ids.INSTAGRAM_ACCOUNT_ID}
    with platforms.meta.lock:
        comments = [c for c in platforms.meta.comments.values() if c.author_id in brand]
        sent = list(platforms.meta.sent)
    found = [
        Received(
            "Instagram comment reply" if c.instagram else "Facebook comment", c.parent, c.text, c.id
        )
        for c in comments
    ]
    found += [_meta_message(body) for body in sent]
    return found


def _meta_message(body: dict[str, Any]) -> Received:
    recipient = body.get("recipient") or {}
    to = next((str(v) for v in recipient.values()), "")
    message = body.get("message") or {}
    return Received("private message", to, str(message.get("text") or ""), "")


def mastodon_received(platforms: DemoPlatforms) -> list[Received]:
    with platforms.mastodon.lock:
        posted = list(platforms.mastodon.posted)
    return [
        Received(
            f"{status['visibility']} reply" if status.get("in_reply_to_id") else "post",
            str(status.get("in_reply_to_id") or ""),
            str(status["text"]),
            str(status["id"]),
        )
        for status in posted
    ]


def bluesky_received(platforms: DemoPlatforms) -> list[Received]:
    found = []
    for post in platforms.bluesky.created_posts(ids.BLUESKY_DID):
        record = post["value"]
        parent = (record.get("reply") or {}).get("parent") or {}
        what = "reply" if parent else "post"
        found.append(Received(what, str(parent.get("uri") or ""), record["text"], post["uri"]))
    with platforms.bluesky.lock:
        convos = [(c.members, list(c.messages)) for c in platforms.bluesky.convos.values()]
    for members, messages in convos:
        customer = _other(members, ids.BLUESKY_DID)
        for message in messages:
            if message["sender"]["did"] == ids.BLUESKY_DID:
                found.append(Received("chat message", customer, message["text"], message["id"]))
    return found
