"""Sending replies through a real SMTP server (aiosmtpd) and filing them by IMAP."""

import hashlib
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from fairdesk.connectors import registry
from fairdesk.connectors.base import (
    Account,
    OutboundRequest,
    PermanentSendError,
    Recipient,
    SendError,
)
from fairdesk.connectors.email import smtp
from fairdesk.connectors.email.connector import CONNECTOR
from fairdesk.connectors.email.tests.conftest import ACME, credentials, email_config
from fairdesk.connectors.email.tests.servers import (
    Dovecot,
    SmtpRecorder,
    free_port,
    server_tls_context,
    start_smtp,
    write_certificate,
)
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

DANA = "dana.whitfield@example.net"
DANA_ID = "<4f1c2a77-9d3e-4b8a-a1f0-6c2e5d9b1a10@example.net>"
WEBMAIL_ID = "<reply-from-webmail-77@acme.test>"


def reply(key: str = "reply-1", **changes: Any) -> OutboundRequest:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "text": "A technician will call you today.\nSorry for the trouble. ^JC",
        "visibility": "private",
        "channel": "email",
        "in_reply_to": DANA_ID,
        "thread": (DANA_ID, WEBMAIL_ID, "<0d788e92@no-message-id.invalid>"),
        "recipient": Recipient(external_id=DANA),
        "subject": "DX-300 dryer stopped heating again (order 55812)",
        **changes,
    }
    return OutboundRequest(**fields)


def account_for(
    workspace: Workspace, smtp_port: int, *, creds: dict[str, str] | None = None, **config: Any
) -> Account:
    settings = {**email_config(None, None), "smtp_port": smtp_port, **config}
    channel = create_channel(
        workspace=workspace, kind="email", name="Support", config=settings, credentials=creds
    )
    return registry.account(channel)


def headers(raw: bytes) -> Any:
    return message_from_bytes(raw, policy=default_policy)


def expected_id(key: str) -> str:
    return f"<fd-{hashlib.sha256(key.encode()).hexdigest()[:32]}@acme.test>"


def test_a_reply_is_threaded_and_its_message_id_is_the_external_id(
    workspace: Workspace, smtp_server: Controller, smtp_recorder: SmtpRecorder
) -> None:
    account = account_for(workspace, smtp_server.port)

    external_id = CONNECTOR.send(account, reply())

    assert external_id == expected_id("reply-1")
    [received] = smtp_recorder.received
    assert (received.mail_from, received.rcpt_tos) == (ACME, [DANA])
    message = headers(received.content)
    assert message["Message-ID"] == external_id
    assert message["From"] == "Acme Support <support@acme.test>"
    assert message["To"] == DANA
    assert message["Subject"] == "Re: DX-300 dryer stopped heating again (order 55812)"
    assert message["In-Reply-To"] == DANA_ID
    assert message["References"] == f"{WEBMAIL_ID} <0d788e92@no-message-id.invalid> {DANA_ID}"
    assert message["Auto-Submitted"] == "no"
    assert message["Date"].datetime is not None
    body = "A technician will call you today.\r\nSorry for the trouble. ^JC\r\n"
    assert message.get_content() == body
    # the same outbox key gives the same Message-ID (what reconciliation relies on)
    assert CONNECTOR.send(account, reply()) == external_id


def test_long_message_ids_are_never_folded_into_encoded_words(
    workspace: Workspace, smtp_server: Controller, smtp_recorder: SmtpRecorder
) -> None:
    gmail_id = "<CAK" + "q" * 150 + "@mail.gmail.com>"
    CONNECTOR.send(
        account_for(workspace, smtp_server.port), reply(in_reply_to=gmail_id, thread=(gmail_id,))
    )
    message = headers(smtp_recorder.received[0].content)
    assert (message["In-Reply-To"], message["References"]) == (gmail_id, gmail_id)
    assert b"=?utf-8?" not in smtp_recorder.received[0].content


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Heater broken", "Re: Heater broken"),
        ("Re: Heater broken", "Re: Heater broken"),
        ("RE:Heater broken", "RE:Heater broken"),
        ("", "Re: Your message"),
        ("Refund\r\nBcc: evil@x.test", "Re: Refund Bcc: evil@x.test"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert smtp.reply_subject(subject) == expected


def test_crlf_in_a_subject_or_name_never_adds_a_header(
    workspace: Workspace, smtp_server: Controller, smtp_recorder: SmtpRecorder
) -> None:
    account = account_for(workspace, smtp_server.port)
    account.config.from_name = "Acme\r\nBcc: evil@x.test"  # past validation, as if stored
    hostile = reply(subject="Refund\r\nBcc: evil@x.test\r\n\r\nInjected body")

    CONNECTOR.send(account, hostile)

    [received] = smtp_recorder.received
    assert received.rcpt_tos == [DANA]
    message = headers(received.content)
    assert message.get_all("Bcc") is None
    assert [len(message.get_all(h)) for h in ("From", "To", "Subject")] == [1, 1, 1]
    assert message["Subject"] == "Re: Refund Bcc: evil@x.test Injected body"
    assert message["From"].addresses[0].display_name == "Acme Bcc: evil@x.test"
    assert message["From"].addresses[0].addr_spec == ACME


def test_a_hostile_recipient_is_refused_before_connecting(
    workspace: Workspace, smtp_server: Controller, smtp_recorder: SmtpRecorder
) -> None:
    account = account_for(workspace, smtp_server.port)
    for recipient in (None, Recipient(external_id=f"{DANA}\r\nBcc: evil@x.test")):
        with pytest.raises(PermanentSendError, match="no customer e-mail address"):
            CONNECTOR.send(account, reply(recipient=recipient))
    assert smtp_recorder.received == []


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("jürgen@example.de", "cannot write this e-mail: local-part contains non-ASCII"),
        ("dana@bücher.example", "cannot send to 'dana@bücher.example' without SMTPUTF8"),
    ],
)
def test_a_non_ascii_address_is_refused_for_good(
    workspace: Workspace,
    smtp_server: Controller,
    smtp_recorder: SmtpRecorder,
    address: str,
    error: str,
) -> None:
    account = account_for(workspace, smtp_server.port)
    with pytest.raises(PermanentSendError) as refused:
        CONNECTOR.send(account, reply(recipient=Recipient(external_id=address)))
    assert str(refused.value).startswith(error)
    assert smtp_recorder.received == []


