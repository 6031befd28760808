"""The support mailbox over IMAP (RFC 3501 IMAP4rev1, RFC 2595 STARTTLS), with the
standard library's ``imaplib``.

Reading is by UID from a cursor ``{"uidvalidity", "uid"}``: the folder is opened
read-only (EXAMINE) and bodies are fetched with ``BODY.PEEK[]``, so nothing is marked
read or changed for the people who also use the mailbox. UIDs are only meaningful
within one UIDVALIDITY; when the server announces another, reading starts again from
the first message (every message is read again; its Message-ID makes it a duplicate
the store ignores). A page is at most ``PAGE_SIZE`` messages and ``PAGE_BYTES``; a
message over ``adapter.MAX_MESSAGE_BYTES`` is fetched as its header only.

Every protocol or network failure is a ``PollError``.
"""

import imaplib
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fairdesk.connectors.base import PollError
from fairdesk.connectors.email.adapter import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from fairdesk.connectors.email.connector import EmailConfig

PAGE_SIZE = 50
PAGE_BYTES = 40 * 1024 * 1024
TIMEOUT = 30.0
UID = re.compile(rb"\bUID (\d+)")
SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
IMAP_ERRORS = (imaplib.IMAP4.error, OSError, EOFError)


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes
    size: int
    complete: bool  # False: only the header was fetched (the message is over the cap)


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Fetched]
    cursor: dict[str, int]
    more: bool


