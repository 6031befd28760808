"""One e-mail (its raw RFC 5322 bytes) as an interchange record and its attachments.

Built against RFC 5322 (From, Date, Message-ID, In-Reply-To, References), MIME
(RFC 2045-2047: parts, charsets, encoded words; RFC 2231: encoded file names), RFC 3834
(``Auto-Submitted``) and RFC 6522 (``multipart/report``, the form of delivery status
notifications), parsed with the standard library's ``email`` package and
``policy.default``.

Decisions:
- The interchange external id IS the Message-ID, normalised to ``<...>``, so a message
  read twice (a UIDVALIDITY change, the copy of our own reply) is one event. A message
  without one gets a stable id from the hash of its bytes.
- Text is the ``text/plain`` body, else the HTML body converted to text (``htmltext``).
  HTML itself is never kept.
- Automatic mail is not a customer message and is skipped (``NotCustomerMail``): auto
  replies (``Auto-Submitted: auto-replied``, ``Precedence: bulk/junk/auto_reply``,
  ``X-Autoreply``) and bounces (``multipart/report``). ``auto-generated`` mail is kept:
  it may carry a customer's words (a web shop's contact form).
- ``created_at`` is the Date header; when it is missing or unreadable, or in the future
  (a wrong clock, or a sender wanting the top of the queue), it is the time of polling.
- Mail from the support address itself is the brand's (outbound).
Every header is hostile input: values are decoded, made one line and capped; a header
the strict parser refuses (an encoded CR LF in a name) is read from its raw form.
"""

import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

from fairdesk.connectors.email import htmltext
from fairdesk.connectors.payloads import interchange
from fairdesk.inbound.interchange import MAX_TEXT_CHARS

CHANNEL = "email"
MAX_MESSAGE_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 20
MAX_SUBJECT_CHARS = 200
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 200
TRUNCATED = "\n[… truncated]"

