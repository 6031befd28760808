"""X (Twitter) through the v2 API: replies and DMs out, reconciliation, mention backfill.

Inbound arrives by Account Activity webhooks (``adapter.py``); this connector sends
replies (public reply tweet or DM), finds a reply an interrupted attempt already posted,
and polls the mention timeline to backfill what webhooks missed. The HTTP calls and the
documentation they follow are in ``client.py``. Built against:

- Posting budget: ``POST /2/tweets`` allows 100 requests per 15 minutes per user
  (developer.x.com/en/docs/twitter-api/tweets/manage-tweets/api-reference/post-tweets,
  docs.x.com/x-api/fundamentals/rate-limits "Manage posts").
- Length: 280 weighted characters; code points U+0000-U+10FF, U+2000-U+200D,
  U+2010-U+201F, U+2032-U+2037 count 1, everything else (CJK, most symbols) 2, an emoji
  (with its modifiers and ZWJ joins) 2, a URL 23, after NFC normalisation
  (docs.x.com/fundamentals/counting-characters; twitter-text ``config/v3.json``).
- Text read back from X is HTML-escaped (``&amp;``, ``&lt;``, ``&gt;``) and its URLs are
  wrapped in t.co links, so reconciliation compares texts with both undone.
- Pagination: ``meta.next_token`` until absent; ``since_id`` for what is new
  (docs.x.com/x-api/fundamentals/pagination).
- Media of a backfilled mention: ``attachments.media_keys`` of the tweet, expanded into
  ``includes.media[]`` (``media_key``, ``type``, ``url`` for a photo, ``variants[]`` with
  ``bit_rate``/``content_type``/``url`` for a video or GIF, ``preview_image_url``)
  (developer.x.com/en/docs/x-api/data-dictionary/object-model/media).
"""

import html
import re
import unicodedata
from datetime import timedelta
from typing import Any, ClassVar

from fairdesk.connectors.base import (
    Account,
    Connector,
    OutboundRequest,
    PermanentSendError,
    PollError,
    PollResult,
    RateLimit,
)
from fairdesk.connectors.config import XConfig
from fairdesk.connectors.payloads import PayloadError, dicts, interchange, media_links, objects
from fairdesk.connectors.x import client
from fairdesk.connectors.x.adapter import best_variant

MAX_TWEET_LENGTH = 280
MAX_DM_LENGTH = 10_000
URL_LENGTH = 23
DM_PREFIX = "dm-"

URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"']+")
LEADING_MENTIONS = re.compile(r"^(?:@\w{1,15}\s+)+")
SINGLE_WEIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
EMOJI_BASES = ((0x1F000, 0x1FAFF), (0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF))
REGIONAL_INDICATORS = (0x1F1E6, 0x1F1FF)
SKIN_TONES = (0x1F3FB, 0x1F3FF)
TAGS = (0xE0020, 0xE007F)
ZWJ, VS15, VS16, KEYCAP = 0x200D, 0xFE0E, 0xFE0F, 0x20E3


# -- counting characters as X does ----------------------------------------------------
def _within(code: int, span: tuple[int, int]) -> bool:
    return span[0] <= code <= span[1]


def _is_emoji(code: int) -> bool:
    return any(_within(code, span) for span in EMOJI_BASES)


def _emoji_end(codes: list[int], start: int) -> int:
    """Index after the emoji sequence starting at ``start`` (modifiers, variation
    selectors, tag sequences, ZWJ-joined emoji, a regional-indicator pair, a keycap)."""
    i = start + 1
    if _within(codes[start], REGIONAL_INDICATORS):
        both = i < len(codes) and _within(codes[i], REGIONAL_INDICATORS)
        return i + 1 if both else i
    while i < len(codes):
        code = codes[i]
        if code in (VS15, VS16, KEYCAP) or _within(code, SKIN_TONES) or _within(code, TAGS):
            i += 1
        elif code == ZWJ and i + 1 < len(codes) and _is_emoji(codes[i + 1]):
            i += 2
        else:
            break
    return i


def _is_keycap(codes: list[int], i: int) -> bool:
    rest = codes[i + 1 : i + 3]
    return chr(codes[i]) in "0123456789#*" and (rest[:1] == [KEYCAP] or rest == [VS16, KEYCAP])


def weighted_length(text: str) -> int:
    """The length X counts against the 280-character limit."""
    normalised = unicodedata.normalize("NFC", text)
    urls = URL.findall(normalised)
    codes = [ord(c) for c in URL.sub("", normalised)]
    length = URL_LENGTH * len(urls)
    i = 0
    while i < len(codes):
        if _is_emoji(codes[i]) or _is_keycap(codes, i):
            length += 2
            i = _emoji_end(codes, i)
            continue
        length += 1 if any(_within(codes[i], span) for span in SINGLE_WEIGHT) else 2
        i += 1
    return length


