"""Channel credentials, encrypted at rest with Fernet (DESIGN section 8).

The key is ``FAIRDESK_CREDENTIALS_KEY`` (a Fernet key) when set, else derived from
``SECRET_KEY`` with HKDF-SHA256. Both are read at call time, never at import.
"""

import base64
import functools
import json
import os
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from fairdesk.connectors.models import Channel

KEY_ENV = "FAIRDESK_CREDENTIALS_KEY"
HKDF_INFO = b"fairdesk connector credentials v1"


class CredentialsError(Exception):
    """Stored credentials that cannot be decrypted (wrong key) or are not a JSON object."""


def fernet() -> Fernet:
    return _fernet(os.environ.get(KEY_ENV, ""), settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _fernet(key: str, secret_key: str) -> Fernet:
    """One Fernet per key (derived once, not on every webhook delivery)."""
    if key:
        try:
            return Fernet(key.encode())
        except ValueError as exc:
            raise ImproperlyConfigured(f"{KEY_ENV} must be a Fernet key") from exc
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(data: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(data).encode()).decode()


def decrypt(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        data = json.loads(fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError) as exc:
        raise CredentialsError("channel credentials cannot be decrypted") from exc
    if not isinstance(data, dict):
        raise CredentialsError("channel credentials are not an object")
    return data


def set_credentials(channel: "Channel", data: dict[str, Any]) -> None:
    """Encrypt ``data`` into the channel and save that one column."""
    channel.credentials_encrypted = encrypt(data)
    channel.save(update_fields=["credentials_encrypted", "updated_at"])


def credentials(channel: "Channel") -> dict[str, Any]:
    return decrypt(channel.credentials_encrypted)