ADDRESS_PATTERN = (
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[^\W_](?:[\w-]{0,61}[^\W_])?(?:\.[^\W_](?:[\w-]{0,61}[^\W_])?)*"
)
ADDRESS = re.compile(ADDRESS_PATTERN)
MESSAGE_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,998})>")
UNSAFE_ID = re.compile(r"[<>\s\x00-\x1f\x7f]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SURROGATES = re.compile(r"[\udc80-\udcff]")
FILENAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"*:<>?|;]")
CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,60}/[a-z0-9][a-z0-9!#$&^_.+-]{0,60}")
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply"})
# Header parsing in ``policy.default`` raises these on hostile values.
HEADER_ERRORS = (errors.HeaderParseError, ValueError, IndexError, TypeError, AttributeError)


class NotCustomerMail(Exception):
    """An auto-reply, a bounce, or mail without a usable sender: not imported."""


@dataclass(frozen=True, slots=True)
class Part:
    """An attachment as received: sanitised file name, declared type, decoded bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Mail:
    record: dict[str, Any]  # validated interchange record
    attachments: tuple[Part, ...]


def parse(raw: bytes, *, address: str, now: datetime, oversized: int | None = None) -> Mail:
    """The record and attachments of one e-mail received by the mailbox ``address``.

    ``oversized`` is the message's size when only its header was fetched (it is over
    ``MAX_MESSAGE_BYTES``): the record then says so instead of carrying the text.
    Raises ``NotCustomerMail`` for automatic mail; ``PayloadError`` if no valid record
    can be made.
    """
    message = BytesParser(policy=default_policy).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    reason = automatic(message)
    if reason:
        raise NotCustomerMail(reason)
    name, sender = author(message)
    text, parts = content(message) if oversized is None else (_too_large(oversized), ())
    record = {
        "channel": CHANNEL,
        "external_id": message_id(header(message, "Message-ID")) or synthetic_id(raw),
        "direction": "outbound" if sender == address.lower() else "inbound",
        "visibility": "private",
        "created_at": sent_at(message, now).isoformat(),
        "author": {"external_id": sender, "handle": sender, "display_name": name, "email": sender},
        "text": text,
        "in_reply_to": parent_id(message),
        "brand_handle": address,
        "subject": one_line(header(message, "Subject"), MAX_SUBJECT_CHARS) or None,
    }
    return Mail(record=interchange([record])[0], attachments=parts)


# --- headers ----------------------------------------------------------------------------


def header(message: EmailMessage, name: str) -> str:
    """The decoded value of the first ``name`` header, '' when absent."""
    try:
        value = message.get(name)
    except HEADER_ERRORS:
        return unescaped(_decoded(_raw_header(message, name)))
    return "" if value is None else unescaped(str(value))


def unescaped(value: str) -> str:
    """Raw 8-bit header bytes (RFC 6532 UTF-8, or a legacy charset) reach us as surrogate
    escapes: decode them (UTF-8, else Windows-1252)."""
    if not SURROGATES.search(value):
        return value
    return _guess_decode(value.encode("utf-8", "surrogateescape"))


def _raw_header(message: EmailMessage, name: str) -> str:
    wanted = name.lower()
    return next((str(v) for k, v in message.raw_items() if k.lower() == wanted), "")


def _decoded(raw: str) -> str:
    try:
        return str(make_header(decode_header(raw)))
    except (errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        return raw


def one_line(value: str, limit: int) -> str:
    """``value`` on one line (CR, LF and other controls become spaces), at most ``limit``."""
    return " ".join(CONTROL.sub(" ", value).split())[:limit]


def author(message: EmailMessage) -> tuple[str, str]:
    """(display name, lower-cased address) of the sender, or ``NotCustomerMail``."""
    name, address = "", ""
    try:
        field = message.get("From")
        addresses = getattr(field, "addresses", ()) if field is not None else ()
        if addresses:
            name, address = addresses[0].display_name, addresses[0].addr_spec
    except HEADER_ERRORS:
        pass  # salvaged from the raw header below
    if not ADDRESS.fullmatch(address):
        name, address = _salvaged_sender(_raw_header(message, "From"))
    return one_line(unescaped(name), MAX_NAME_CHARS), address.lower()


def _salvaged_sender(raw: str) -> tuple[str, str]:
    """The sender from a From header the strict parser refused (encoded CR LF, broken
    quoting): the lenient ``parseaddr``, else the last address-shaped word."""
    name, address = parseaddr(raw)
    if not ADDRESS.fullmatch(address):
        found = ADDRESS.findall(raw)
        name, address = "", found[-1] if found else ""
    if not address:
        raise NotCustomerMail("no usable sender address")
    return _decoded(name), address


def automatic(message: EmailMessage) -> str:
    """Why ``message`` is automatic mail (RFC 3834 auto reply, bulk, bounce), or ''."""
    submitted = header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if submitted == "auto-replied":
        return "auto-reply (Auto-Submitted: auto-replied)"
    precedence = header(message, "Precedence").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return f"automatic (Precedence: {precedence})"
    if header(message, "X-Autoreply").strip().lower() == "yes" or header(message, "X-Autorespond"):
        return "auto-reply (X-Autoreply)"
    if message.get_content_type() == "multipart/report":
        return "delivery report (multipart/report)"
    return ""


def message_ids(value: str) -> list[str]:
    """Every ``<id>`` in a Message-ID, In-Reply-To or References value, normalised."""
    return [_bounded(f"<{found}>") for found in MESSAGE_ID.findall(value)]


def message_id(value: str) -> str | None:
    """The first message id in ``value`` as ``<...>`` (a bare ``id@host`` is wrapped)."""
    found = message_ids(value)
    if found:
        return found[0]
    bare = value.strip()
    if "@" in bare and not UNSAFE_ID.search(bare):
        return _bounded(f"<{bare}>")
    return None


def _bounded(identifier: str) -> str:
    """Ids longer than the store allows become a stable hash of themselves."""
    if len(identifier) <= MAX_ID_CHARS:
        return identifier
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:40]
    return f"<{digest}@long-message-id.invalid>"


def synthetic_id(raw: bytes) -> str:
    """A stable id for a message without Message-ID: the hash of its bytes."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"


def parent_id(message: EmailMessage) -> str | None:
    """The message answered: In-Reply-To, else the last of References."""
    parent = message_id(header(message, "In-Reply-To"))
    if parent is None:
        references = message_ids(header(message, "References"))
        parent = references[-1] if references else None
    return parent


def sent_at(message: EmailMessage, now: datetime) -> datetime:
    """The Date header in UTC; ``now`` when it is missing, unreadable or in the future."""
    try:
        when = parsedate_to_datetime(header(message, "Date"))
    except (TypeError, ValueError, IndexError, OverflowError):
        return now
    if when.tzinfo is None:  # "-0000": the zone is unknown, UTC is the best guess
        when = when.replace(tzinfo=UTC)
    return min(when.astimezone(UTC), now)


# --- body and attachments ---------------------------------------------------------------


def content(message: EmailMessage) -> tuple[str, tuple[Part, ...]]:
    """The message's text and its attachments (within caps; a file over a cap is named in
    the text instead).

    The text is the body (``text/plain``, else HTML as text) plus any other inline text
    part outside a ``multipart/alternative`` (a list footer, text after an inline image),
    in the order of the message. Alternatives of the body are not repeated.
    """
    body = _body(message, "plain") or _body(message, "html")
    texts: list[str] = []
    parts: list[Part] = []
    notes: list[str] = []
    for leaf, in_alternative in _leaves(message, in_alternative=False):
        if leaf is body or (_is_inline_text(leaf) and not in_alternative):
            texts.append(_readable(leaf))
        elif not _is_inline_text(leaf):
            part = _part(leaf)
            note = _over_cap(part, parts)
            if note:
                notes.append(note)
            else:
                parts.append(part)
    text = "\n\n".join(t.strip() for t in [*texts, *notes] if t.strip())
    return _capped(text), tuple(parts)