@pytest.mark.parametrize(
    ("where", "answer", "permanent"),
    [
        ("data", "451 4.3.0 Try again later", False),
        ("data", "554 5.7.1 Message rejected as spam", True),
        ("rcpt", "450 4.2.1 Mailbox busy", False),
        ("rcpt", "550 5.1.1 No such user", True),
    ],
)
def test_smtp_answers_map_onto_send_errors(
    workspace: Workspace,
    smtp_server: Controller,
    smtp_recorder: SmtpRecorder,
    where: str,
    answer: str,
    permanent: bool,
) -> None:
    (smtp_recorder.replies if where == "data" else smtp_recorder.refusals).append(answer)

    with pytest.raises(SendError) as failed:
        CONNECTOR.send(account_for(workspace, smtp_server.port), reply())

    assert isinstance(failed.value, PermanentSendError) is permanent
    assert str(failed.value) == f"SMTP {answer}"
    assert smtp_recorder.received == []


def test_an_unreachable_smtp_server_is_retryable(workspace: Workspace) -> None:
    with pytest.raises(SendError) as failed:
        CONNECTOR.send(account_for(workspace, free_port()), reply())
    assert not isinstance(failed.value, PermanentSendError)
    assert "ConnectionRefusedError" in str(failed.value)


def test_smtp_auth(
    workspace: Workspace, smtp_server: Controller, smtp_recorder: SmtpRecorder
) -> None:
    good = {"smtp_username": "acme-support", "smtp_password": "smtp-secret"}
    CONNECTOR.send(account_for(workspace, smtp_server.port, creds=good), reply())
    assert smtp_recorder.logins == ["acme-support"]

    bad = {**good, "smtp_password": "wrong"}
    with pytest.raises(PermanentSendError, match=r"^SMTP 535 "):
        CONNECTOR.send(account_for(workspace, smtp_server.port, creds=bad), reply("reply-2"))
    assert len(smtp_recorder.received) == 1


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return write_certificate(tmp_path / "tls")


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_is_verified(
    workspace: Workspace,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    security: str,
) -> None:
    recorder = SmtpRecorder()
    context = server_tls_context(*certificate)
    options = (
        {"tls_context": context, "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": context}
    )
    controller = start_smtp(recorder, **options)
    try:
        account = account_for(workspace, controller.port, smtp_security=security)
        with pytest.raises(SendError, match="CERTIFICATE_VERIFY_FAILED"):
            CONNECTOR.send(account, reply())
        assert recorder.received == []

        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # now trusted
        CONNECTOR.send(account, reply())
    finally:
        controller.stop()
    assert len(recorder.received) == 1


# --- the sent folder and reconciliation ------------------------------------------------


def test_a_sent_reply_is_filed_and_found_again(
    workspace: Workspace, dovecot: Dovecot, smtp_server: Controller, smtp_recorder: SmtpRecorder
) -> None:
    channel = create_channel(
        workspace=workspace,
        kind="email",
        name="Support",
        config=email_config(dovecot, smtp_server, sent_folder="Sent Items"),
        credentials=credentials(dovecot),
    )
    account = registry.account(channel)

    external_id = CONNECTOR.send(account, reply())  # "Sent Items" is created on the way

    [filed] = dovecot.messages("Sent Items")
    assert "\\Seen" in filed["meta"]
    assert filed["raw"] == smtp_recorder.received[0].content
    assert CONNECTOR.find_sent(account, reply()) == external_id
    assert CONNECTOR.find_sent(account, reply("never-sent")) is None


def test_without_a_sent_folder_reconciliation_cannot_tell(
    workspace: Workspace, smtp_server: Controller
) -> None:
    # no IMAP server is even reachable: nothing is asked
    account = account_for(workspace, smtp_server.port, imap_port=free_port())
    CONNECTOR.send(account, reply())
    assert CONNECTOR.find_sent(account, reply()) is None


def test_an_unreachable_sent_folder_is_a_retryable_error(
    workspace: Workspace, smtp_server: Controller
) -> None:
    account = account_for(
        workspace,
        smtp_server.port,
        creds={"imap_username": "support", "imap_password": "secret"},
        imap_port=free_port(),
        sent_folder="Sent",
    )
    with pytest.raises(SendError, match="cannot check the sent folder"):
        CONNECTOR.find_sent(account, reply())
