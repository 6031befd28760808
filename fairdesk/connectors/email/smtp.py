"""Replies by e-mail: a threaded RFC 5322 message, submitted over SMTP (RFC 5321,
RFC 6409; implicit TLS per RFC 8314 or STARTTLS per RFC 3207) with ``smtplib``.

The message is built with ``email.message.EmailMessage`` under ``policy.SMTP``, which
refuses CR or LF inside any header value: a name or subject can never add a header.
Names and subjects are also made one line before they are set. Headers are written
with lines up to 998 characters (RFC 5322's limit) so that long message ids in
In-Reply-To and References are never folded into encoded words, which would break
threading in the customer's mail program.

``Message-ID`` is derived from the outbox idempotency key, so the copy of a reply that
comes back by IMAP is the same external id (a duplicate), and a retried send can be
found again in the sent folder (``find_sent``).
"""

import hashlib
import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from fairdesk.connectors.base import OutboundRequest, PermanentSendError, SendError
from fairdesk.connectors.email.adapter import MAX_SUBJECT_CHARS, MESSAGE_ID, one_line

if TYPE_CHECKING:
    from fairdesk.connectors.email.connector import EmailConfig

TIMEOUT = 30.0
REPLY_PREFIX = re.compile(r"re\s*:", re.IGNORECASE)
HEADER_POLICY = SMTP.clone(max_line_length=998)
MAX_REFERENCES = 50


def message_id(idempotency_key: str, address: str) -> str:
    """``<fd-{sha256(key)[:32]}@{domain of address}>``: the same key, the same id."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<fd-{digest}@{address.rpartition('@')[2]}>"


def reply_subject(subject: str) -> str:
    """'Re: ' + the case subject, never 'Re: Re: …'."""
    line = one_line(subject, MAX_SUBJECT_CHARS) or "Your message"
    return line if REPLY_PREFIX.match(line) else f"Re: {line}"


def compose(
    *, config: "EmailConfig", request: OutboundRequest, recipient: str, now: datetime
) -> EmailMessage:
    """The reply as a message (``ValueError`` if an address cannot be written)."""
    message = EmailMessage(policy=SMTP)
    message["Message-ID"] = message_id(request.idempotency_key, config.address)
    message["Date"] = format_datetime(now)
    message["From"] = Address(
        display_name=one_line(config.from_name, 100), addr_spec=config.address
    )
    message["To"] = Address(addr_spec=recipient)
    message["Subject"] = reply_subject(request.subject)
    parent = request.in_reply_to if MESSAGE_ID.fullmatch(request.in_reply_to) else ""
    if parent:
        message["In-Reply-To"] = parent
    references = _references(request.thread, parent)
    if references:
        message["References"] = " ".join(references)
    message["Auto-Submitted"] = "no"
    message.set_content(request.text)
    return message


def _references(thread: tuple[str, ...], parent: str) -> list[str]:
    """The thread's message ids, oldest first, ending with the one answered."""
    ids = [i for i in thread if MESSAGE_ID.fullmatch(i) and i != parent]
    if parent:
        ids.append(parent)
    return ids[-MAX_REFERENCES:]


def as_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=HEADER_POLICY)


def deliver(
    config: "EmailConfig", credentials: dict[str, Any], *, recipient: str, raw: bytes
) -> None:
    """Submit ``raw`` for ``recipient``. 4xx and network errors → ``SendError`` (retried),
    5xx → ``PermanentSendError``."""
    username = str(credentials.get("smtp_username") or "")
    password = str(credentials.get("smtp_password") or "")
    try:
        with _client(config) as client:
            if username:
                client.login(username, password)
            client.sendmail(config.address, [recipient], raw)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise _by_code(code, reply) from exc
    except smtplib.SMTPResponseException as exc:
        raise _by_code(exc.smtp_code, exc.smtp_error) from exc
    except UnicodeEncodeError as exc:  # a non-ASCII address needs SMTPUTF8 (RFC 6531)
        raise PermanentSendError(f"cannot send to {recipient!r} without SMTPUTF8") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"SMTP {config.smtp_host}: {type(exc).__name__}: {exc}"[:300]) from exc


@contextmanager
def _client(config: "EmailConfig") -> Iterator[smtplib.SMTP]:
    """A connection with TLS as configured; EHLO names the support address's domain
    (no reverse lookup of our own host name)."""
    context = ssl.create_default_context()
    local = config.address.rpartition("@")[2]
    client: smtplib.SMTP
    if config.smtp_security == "ssl":
        client = smtplib.SMTP_SSL(
            config.smtp_host, config.smtp_port, local, timeout=TIMEOUT, context=context
        )
    else:
        client = smtplib.SMTP(config.smtp_host, config.smtp_port, local, timeout=TIMEOUT)
    with client:
        if config.smtp_security == "starttls":
            client.starttls(context=context)
        yield client


def _by_code(code: int, reply: bytes | str) -> SendError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    detail = f"SMTP {code} {one_line(text, 250)}"
    return PermanentSendError(detail) if 500 <= code < 600 else SendError(detail)
