"""The e-mail connector: a support mailbox read by IMAP, replies sent by SMTP.

Configuration (``EmailConfig``) is the mailbox address and the two servers; the
credentials (encrypted) are ``imap_username``, ``imap_password``, ``smtp_username`` and
``smtp_password`` (SMTP without a username sends without AUTH, for a local relay).

- ``poll`` reads the IMAP folder from the channel's cursor (``mailbox``), makes each
  message an interchange record (``adapter``) and saves its attachments (``attachments``);
  their rows are written by ``store_attachments`` in the transaction of the records.
- ``send`` submits a threaded reply (``smtp``) and, with ``sent_folder`` configured,
  files a copy there by IMAP APPEND. The returned external id is the Message-ID.
- ``find_sent`` (reconciliation before re-sending after a crash) looks for that
  Message-ID in ``sent_folder``. Without a sent folder it cannot tell and returns None,
  so a reply whose first attempt died after the SMTP server took it is sent again. A
  crash between the SMTP submission and the APPEND has the same effect.
"""

import ipaddress
import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from django.utils import timezone
from pydantic import Field, StringConstraints, model_validator

from fairdesk.connectors.base import (
    Account,
    Connector,
    OutboundRequest,
    PermanentSendError,
    PollError,
    PollResult,
    SendError,
)
from fairdesk.connectors.config import ChannelConfig
from fairdesk.connectors.email import adapter, mailbox, smtp
from fairdesk.connectors.email import attachments as files
from fairdesk.connectors.payloads import PayloadError

logger = logging.getLogger(__name__)

MailAddress = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=f"^{adapter.ADDRESS_PATTERN}$"
    ),
]
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:-]{1,253}$")]
Port = Annotated[int, Field(ge=0, le=65535)]  # 0: the standard port for the security
Folder = Annotated[str, StringConstraints(pattern=r"^[\x20-\x7e]{1,200}$")]  # ASCII names
Security = Literal["ssl", "starttls", "none"]
DisplayName = Annotated[str, StringConstraints(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]
STANDARD_PORTS = {
    "imap": {"ssl": 993, "starttls": 143, "none": 143},
    "smtp": {"ssl": 465, "starttls": 587, "none": 25},
}


class EmailConfig(ChannelConfig):
    """A support mailbox. ``none`` (no TLS) is accepted only for a server on this machine."""

    address: MailAddress = Field(description="The support mailbox's address.")
    imap_host: Host
    imap_port: Port = Field(0, description="0: 993 with ssl, else 143.")
    imap_security: Security = Field("ssl", description="ssl, starttls, or none (this machine).")
    imap_folder: Folder = Field("INBOX", description="The folder read (ASCII name).")
    sent_folder: Folder | None = Field(
        None, description="Where replies are filed, so a retry after a crash finds them."
    )
    smtp_host: Host
    smtp_port: Port = Field(0, description="0: 465 with ssl, 587 with starttls, else 25.")
    smtp_security: Security = Field("ssl", description="ssl, starttls, or none (this machine).")
    from_name: DisplayName = Field("", description="Shown as the sender of replies.")

    @model_validator(mode="after")
    def tls_and_ports(self) -> "EmailConfig":
        for server in ("imap", "smtp"):
            host, security = getattr(self, f"{server}_host"), getattr(self, f"{server}_security")
            if security == "none" and not is_loopback(host):
                raise ValueError(f"{server}_security 'none' is only allowed for this machine")
            if not getattr(self, f"{server}_port"):
                setattr(self, f"{server}_port", STANDARD_PORTS[server][security])
        return self


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmailConnector(Connector):
    kind = "email"
    config_model = EmailConfig

    def poll(self, account: Account, cursor: dict[str, Any]) -> PollResult:
        config: EmailConfig = account.config
        with mailbox.session(config, account.credentials) as imap:
            page = mailbox.read_page(imap, folder=config.imap_folder, cursor=cursor)
        result = PollResult(cursor=page.cursor, more=page.more)
        now = timezone.now()
        for fetched in page.messages:
            mail = _parse(fetched, address=config.address, now=now)
            if mail is not None:
                result.records.append(mail.record)
                result.attachments.extend(_save_files(mail))
        return result

    def store_attachments(self, account: Account, attachments: list[Any]) -> None:
        files.store(workspace_id=account.workspace_id, files=attachments)

    def send(self, account: Account, request: OutboundRequest) -> str:
        config: EmailConfig = account.config
        recipient = _recipient(request)
        try:
            message = smtp.compose(
                config=config, request=request, recipient=recipient, now=timezone.now()
            )
        except ValueError as exc:
            raise PermanentSendError(f"cannot write this e-mail: {exc}") from exc
        raw = smtp.as_bytes(message)
        smtp.deliver(config, account.credentials, recipient=recipient, raw=raw)
        if config.sent_folder:
            _file_copy(account, folder=config.sent_folder, raw=raw)
        return smtp.message_id(request.idempotency_key, config.address)

    def find_sent(self, account: Account, request: OutboundRequest) -> str | None:
        config: EmailConfig = account.config
        if not config.sent_folder:
            return None
        wanted = smtp.message_id(request.idempotency_key, config.address)
        try:
            with mailbox.session(config, account.credentials) as imap:
                found = mailbox.has_message_id(imap, folder=config.sent_folder, message_id=wanted)
        except PollError as exc:
            raise SendError(f"cannot check the sent folder: {exc}") from exc
        return wanted if found else None


def _parse(fetched: mailbox.Fetched, *, address: str, now: datetime) -> adapter.Mail | None:
    """One fetched message as a record, or None (logged) when it is not imported.

    Mail is hostile input and the ``email`` package can fail on it in unforeseen ways;
    one such message must not stop the mailbox (it stays there, unread by us, and the
    failure is logged with its UID), so any error parsing it skips it.
    """
    oversized = None if fetched.complete else fetched.size
    try:
        return adapter.parse(fetched.raw, address=address, now=now, oversized=oversized)
    except adapter.NotCustomerMail as skipped:
        logger.info("e-mail UID %s not imported: %s", fetched.uid, skipped)
    except PayloadError as invalid:
        logger.warning("e-mail UID %s not imported: %s", fetched.uid, invalid)
    except Exception:
        logger.exception("e-mail UID %s could not be parsed; not imported", fetched.uid)
    return None


def _save_files(mail: adapter.Mail) -> list[files.SavedFile]:
    try:
        return files.save(message_external_id=mail.record["external_id"], parts=mail.attachments)
    except OSError as exc:  # disk full, permissions: nothing stored, retried next round
        raise PollError(f"cannot save an attachment: {exc}") from exc


def _recipient(request: OutboundRequest) -> str:
    recipient = request.recipient.external_id if request.recipient is not None else ""
    if not adapter.ADDRESS.fullmatch(recipient):
        raise PermanentSendError("this case has no customer e-mail address to reply to")
    return recipient


def _file_copy(account: Account, *, folder: str, raw: bytes) -> None:
    """Keep a copy in the sent folder (what ``find_sent`` looks in). The reply has gone
    out already: failing here only weakens reconciliation, so it is logged, not raised."""
    try:
        with mailbox.session(account.config, account.credentials) as imap:
            mailbox.append(imap, folder=folder, raw=raw)
    except PollError as exc:
        logger.warning("sent reply not filed in %r: %s", folder, exc)


CONNECTOR = EmailConnector()
