"""The portal's secrets: link tokens, one-time codes and session cookies.

A link token is 20 random bytes (160 bits) in hex, then a 128-bit HMAC of the workspace
id and those bytes (``django.utils.crypto.salted_hmac``: keyed with SECRET_KEY, salted
per purpose): ``<40 hex>.<32 hex>``. A made-up token, or one of another workspace or
another purpose, fails the MAC before any query. Hex only, so the tone guard's word
rules can never match inside a link. Only the SHA-256 of a token is stored.

Codes are 8 digits, stored as an HMAC keyed with SECRET_KEY and salted with their
challenge's id, and compared in constant time.
"""

import hashlib
import hmac
import re
import secrets
import uuid

from django.utils.crypto import salted_hmac

LINK_SALT = "fairdesk.portal.link"
CODE_SALT = "fairdesk.portal.code"
LINK_SECRET_BYTES = 20
LINK_MAC_CHARS = 32
CODE_DIGITS = 8
TOKEN_PATTERN = re.compile(rf"[0-9a-f]{{{LINK_SECRET_BYTES * 2}}}\.[0-9a-f]{{{LINK_MAC_CHARS}}}")


def digest(secret: str) -> str:
    """What is stored of a link token or a session secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_link_token(*, workspace_id: int) -> str:
    secret = secrets.token_hex(LINK_SECRET_BYTES)
    return f"{secret}.{_link_mac(workspace_id, secret)}"


def link_token_valid(*, workspace_id: int, token: str) -> bool:
    """Well formed and signed for this workspace (whether it was issued is the database's
    answer, by digest)."""
    if not TOKEN_PATTERN.fullmatch(token):
        return False
    secret, _, mac = token.partition(".")
    return hmac.compare_digest(mac, _link_mac(workspace_id, secret))


def _link_mac(workspace_id: int, secret: str) -> str:
    value = f"{workspace_id}:{secret}"
    return salted_hmac(LINK_SALT, value, algorithm="sha256").hexdigest()[:LINK_MAC_CHARS]


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(*, challenge_id: uuid.UUID, code: str) -> str:
    return salted_hmac(CODE_SALT, f"{challenge_id}:{code}", algorithm="sha256").hexdigest()


def code_matches(*, challenge_id: uuid.UUID, stored: str, code: str) -> bool:
    """Constant-time comparison of a typed code with the stored HMAC."""
    return hmac.compare_digest(code_digest(challenge_id=challenge_id, code=code), stored)


def new_session_secret() -> str:
    return secrets.token_urlsafe(32)