@contextmanager
def session(config: "EmailConfig", credentials: dict[str, Any]) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection to the configured server; closed on the way out."""
    username = str(credentials.get("imap_username") or "")
    password = str(credentials.get("imap_password") or "")
    if not username or not password:
        raise PollError("IMAP credentials are missing (imap_username, imap_password)")
    try:
        imap = _connect(config)
    except IMAP_ERRORS as exc:
        raise PollError(f"IMAP connection to {config.imap_host}: {_describe(exc)}") from exc
    try:
        imap.login(username, password)
        yield imap
    except IMAP_ERRORS as exc:
        raise PollError(f"IMAP {config.imap_host}: {_describe(exc)}") from exc
    finally:
        with suppress(*IMAP_ERRORS):
            imap.logout()


def _connect(config: "EmailConfig") -> imaplib.IMAP4:
    context = ssl.create_default_context()
    if config.imap_security == "ssl":
        return imaplib.IMAP4_SSL(
            config.imap_host, config.imap_port, ssl_context=context, timeout=TIMEOUT
        )
    imap = imaplib.IMAP4(config.imap_host, config.imap_port, timeout=TIMEOUT)
    if config.imap_security == "starttls":
        try:
            imap.starttls(ssl_context=context)
        except IMAP_ERRORS:
            with suppress(*IMAP_ERRORS):
                imap.shutdown()
            raise
    return imap


def read_page(imap: imaplib.IMAP4, *, folder: str, cursor: dict[str, Any]) -> Page:
    """The messages after ``cursor`` (oldest first) and the cursor after them."""
    validity = _examine(imap, folder)
    last = int(cursor.get("uid") or 0) if cursor.get("uidvalidity") == validity else 0
    waiting = _uids_after(imap, last)
    sizes = _sizes(imap, waiting[:PAGE_SIZE])
    chosen = _within_budget(waiting[:PAGE_SIZE], sizes)
    small = [uid for uid in chosen if 0 < sizes.get(uid, 0) <= MAX_MESSAGE_BYTES]
    large = [uid for uid in chosen if sizes.get(uid, 0) > MAX_MESSAGE_BYTES]
    bodies = _fetch(imap, small, "BODY.PEEK[]")
    headers = _fetch(imap, large, "BODY.PEEK[HEADER]")
    messages = [
        Fetched(uid=uid, raw=raw, size=sizes[uid], complete=uid in bodies)
        for uid in chosen
        if (raw := bodies.get(uid) or headers.get(uid)) is not None
    ]
    return Page(
        messages=messages,
        cursor={"uidvalidity": validity, "uid": chosen[-1] if chosen else last},
        more=len(chosen) < len(waiting),
    )


def _examine(imap: imaplib.IMAP4, folder: str) -> int:
    """Open ``folder`` read-only; its UIDVALIDITY."""
    status, data = imap.select(quote(folder), readonly=True)
    if status != "OK":
        raise PollError(f"cannot open folder {folder!r}: {_text(data)}")
    _, values = imap.response("UIDVALIDITY")
    found = values[0] if values else None
    if not isinstance(found, bytes) or not found.strip().isdigit():
        raise PollError(f"folder {folder!r} has no UIDVALIDITY")
    return int(found)


def _uids_after(imap: imaplib.IMAP4, last: int) -> list[int]:
    # "N:*" also matches the highest UID when it is below N (RFC 3501 6.4.8): filter.
    data = _ok(imap.uid("SEARCH", f"UID {last + 1}:*"), "SEARCH")
    words = b" ".join(d for d in data if isinstance(d, bytes)).split()
    return sorted(uid for uid in (int(w) for w in words if w.isdigit()) if uid > last)


def _sizes(imap: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    if not uids:
        return {}
    data = _ok(imap.uid("FETCH", _uid_set(uids), "(UID RFC822.SIZE)"), "FETCH")
    sizes: dict[int, int] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        uid, size = UID.search(line or b""), SIZE.search(line or b"")
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def _within_budget(uids: list[int], sizes: dict[int, int]) -> list[int]:
    """The first UIDs whose bodies fit in ``PAGE_BYTES`` (always at least one)."""
    chosen: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        cost = size if size <= MAX_MESSAGE_BYTES else 0  # over the cap: header only
        if chosen and total + cost > PAGE_BYTES:
            break
        chosen.append(uid)
        total += cost
    return chosen


def _fetch(imap: imaplib.IMAP4, uids: list[int], item: str) -> dict[int, bytes]:
    """``item`` of each UID; a UID expunged meanwhile is simply absent."""
    if not uids:
        return {}
    data = _ok(imap.uid("FETCH", _uid_set(uids), f"(UID {item})"), "FETCH")
    found: dict[int, bytes] = {}
    pending: bytes | None = None  # a literal whose UID comes after it
    for entry in data:
        if isinstance(entry, tuple):
            match = UID.search(entry[0])
            if match:
                found[int(match.group(1))] = entry[1]
            else:
                pending = entry[1]
        elif isinstance(entry, bytes) and pending is not None:
            match = UID.search(entry)
            if match:
                found[int(match.group(1))] = pending
                pending = None
    return found


def append(imap: imaplib.IMAP4, *, folder: str, raw: bytes) -> None:
    """File ``raw`` in ``folder`` as read, creating the folder if the server asks to."""
    when = imaplib.Time2Internaldate(time.time())
    status, data = imap.append(quote(folder), r"(\Seen)", when, raw)
    if status != "OK" and b"TRYCREATE" in b" ".join(d for d in data if isinstance(d, bytes)):
        imap.create(quote(folder))
        status, data = imap.append(quote(folder), r"(\Seen)", when, raw)
    if status != "OK":
        raise PollError(f"cannot file a copy in {folder!r}: {_text(data)}")


def has_message_id(imap: imaplib.IMAP4, *, folder: str, message_id: str) -> bool:
    """Whether ``folder`` holds a message with this Message-ID header."""
    _examine(imap, folder)
    data = _ok(imap.uid("SEARCH", "HEADER", "Message-ID", quote(message_id)), "SEARCH")
    return any(isinstance(d, bytes) and d.split() for d in data)


def quote(value: str) -> str:
    """An IMAP quoted string (folder names with spaces, message ids)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uid_set(uids: list[int]) -> str:
    return ",".join(str(uid) for uid in uids)


def _ok(answer: tuple[str, list[Any]], command: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        raise PollError(f"IMAP {command} failed: {_text(data)}")
    return data


def _text(data: list[Any]) -> str:
    parts = [d.decode(errors="replace") if isinstance(d, bytes) else str(d) for d in data]
    return " ".join(parts)[:200]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
