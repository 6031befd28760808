"""The ids the platforms give the demo's brand accounts, customers and messages.

The demo stream (``stream.py``) names messages and authors with readable keys
(``story-security``, ``x-dana-r``). On a platform they carry that platform's ids: X and
Meta numeric ids (``{page}_{post}`` for Page posts), Mastodon numeric status and account
ids, Bluesky DIDs and ``at://`` uris whose record key is a TID. Each id is derived from
the key by a hash, so a key is the same id on every start: delivering the stream again
after a restart is a duplicate the store ignores, never a second message. The formats
follow what the connectors parse (see their ``adapter.py`` and recorded fixtures).
"""

import base64
import hashlib

# The brand's accounts on the stand-ins.
X_BRAND_ID = "1500000000000000001"
X_BRAND_USERNAME = "AcmeSupport"
PAGE_ID = "104200000000077"
INSTAGRAM_ACCOUNT_ID = "17841400000000077"
INSTAGRAM_USERNAME = "acmesupport"
INSTAGRAM_MEDIA_ID = "17895695668000077"  # the post customers comment on
MASTODON_ACCOUNT_ID = "109000000000000077"
MASTODON_ACCT = "AcmeSupport"
BLUESKY_HANDLE = "acmesupport.bsky.social"
BRAND_KEY = "acme-brand"  # the author key of the brand's own messages in the stream

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def _digest(namespace: str, key: str) -> bytes:
    return hashlib.sha256(f"fairdesk demo\x00{namespace}\x00{key}".encode()).digest()


def number(namespace: str, key: str, digits: int) -> str:
    """A ``digits``-long decimal id for ``key``, the same on every call."""
    low = 10 ** (digits - 1)
    return str(low + int.from_bytes(_digest(namespace, key)[:8], "big") % (9 * low))


def x_tweet_id(key: str) -> str:
    return number("x-tweet", key, 19)


def x_dm_event_id(key: str) -> str:
    return number("x-dm", key, 19)


def x_user_id(key: str) -> str:
    return X_BRAND_ID if key == BRAND_KEY else number("x-user", key, 18)


def facebook_post_id(key: str) -> str:
    """A post on the Page (``{page}_{post}``)."""
    return f"{PAGE_ID}_{number('fb-post', key, 15)}"


def facebook_comment_id(post_id: str, key: str) -> str:
    """A comment on ``post_id`` (``{post}_{comment}``, as the feed webhook gives it)."""
    return f"{post_id.split('_', 1)[1]}_{number('fb-comment', key, 15)}"


def meta_user_id(key: str) -> str:
    """A person's Page-scoped (or Instagram-scoped) id."""
    return number("meta-user", key, 16)


def instagram_comment_id(key: str) -> str:
    return number("ig-comment", key, 17)


def mastodon_status_id(key: str) -> str:
    return number("mastodon-status", key, 18)


def mastodon_account_id(key: str) -> str:
    return MASTODON_ACCOUNT_ID if key == BRAND_KEY else number("mastodon-account", key, 18)


def bluesky_did(key: str) -> str:
    """A ``did:plc`` (24 base32 characters) for an author key."""
    encoded = base64.b32encode(_digest("bluesky-did", key)).decode().lower()
    return "did:plc:" + encoded[:24]


BLUESKY_DID = bluesky_did(BRAND_KEY)


def bluesky_rkey(key: str) -> str:
    """A TID record key: 13 base32-sortable characters of a 63-bit number."""
    value = int.from_bytes(_digest("bluesky-rkey", key)[:8], "big") >> 1
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -5, -5))


def bluesky_uri(author_key: str, key: str) -> str:
    return f"at://{bluesky_did(author_key)}/app.bsky.feed.post/{bluesky_rkey(key)}"
