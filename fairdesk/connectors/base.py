"""What every connector implements, and what the sender and the poller hand it.

A connector is one object per platform (``<kind>/connector.py``, ``CONNECTOR``) with up
to three abilities: ``send`` a reply, ``find_sent`` (reconcile after a crash: did an
earlier attempt already post this reply?) and ``poll`` (read what arrived since the
channel's cursor). The framework (``fairdesk.replies.sender``, ``fairdesk.connectors.
polling``) owns claiming, transactions, retries and rate-limit bookkeeping; a connector
only speaks its platform's protocol and raises the errors below.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from fairdesk.connectors.config import ChannelConfig
from fairdesk.connectors.models import Channel


class SendError(Exception):
    """A send that failed in a way worth retrying later (network, 5xx)."""


class PermanentSendError(SendError):
    """The platform refused the message for good (deleted thread, blocked user, 4xx):
    retrying cannot help, so the outbox row goes to the dead letters at once."""


class RateLimited(SendError):
    """The platform answered 429 (or its equivalent): nothing was posted; try again at
    ``retry_at``. Not an attempt: the row waits and the account's other replies wait too."""

    def __init__(self, retry_at: datetime, detail: str = "") -> None:
        super().__init__(f"rate limited until {retry_at.isoformat()} {detail}".strip())
        self.retry_at = retry_at


class PollError(Exception):
    """Polling failed (network, 5xx, bad answer): nothing stored, cursor unchanged."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """The customer's identity on the sending channel (for private messages)."""

    external_id: str
    handle: str = ""
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One reply to deliver. ``text`` is final (tone-checked, signed ``^XY``).

    ``in_reply_to`` is the external id of the message answered ('' for a new thread);
    ``thread`` the external ids of the case's earlier messages on this channel, oldest
    first (Bluesky's root, e-mail's References); ``recipient`` who a private message
    goes to.
    """

    idempotency_key: str
    text: str
    visibility: str
    channel: str = ""
    in_reply_to: str = ""
    thread: tuple[str, ...] = ()
    recipient: Recipient | None = None
    subject: str = ""
    brand_handle: str = ""
    attachments: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Our own budget per account: at most ``posts`` sends per ``window``."""

    posts: int
    window: timedelta


@dataclass(slots=True)
class Account:
    """A channel with its configuration validated and its credentials decrypted."""

    channel: Channel
    config: Any
    credentials: dict[str, Any]

    @property
    def workspace_id(self) -> int:
        return self.channel.workspace_id


@dataclass(slots=True)
class PollResult:
    """Interchange records read by one poll and the cursor to resume from."""

    records: list[dict[str, Any]] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    more: bool = False  # another page is waiting: poll again without sleeping
    # Files that came with the records (e-mail attachments), in the connector's own
    # form: handed to ``Connector.store_attachments`` in the records' transaction.
    attachments: list[Any] = field(default_factory=list)


class Connector:
    """Base class: a connector overrides what its platform supports."""

    kind: ClassVar[str] = ""
    config_model: ClassVar[type[BaseModel]] = ChannelConfig
    rate_limit: ClassVar[RateLimit | None] = None
    # True where ``send`` is idempotent on the platform's side (an Idempotency-Key):
    # then a retry after a crash may simply send again.
    idempotent_send: ClassVar[bool] = False

    def send(self, account: Account, request: OutboundRequest) -> str:
        """Deliver ``request``; return the platform's external id of the posted message
        (in the same form ``parse`` gives the platform's echo of it)."""
        raise PermanentSendError(f"sending is not supported on {self.kind or 'this channel'}")

    def find_sent(self, account: Account, request: OutboundRequest) -> str | None:
        """The external id of a message an earlier attempt already posted for
        ``request``, or None. Called before re-sending a row whose earlier attempt may
        have reached the platform; a connector that cannot tell returns None."""
        return None

    def poll(self, account: Account, cursor: dict[str, Any]) -> PollResult:
        """Read what arrived since ``cursor``. Connectors fed only by webhooks keep
        the default (nothing to poll)."""
        return PollResult(cursor=cursor)

    def store_attachments(self, account: Account, attachments: list[Any]) -> None:
        """Record ``PollResult.attachments``; called inside the transaction that stores
        the poll's records and moves the cursor, so both are kept or neither is."""

    @property
    def can_poll(self) -> bool:
        return type(self).poll is not Connector.poll
