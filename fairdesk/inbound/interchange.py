"""The interchange format (DESIGN section 10): one validated message record.

Every field is hostile input. Validation rejects what cannot be right and caps sizes;
text is kept as written (it is escaped where shown, never trusted).
"""

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
)

CHANNELS = frozenset(
    {"x", "facebook", "instagram", "messenger", "mastodon", "bluesky", "email", "webform", "phone"}
)
MAX_TEXT_CHARS = 20_000

ShortText = Annotated[str, StringConstraints(max_length=320, strip_whitespace=True)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
MAX_ATTACHMENT_LINKS = 10


class Author(BaseModel):
    model_config = ConfigDict(extra="ignore")

    external_id: ExternalId
    handle: ShortText = ""
    display_name: ShortText = ""
    followers: int | None = Field(default=None, ge=0, le=4_000_000_000)
    email: ShortText | None = None
    phone: ShortText | None = None

    @field_validator("handle", "display_name", mode="before")
    @classmethod
    def none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class AttachmentLink(BaseModel):
    """A file that came with a message as a link (Meta's ``payload.url``): fetched later,
    by the media worker, through the SSRF-safe fetcher, never while acknowledging."""

    model_config = ConfigDict(extra="ignore")

    # No white space and no control character (a NUL is refused by PostgreSQL's text
    # columns, a CR/LF could split a request line).
    url: Annotated[
        str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")
    ]
    kind: Annotated[
        str, StringConstraints(max_length=30, strip_whitespace=True, pattern=r"^[^\x00-\x1f\x7f]*$")
    ] = ""


class InterchangeMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    channel: str
    external_id: ExternalId
    direction: Literal["inbound", "outbound"] = "inbound"
    visibility: Literal["public", "private"] = "public"
    created_at: datetime
    author: Author
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
    in_reply_to: ExternalId | None = None
    brand_handle: ShortText | None = None
    entitlement: Literal["standard", "premium"] | None = None
    # Channels with a subject line (e-mail): the subject of a case this message opens.
    subject: ShortText | None = None
    # Outbound private messages (a platform's echo of a DM): whom it went to, on the same
    # channel. Lets the echo of a private reply link the customer's new DM identity.
    recipient: ExternalId | None = None
    attachments: list[AttachmentLink] = Field(default_factory=list, max_length=MAX_ATTACHMENT_LINKS)

    @field_validator("channel")
    @classmethod
    def known_channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value[:40]!r}")
        return value

    @field_validator("created_at")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created_at needs a time zone (e.g. a trailing Z)")
        return value.astimezone(UTC)

    @field_validator("text")
    @classmethod
    def no_nul(cls, value: str) -> str:
        return value.replace("\x00", "")

    @model_serializer(mode="wrap")
    def omit_absent_subject(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Records without a subject, recipient or attachment links serialise exactly as
        before those fields existed."""
        data: dict[str, Any] = handler(self)
        for optional in ("subject", "recipient"):
            if data.get(optional) is None:
                data.pop(optional, None)
        if not data.get("attachments"):
            data.pop("attachments", None)
        return data


TWCS_COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_reply_to_tweet_id",
)


def from_twcs_row(row: dict[str, str]) -> dict[str, Any]:
    """A Customer Support on Twitter CSV row as an interchange record (not yet validated)."""
    missing = [c for c in TWCS_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    inbound = row["inbound"].strip()
    if inbound not in {"True", "False"}:
        raise ValueError(f"inbound must be True or False, not {inbound[:20]!r}")
    created = datetime.strptime(row["created_at"].strip(), "%a %b %d %H:%M:%S %z %Y")
    author = row["author_id"].strip()
    reply_to = row["in_reply_to_tweet_id"].strip()
    if reply_to.endswith(".0"):
        reply_to = reply_to[:-2]
    record: dict[str, Any] = {
        "channel": "x",
        "external_id": row["tweet_id"].strip(),
        "direction": "inbound" if inbound == "True" else "outbound",
        "visibility": "public",
        "created_at": created.isoformat(),
        "author": {"external_id": author, "handle": "@" + author},
        "text": row["text"],
        "in_reply_to": reply_to or None,
    }
    if inbound == "False":
        record["brand_handle"] = "@" + author
    return record


def parse_twcs_line(header: list[str], line: str) -> dict[str, Any]:
    values = next(csv.reader(io.StringIO(line)))
    if len(values) != len(header):
        raise ValueError(f"expected {len(header)} columns, found {len(values)}")
    return from_twcs_row(dict(zip(header, values, strict=True)))