def _body(message: EmailMessage, kind: str) -> EmailMessage | None:
    try:
        found = message.get_body(preferencelist=(kind,))
    except (KeyError, ValueError, IndexError, TypeError):
        return None
    return found if isinstance(found, EmailMessage) else None


def _leaves(part: EmailMessage, *, in_alternative: bool) -> Iterator[tuple[EmailMessage, bool]]:
    """Every non-multipart part, depth first, and whether it is inside a
    ``multipart/alternative``; an attached e-mail is one leaf."""
    if part.get_content_maintype() == "multipart":
        inside = in_alternative or part.get_content_subtype() == "alternative"
        for sub in part.iter_parts():
            if isinstance(sub, EmailMessage):
                yield from _leaves(sub, in_alternative=inside)
    else:
        yield part, in_alternative


def _is_inline_text(part: EmailMessage) -> bool:
    """A text part that is more body (an HTML alternative, a footer), not a file."""
    return (
        part.get_content_maintype() == "text"
        and part.get_content_subtype() in ("plain", "html")
        and part.get_content_disposition() != "attachment"
        and not part.get_filename()
    )


def _readable(part: EmailMessage) -> str:
    text = _text(part)
    return htmltext.to_text(text) if part.get_content_subtype() == "html" else text


def _text(part: EmailMessage) -> str:
    try:
        value = part.get_content()
    except (LookupError, UnicodeError, ValueError):  # a charset Python does not know
        payload = part.get_payload(decode=True)
        value = _guess_decode(payload if isinstance(payload, bytes) else b"")
    text = value if isinstance(value, str) else ""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _guess_decode(data: bytes) -> str:
    """UTF-8 if it is valid, else Windows-1252 (what undeclared 8-bit mail mostly is)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _part(leaf: EmailMessage) -> Part:
    content_type = leaf.get_content_type()
    try:
        name = leaf.get_filename() or ""
    except HEADER_ERRORS:
        name = ""
    declared = content_type if CONTENT_TYPE.fullmatch(content_type) else "application/octet-stream"
    filename = safe_filename(name, content_type)
    return Part(filename=filename, content_type=declared, data=_payload(leaf))


def _payload(leaf: EmailMessage) -> bytes:
    if leaf.get_content_maintype() == "message":  # an attached e-mail, kept whole
        inner = leaf.get_payload(0) if leaf.is_multipart() else None
        try:
            return inner.as_bytes() if isinstance(inner, EmailMessage) else b""
        except (ValueError, TypeError, LookupError, UnicodeError):
            return b""
    data = leaf.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _over_cap(part: Part, kept: list[Part]) -> str:
    size = _megabytes(len(part.data))
    if len(kept) >= MAX_ATTACHMENTS:
        return f"[Attachment {part.filename} ({size}) not saved: over {MAX_ATTACHMENTS} files]"
    if len(part.data) > MAX_ATTACHMENT_BYTES:
        limit = _megabytes(MAX_ATTACHMENT_BYTES)
        return f"[Attachment {part.filename} ({size}) not saved: over the {limit} limit]"
    if sum(len(p.data) for p in kept) + len(part.data) > MAX_MESSAGE_BYTES:
        limit = _megabytes(MAX_MESSAGE_BYTES)
        return f"[Attachment {part.filename} ({size}) not saved: over {limit} in all]"
    return ""


def safe_filename(name: str, content_type: str) -> str:
    """A file name safe to save and to offer as a download: no directories, no control or
    reserved characters, at most 150 characters with its extension kept."""
    name = unicodedata.normalize("NFC", unescaped(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(FILENAME_UNSAFE.sub("", name).split()).strip(" .")
    if not name:
        name = "attachment" + (mimetypes.guess_extension(content_type) or ".bin")
    if len(name) > 150:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 10:
            name = f"{stem[: 149 - len(extension)]}.{extension}"
        else:
            name = name[:150]
    return name


def _too_large(size: int) -> str:
    limit = _megabytes(MAX_MESSAGE_BYTES)
    return (
        f"[This e-mail is {_megabytes(size)}, over the {limit} Fairdesk imports. "
        "Its text and attachments are only in the mailbox.]"
    )


def _capped(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[: MAX_TEXT_CHARS - len(TRUNCATED)] + TRUNCATED


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