def comparable(text: str) -> str:
    """A text as X's copy of it can be compared with ours: entities decoded, URLs (t.co
    wrapped by X) masked, leading reply mentions dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFC", html.unescape(text or ""))
    text = URL.sub("<url>", text)
    text = LEADING_MENTIONS.sub("", text.strip())
    return " ".join(text.split())


# -- reading v2 payloads ----------------------------------------------------------------
def _tweet_id(value: Any) -> str:
    found = str(value or "")
    if not found.isdigit():
        raise PayloadError(f"not a tweet id: {found[:40]!r}")
    return found


def replied_to(tweet: dict[str, Any]) -> str | None:
    """The id of the tweet ``tweet`` answers (its ``replied_to`` reference), or None."""
    for reference in tweet.get("referenced_tweets") or []:
        if isinstance(reference, dict) and reference.get("type") == "replied_to":
            return _tweet_id(reference.get("id"))
    return None


def _is_retweet(tweet: dict[str, Any]) -> bool:
    references = tweet.get("referenced_tweets") or []
    return any(isinstance(r, dict) and r.get("type") == "retweeted" for r in references)


def _author(author_id: str, users: dict[str, dict[str, Any]]) -> dict[str, Any]:
    user = users.get(author_id) or {}
    username = str(user.get("username") or "")
    metrics = user.get("public_metrics") or {}
    return {
        "external_id": author_id,
        "handle": "@" + username if username else "",
        "display_name": user.get("name") or "",
        "followers": metrics.get("followers_count") if isinstance(metrics, dict) else None,
    }


def _v2_media(tweet: dict[str, Any], media: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Attachment links for the media a v2 tweet names in ``attachments.media_keys``: a
    photo's ``url``, a video's or GIF's best ``video/mp4`` variant, else its preview
    image; keys without an expanded object and malformed items are left out."""
    attachments = tweet.get("attachments")
    keys = attachments.get("media_keys") if isinstance(attachments, dict) else None
    links: list[tuple[tuple[Any, ...], Any]] = []
    for key in keys if isinstance(keys, list) else []:
        item = media.get(key) if isinstance(key, str) else None
        if item is None:
            continue
        kind = item.get("type")
        video = best_variant(item.get("variants"), "bit_rate")
        links.append(((video, item.get("url"), item.get("preview_image_url")), kind))
    return media_links(links)


