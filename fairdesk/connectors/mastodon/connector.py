"""Mastodon: mentions read by REST (``poll``, also the streaming backfill) and replies
posted as statuses.

Built against docs.joinmastodon.org — methods/notifications, methods/statuses,
methods/instance, api/rate-limits — and checked against Mastodon's
``Api::V1::NotificationsController`` and ``StatusLengthValidator``:

- ``GET /api/v1/notifications?types[]=mention&since_id=…&limit=40`` answers the NEWEST
  notifications above ``since_id``, newest first, with a ``Link`` header whose ``next``
  holds ``max_id`` = the page's oldest id (and drops ``since_id``). A burst larger than a
  page is therefore walked back with ``max_id`` while ``since_id`` stays put; only when a
  page comes back empty does ``since_id`` move up to the newest id seen. Each page is
  stored with its cursor in one transaction (``fairdesk.connectors.polling``), so a crash
  mid-walk resumes the walk and never skips; re-read pages are duplicates the store
  ignores. The walk ends on an empty page rather than a short one, because servers cap
  ``limit`` differently (Mastodon before 4.1 at 30). A first poll (no cursor) takes only
  the newest page.
- ``POST /api/v1/statuses`` with ``status``, ``visibility``, ``in_reply_to_id`` and the
  ``Idempotency-Key`` header (the outbox key): Mastodon keeps keys for an hour and answers
  a repeat with the status it already made, so a re-send after a crash is safe
  (``idempotent_send``; the sender's lease and back-off keep retries well inside the hour).
- A private reply is ``direct`` and must mention the customer, or it reaches nobody; a
  public reply mentions them too (that is what notifies them) and is never wider than the
  post it answers (a reply to an ``unlisted``, followers-only or direct post stays so).
- Length: ``configuration.statuses.max_characters`` of ``GET /api/v2/instance`` (500 when
  unreadable), counting a URL as ``characters_reserved_per_url`` and a remote mention as its
  local part, like Mastodon. Code points are counted where Mastodon counts grapheme
  clusters, so a reply within a few characters of the limit may be refused when it has
  combined emoji.
- 429 → ``RateLimited`` at ``X-RateLimit-Reset`` (an ISO 8601 time on Mastodon).
"""

import hashlib
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from fairdesk.connectors import http
from fairdesk.connectors.base import (
    Account,
    Connector,
    OutboundRequest,
    PermanentSendError,
    PollError,
    PollResult,
    RateLimit,
    SendError,
)
from fairdesk.connectors.config import ChannelConfig, NumericId
from fairdesk.connectors.mastodon import adapter
from fairdesk.connectors.payloads import PayloadError

NOTIFICATIONS = "/api/v1/notifications"
STATUSES = "/api/v1/statuses"
INSTANCE = "/api/v2/instance"
PAGE_SIZE = 40
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARACTERS = 23
INSTANCE_TTL_S = 3600.0
# Narrowest first: a reply is never shown to more people than the post it answers.
VISIBILITIES = ("direct", "private", "unlisted", "public")
STATUS_ID = re.compile(r"[0-9]{1,30}")
MENTION = re.compile(r"@[\w-]+(?:[.][\w-]+)*(?:@[\w-]+(?:[.][\w-]+)+)?")
URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
REMOTE_MENTION = re.compile(r"(?<![\w/])(@[\w.-]+)@[\w-]+(?:[.][\w-]+)+")

Acct = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=r"^@?[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(@[A-Za-z0-9.-]{1,253})?$",
    ),
]