def mention_record(
    tweet: dict[str, Any],
    users: dict[str, dict[str, Any]],
    *,
    brand_user_id: str,
    brand_handle: str | None,
    media: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A v2 tweet as the same interchange record the webhook parser makes of it."""
    author = _author(_tweet_id(tweet["author_id"]), users)
    outbound = author["external_id"] == brand_user_id
    note = tweet.get("note_tweet") or {}
    text = (note.get("text") if isinstance(note, dict) else None) or tweet.get("text") or ""
    return {
        "channel": "x",
        "external_id": _tweet_id(tweet["id"]),
        "direction": "outbound" if outbound else "inbound",
        "visibility": "public",
        "created_at": tweet["created_at"],
        "author": author,
        "text": html.unescape(str(text)),
        "in_reply_to": replied_to(tweet),
        "brand_handle": (author["handle"] or brand_handle) if outbound else brand_handle,
        "attachments": _v2_media(tweet, media or {}),
    }


def mention_records(
    page: dict[str, Any], *, brand_user_id: str, brand_handle: str | None
) -> list[dict[str, Any]]:
    """Interchange records for one mention timeline page (retweets left out, like the
    webhook parser does); ``PayloadError`` when the page is not the documented shape."""
    includes = page.get("includes") or {}
    if not isinstance(includes, dict):
        raise PayloadError("includes is not an object")
    users = {str(u.get("id")): u for u in objects(includes, "users")}
    media = {str(m.get("media_key")): m for m in dicts(includes.get("media"))}
    try:
        raw = [
            mention_record(
                t, users, brand_user_id=brand_user_id, brand_handle=brand_handle, media=media
            )
            for t in objects(page, "data")
            if not _is_retweet(t)
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise PayloadError(f"malformed tweet: {type(exc).__name__} {str(exc)[:80]}") from exc
    return interchange(raw)


def _newest(ids: list[Any]) -> str:
    numeric = [int(str(i)) for i in ids if str(i or "").isdigit()]
    return str(max(numeric)) if numeric else ""


def _reply_target(request: OutboundRequest) -> str:
    """The tweet a public reply answers. When the latest customer message was a DM, the
    public reply continues the case's latest tweet instead (a tweet cannot answer a DM)."""
    if not request.in_reply_to or request.in_reply_to.isdigit():
        return request.in_reply_to
    return next((i for i in reversed(request.thread) if i.isdigit()), "")


class XConnector(Connector):
    kind = "x"
    config_model = XConfig
    rate_limit: ClassVar[RateLimit | None] = RateLimit(posts=100, window=timedelta(minutes=15))

    # -- send ---------------------------------------------------------------------------
    def send(self, account: Account, request: OutboundRequest) -> str:
        if request.visibility == "private":
            return DM_PREFIX + client.post_dm(
                account, participant_id=self._participant(request), text=self._dm_text(request)
            )
        length = weighted_length(request.text)
        if length > MAX_TWEET_LENGTH:
            raise PermanentSendError(
                f"this reply is {length} characters as X counts them (a URL counts 23, an "
                f"emoji or a CJK character 2) and a post may have at most {MAX_TWEET_LENGTH}: "
                "shorten it or send it as a private message"
            )
        return client.post_tweet(account, text=request.text, in_reply_to=_reply_target(request))

    def _participant(self, request: OutboundRequest) -> str:
        recipient = request.recipient
        if recipient is None or not recipient.external_id.isdigit():
            raise PermanentSendError(
                "a private reply on X needs the customer's X account, and this case has no "
                "message from them on X"
            )
        return recipient.external_id

    def _dm_text(self, request: OutboundRequest) -> str:
        if len(request.text) > MAX_DM_LENGTH:
            raise PermanentSendError(
                f"a direct message on X may have at most {MAX_DM_LENGTH:,} characters"
            )
        return request.text

    # -- reconcile ----------------------------------------------------------------------
    def find_sent(self, account: Account, request: OutboundRequest) -> str | None:
        """Our reply among the brand's recent tweets (same target, same text) or in the
        DM conversation (sent by the brand, same text). Messages the case already holds
        are not candidates: an identical earlier reply is not this one."""
        client.access_token(account)  # without one, nothing can be sent either: dead at once
        known = set(request.thread)
        wanted = comparable(request.text)
        try:
            if request.visibility == "private":
                return self._find_dm(account, request, wanted, known)
            return self._find_tweet(account, request, wanted, known)
        except (PayloadError, KeyError, TypeError, AttributeError) as exc:
            raise PollError(f"reconciling on X: {exc}") from exc

    def _find_tweet(
        self, account: Account, request: OutboundRequest, wanted: str, known: set[str]
    ) -> str | None:
        target = _reply_target(request) or None
        for tweet in objects(client.user_tweets(account), "data"):
            tweet_id = _tweet_id(tweet["id"])
            if tweet_id in known or replied_to(tweet) != target:
                continue
            if comparable(str(tweet.get("text") or "")) == wanted:
                return tweet_id
        return None

    def _find_dm(
        self, account: Account, request: OutboundRequest, wanted: str, known: set[str]
    ) -> str | None:
        if request.recipient is None or not request.recipient.external_id.isdigit():
            return None
        page = client.conversation_events(account, participant_id=request.recipient.external_id)
        brand = account.config.brand_user_id
        for event in objects(page, "data"):
            external_id = DM_PREFIX + _tweet_id(event["id"])
            if external_id in known or event.get("event_type", "MessageCreate") != "MessageCreate":
                continue
            mine = str(event.get("sender_id") or "") == brand
            if mine and comparable(str(event.get("text") or "")) == wanted:
                return external_id
        return None

    # -- backfill -----------------------------------------------------------------------
    def poll(self, account: Account, cursor: dict[str, Any]) -> PollResult:
        """One page of mentions newer than ``since_id``.

        While pages remain, the cursor keeps the old ``since_id`` and carries the next
        page's token and the newest id seen; ``since_id`` moves to that newest id only
        after the last page. A crash between pages resumes at the stored token, and
        nothing newer than the first page can be skipped. The very first poll (no
        ``since_id``) reads only the newest page: a backfill, not an archive import.
        """
        since_id = _newest([cursor.get("since_id")])
        token = str(cursor.get("pagination_token") or "") if since_id else ""
        page = client.mentions(account, since_id=since_id, pagination_token=token)
        config: XConfig = account.config
        try:
            records = mention_records(
                page, brand_user_id=config.brand_user_id, brand_handle=config.brand_handle or None
            )
            seen = [t.get("id") for t in objects(page, "data")]
        except PayloadError as exc:
            raise PollError(f"mentions page: {exc}") from exc
        newest = _newest([since_id, cursor.get("newest_id"), *seen])
        meta = page.get("meta")
        next_token = str(meta.get("next_token") or "") if isinstance(meta, dict) else ""
        if since_id and next_token:
            more = {"since_id": since_id, "pagination_token": next_token, "newest_id": newest}
            return PollResult(records=records, cursor=more, more=True)
        return PollResult(records=records, cursor={"since_id": newest} if newest else {})


CONNECTOR = XConnector()