class MastodonConfig(ChannelConfig):
    """One account on one Mastodon instance. ``acct`` is its handle (``AcmeSupport``);
    ``streaming_url`` only where the instance serves its streaming API from another host
    (``configuration.urls.streaming``). The access token is a credential."""

    instance_url: Annotated[str, Field(description="The instance, like https://mastodon.social")]
    account_id: Annotated[
        NumericId, Field(description="The account's id (GET /api/v1/accounts/verify_credentials)")
    ]
    acct: Annotated[Acct, Field(description="The account's handle, like AcmeSupport")]
    streaming_url: Annotated[
        str, Field(description="Only if the instance streams from another host")
    ] = ""
    # What replies may be checked against when they are written (the sender reads the
    # instance's own figure before posting, whatever this says).
    max_characters: Annotated[
        int | None,
        Field(
            ge=1,
            le=100_000,
            description="Only if your instance allows posts longer than 500 characters",
        ),
    ] = None

    @field_validator("instance_url", "streaming_url")
    @classmethod
    def origin_only(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name != "streaming_url":
            return instance_origin(value)
        if not value.strip():
            return ""
        # the instance API names it as a WebSocket URL; server-sent events use HTTP(S)
        return instance_origin(re.sub(r"^ws(s?)://", r"http\1://", value.strip()))

    @field_validator("acct")
    @classmethod
    def without_at(cls, value: str) -> str:
        return value.removeprefix("@")

    @property
    def handle(self) -> str:
        return "@" + self.acct

    @property
    def stream_base(self) -> str:
        return self.streaming_url or self.instance_url


def instance_origin(value: str) -> str:
    """``scheme://host[:port]`` of an instance: https, or http only on a loopback host
    (the stand-ins). Paths, queries and credentials in the URL are refused."""
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("must be an https:// address")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must be the instance's address only, like https://mastodon.example")
    if parts.path not in ("", "/"):
        raise ValueError("must be the instance's address only, like https://mastodon.example")
    if parts.scheme == "http" and not _loopback(host):
        raise ValueError("must use https (http is allowed only on a loopback address)")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def api_client(account: Account, *, base: str = "") -> httpx.Client:
    """A client for the channel's instance (or ``base``) carrying its bearer token."""
    token = str(account.credentials.get("access_token") or "")
    return http.client(
        base or account.config.instance_url, headers={"Authorization": f"Bearer {token}"}
    )


def rate_limit_reset(headers: Mapping[str, str]) -> datetime | None:
    """Mastodon's ``X-RateLimit-Reset``: an ISO 8601 time, not Unix seconds."""
    value = (headers.get("x-ratelimit-reset") or "").strip()
    try:
        reset = datetime.fromisoformat(value)
    except ValueError:
        return None
    return reset.astimezone(UTC) if reset.tzinfo else reset.replace(tzinfo=UTC)


def id_key(value: str) -> tuple[int, str]:
    """Order of Mastodon ids (numeric strings of any length)."""
    return len(value), value


# -- the cursor --------------------------------------------------------------------------
def next_cursor(
    cursor: dict[str, Any], page_ids: list[str], next_max: str | None
) -> tuple[dict[str, Any], bool]:
    """Where to resume after reading ``page_ids`` (newest first) from ``cursor``, and
    whether to read on at once. See the module docstring for the walk."""
    since = cursor.get("since_id")
    if not since:
        return ({"since_id": page_ids[0]} if page_ids else {}), False
    if not page_ids:
        return {"since_id": cursor.get("newest") or since}, False
    walk = {
        "since_id": since,
        "max_id": next_max or page_ids[-1],
        "newest": cursor.get("newest") or page_ids[0],
    }
    return walk, True


def walking(cursor: dict[str, Any]) -> bool:
    """True while a burst is being walked back: older pages are still to be read."""
    return bool(cursor.get("max_id"))


def after_streamed(cursor: dict[str, Any], notification_id: str) -> dict[str, Any]:
    """The cursor once a streamed notification is stored. The stream only runs after a
    full backfill, and delivers in order, so everything up to it is stored; during a walk
    (another process polling) only the walk's top moves."""
    key = "newest" if walking(cursor) else "since_id"
    current = str(cursor.get(key) or "")
    if current and id_key(current) >= id_key(notification_id):
        return dict(cursor)
    return {**cursor, key: notification_id}


def _link_max_id(response: httpx.Response) -> str | None:
    url = response.links.get("next", {}).get("url") or ""
    values = parse_qs(urlsplit(url).query).get("max_id") or []
    return values[0] if values and STATUS_ID.fullmatch(values[0]) else None


def _notification_page(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        data = response.json()
    except ValueError as exc:
        raise PollError("answer is not JSON") from exc
    if not isinstance(data, list) or not all(isinstance(n, dict) and n.get("id") for n in data):
        raise PollError("answer is not a list of notifications")
    return data


# -- sending -----------------------------------------------------------------------------
def countable_length(text: str, url_characters: int = DEFAULT_URL_CHARACTERS) -> int:
    """The length Mastodon holds against its limit: a URL counts ``url_characters``, a
    mention of a remote account only its local part (``@jane@example.social`` is 5)."""
    text = URL.sub("x" * url_characters, text)
    return len(REMOTE_MENTION.sub(r"\1", text))


def recipient_handle(request: OutboundRequest) -> str:
    """The customer's ``@acct`` when it is one, else ''."""
    handle = request.recipient.handle if request.recipient is not None else ""
    return handle if MENTION.fullmatch(handle) else ""


def addressed(text: str, handle: str) -> str:
    """``text`` starting with a mention of ``handle`` (added unless already there)."""
    if not handle:
        return text
    head = text[: len(handle) + 1]
    if head.lower().rstrip() == handle.lower() and (len(head) == len(handle) or head[-1].isspace()):
        return text
    return f"{handle} {text}"


def idempotency_header(key: str) -> str:
    """The outbox key as the header value; one an HTTP header cannot carry is hashed,
    which is just as stable across attempts."""
    if key.isascii() and key.isprintable():
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _status(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise SendError("the instance answered without JSON") from exc
    if not isinstance(data, dict) or not data.get("id"):
        raise SendError("the instance answered without a status id")
    return data


def _read_limits(client: httpx.Client) -> tuple[int, int] | None:
    """(max_characters, characters_reserved_per_url) from the instance, or None."""
    try:
        response = client.get(INSTANCE)
        statuses = response.json()["configuration"]["statuses"] if response.is_success else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(statuses, dict):
        return None
    limit = statuses.get("max_characters")
    per_url = statuses.get("characters_reserved_per_url", DEFAULT_URL_CHARACTERS)
    if not isinstance(limit, int) or limit <= 0 or not isinstance(per_url, int) or per_url < 0:
        return None
    return limit, per_url


class MastodonConnector(Connector):
    kind = "mastodon"
    config_model = MastodonConfig
    # Mastodon allows 300 API calls per account per 5 minutes, polling and the look-up of
    # the post answered included; a third of that for replies leaves ample room.
    rate_limit = RateLimit(posts=100, window=timedelta(minutes=5))
    idempotent_send = True

    def __init__(self) -> None:
        self._limits: dict[str, tuple[float, int, int]] = {}
        self._lock = threading.Lock()

    def poll(self, account: Account, cursor: dict[str, Any]) -> PollResult:
        """One page of mention notifications after ``cursor`` (see the module docstring)."""
        params: dict[str, Any] = {"types[]": "mention", "limit": PAGE_SIZE}
        for name in ("since_id", "max_id"):
            if cursor.get(name):
                params[name] = cursor[name]
        with api_client(account) as client:
            response = http.checked_read(lambda: client.get(NOTIFICATIONS, params=params))
        page = _notification_page(response)
        config: MastodonConfig = account.config
        try:
            records = adapter.parse_notifications(
                page, account_id=config.account_id, brand_handle=config.handle
            )
        except PayloadError as exc:
            raise PollError(str(exc)) from exc
        new_cursor, more = next_cursor(cursor, [str(n["id"]) for n in page], _link_max_id(response))
        return PollResult(records=records, cursor=new_cursor, more=more)

    def send(self, account: Account, request: OutboundRequest) -> str:
        """Post the reply as a status; its id (the id ``parse`` gives that status)."""
        if request.in_reply_to and not STATUS_ID.fullmatch(request.in_reply_to):
            raise PermanentSendError(f"{request.in_reply_to[:40]!r} is not a Mastodon status id")
        handle = recipient_handle(request)
        text = addressed(request.text, handle)
        with api_client(account) as client:
            visibility = self._visibility(client, request)
            if visibility == "direct" and not handle:
                raise PermanentSendError(
                    "a private Mastodon reply must mention the customer's @handle, "
                    "and this case has none on Mastodon"
                )
            self._check_length(client, account, text)
            body = {"status": text, "visibility": visibility}
            if request.in_reply_to:
                body["in_reply_to_id"] = request.in_reply_to
            headers = {"Idempotency-Key": idempotency_header(request.idempotency_key)}
            response = http.checked_send(
                lambda: client.post(STATUSES, json=body, headers=headers), reset=rate_limit_reset
            )
        return str(_status(response)["id"])

    def _visibility(self, client: httpx.Client, request: OutboundRequest) -> str:
        """``direct`` for a private reply; a public one keeps the answered post's."""
        if request.visibility == "private":
            return "direct"
        if not request.in_reply_to:
            return "public"
        answered = self._answered(client, request.in_reply_to).get("visibility")
        return answered if answered in VISIBILITIES else "unlisted"

    def _answered(self, client: httpx.Client, status_id: str) -> dict[str, Any]:
        try:
            response = http.checked_send(
                lambda: client.get(f"{STATUSES}/{status_id}"), reset=rate_limit_reset
            )
        except PermanentSendError as exc:
            raise PermanentSendError(
                f"the post answered ({status_id}) cannot be read: {exc}"
            ) from exc
        return _status(response)

    def _check_length(self, client: httpx.Client, account: Account, text: str) -> None:
        limit, per_url = self._instance_limits(client, account.config.instance_url)
        length = countable_length(text, per_url)
        if length > limit:
            raise PermanentSendError(
                f"this reply counts {length} characters and the Mastodon instance allows "
                f"{limit} per post: shorten it"
            )

    def _instance_limits(self, client: httpx.Client, instance_url: str) -> tuple[int, int]:
        """The instance's limits, read once an hour; Mastodon's defaults when unreadable."""
        now = time.monotonic()
        with self._lock:
            cached = self._limits.get(instance_url)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        limits = _read_limits(client)
        if limits is None:
            return DEFAULT_MAX_CHARACTERS, DEFAULT_URL_CHARACTERS
        with self._lock:
            self._limits[instance_url] = (now + INSTANCE_TTL_S, *limits)
        return limits


CONNECTOR = MastodonConnector()
