"""Polling a real IMAP server (Dovecot) by UID: cursor, pages, UIDVALIDITY, duplicates."""

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from fairdesk.cases.models import Attachment
from fairdesk.connectors import polling
from fairdesk.connectors.email import adapter, mailbox
from fairdesk.connectors.email.tests.conftest import credentials, email_config, eml
from fairdesk.connectors.email.tests.servers import Dovecot
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace


def payloads(workspace: Workspace) -> list[dict]:
    events = InboundEvent.objects.filter(workspace=workspace).order_by("id")
    found = events.values_list("payload", flat=True)
    return [p if isinstance(p, dict) else json.loads(p) for p in found]


def test_poll_stores_new_mail_and_moves_the_cursor(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace, other_workspace: Workspace
) -> None:
    dovecot.deliver(eml("alternative.eml"))
    dovecot.deliver(eml("latin1.eml"))

    outcome = polling.poll_channel(acme_mailbox)

    assert (outcome.stored, outcome.duplicates, outcome.pages, outcome.error) == (2, 0, 1, "")
    acme_mailbox.refresh_from_db()
    assert acme_mailbox.cursor["uid"] == 2
    assert isinstance(acme_mailbox.cursor["uidvalidity"], int)
    stored = payloads(workspace)
    assert [p["external_id"] for p in stored] == [
        "<4f1c2a77-9d3e-4b8a-a1f0-6c2e5d9b1a10@example.net>",
        "<201102080000.AB12345@mail.example.de>",
    ]
    assert [p["subject"] for p in stored] == [
        "DX-300 dryer stopped heating again (order 55812)",
        "Rückerstattung für Bestellung 55812 \u2013 bitte",
    ]
    assert not InboundEvent.objects.filter(workspace=other_workspace).exists()

    again = polling.poll_channel(acme_mailbox)
    assert (again.stored, again.duplicates) == (0, 0)
    dovecot.deliver(eml("no_message_id.eml"))
    third = polling.poll_channel(acme_mailbox)
    assert (third.stored, third.duplicates) == (1, 0)
    acme_mailbox.refresh_from_db()
    assert acme_mailbox.cursor["uid"] == 3


def test_polling_marks_nothing_read(acme_mailbox: Channel, dovecot: Dovecot) -> None:
    dovecot.deliver(eml("alternative.eml"))
    polling.poll_channel(acme_mailbox)
    [message] = dovecot.messages()
    assert "\\Seen" not in message["meta"]


def test_each_workspace_polls_its_own_mailbox(
    acme_mailbox: Channel,
    globex_mailbox: Channel,
    dovecot: Dovecot,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    dovecot.deliver(eml("alternative.eml"), user="support")
    dovecot.deliver(eml("iso2022jp.eml"), user="help")

    call_command("poll", "--once")

    assert [p["author"]["email"] for p in payloads(workspace)] == ["dana.whitfield@example.net"]
    assert [p["author"]["email"] for p in payloads(other_workspace)] == ["taro.yamada@example.jp"]
    assert [p["brand_handle"] for p in payloads(other_workspace)] == ["help@globex.test"]


def test_the_same_mail_twice_is_stored_once(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace
) -> None:
    dovecot.deliver(eml("attachments.eml"))
    dovecot.deliver(eml("attachments.eml"))

    outcome = polling.poll_channel(acme_mailbox)

    assert (outcome.stored, outcome.duplicates) == (1, 1)
    assert InboundEvent.objects.filter(workspace=workspace).count() == 1
    assert Attachment.objects.filter(workspace=workspace).count() == 5


def test_pages_are_bounded_and_polled_until_done(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailbox, "PAGE_SIZE", 2)
    for name in ("alternative.eml", "latin1.eml", "iso2022jp.eml", "no_message_id.eml"):
        dovecot.deliver(eml(name))
    dovecot.deliver(eml("encoded_crlf.eml"))

    outcome = polling.poll_channel(acme_mailbox)

    assert (outcome.stored, outcome.pages) == (5, 3)
    acme_mailbox.refresh_from_db()
    assert acme_mailbox.cursor["uid"] == 5


def test_a_new_uidvalidity_reads_the_folder_again_without_duplicates(
    workspace: Workspace, dovecot: Dovecot, data_dir: object
) -> None:
    dovecot.create_folder("Support Queue")
    channel = create_channel(
        workspace=workspace,
        kind="email",
        name="Support",
        config=email_config(dovecot, None, imap_folder="Support Queue"),
        credentials=credentials(dovecot),
    )
    dovecot.deliver(eml("alternative.eml"), folder="Support Queue")
    dovecot.deliver(eml("latin1.eml"), folder="Support Queue")
    polling.poll_channel(channel)
    channel.refresh_from_db()
    before = channel.cursor
    # The folder is recreated (a restore, a server migration): UIDs start again.
    dovecot.delete_folder("Support Queue")
    dovecot.create_folder("Support Queue")
    for name in ("alternative.eml", "latin1.eml", "no_message_id.eml"):
        dovecot.deliver(eml(name), folder="Support Queue")

    outcome = polling.poll_channel(channel)

    channel.refresh_from_db()
    assert channel.cursor["uidvalidity"] != before["uidvalidity"]
    assert (before["uid"], channel.cursor["uid"]) == (2, 3)
    assert (outcome.stored, outcome.duplicates) == (1, 2)
    assert InboundEvent.objects.filter(workspace=workspace).count() == 3


def test_auto_replies_and_bounces_are_not_imported_but_passed(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace
) -> None:
    for name in ("auto_reply.eml", "bulk.eml", "bounce.eml", "report_without_auto_submitted.eml"):
        dovecot.deliver(eml(name))
    dovecot.deliver(eml("alternative.eml"))

    outcome = polling.poll_channel(acme_mailbox)

    assert outcome.stored == 1
    assert [p["subject"] for p in payloads(workspace)] == [
        "DX-300 dryer stopped heating again (order 55812)"
    ]
    acme_mailbox.refresh_from_db()
    assert acme_mailbox.cursor["uid"] == 5


def test_mail_over_the_size_cap_is_imported_from_its_header(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailbox, "MAX_MESSAGE_BYTES", 600)
    dovecot.deliver(eml("attachments.eml"))  # about 3 kB

    assert polling.poll_channel(acme_mailbox).stored == 1

    [record] = payloads(workspace)
    assert record["subject"] == "Photos of the dryer"
    assert record["text"].startswith("[This e-mail is 0.0 MB, over the 20.0 MB Fairdesk imports.")
    assert not Attachment.objects.exists()


def test_wrong_password_is_a_poll_error_that_changes_nothing(
    workspace: Workspace, dovecot: Dovecot, data_dir: object
) -> None:
    channel = create_channel(
        workspace=workspace,
        kind="email",
        name="Support",
        config=email_config(dovecot, None),
        credentials={"imap_username": dovecot.login("support"), "imap_password": "wrong"},
    )
    dovecot.deliver(eml("alternative.eml"))

    outcome = polling.poll_channel(channel)

    assert outcome.stored == 0
    assert "AUTHENTICATIONFAILED" in outcome.error
    channel.refresh_from_db()
    assert channel.cursor == {}
    assert channel.last_error.startswith("poll: IMAP 127.0.0.1:")
    assert not InboundEvent.objects.exists()


def test_an_unreachable_server_is_a_poll_error(workspace: Workspace, data_dir: object) -> None:
    from fairdesk.connectors.email.tests.servers import free_port

    channel = create_channel(
        workspace=workspace,
        kind="email",
        name="Support",
        config={**email_config(None, None), "imap_port": free_port()},
        credentials={"imap_username": "support", "imap_password": "secret"},
    )
    outcome = polling.poll_channel(channel)
    assert outcome.error.startswith("IMAP connection to 127.0.0.1: ConnectionRefusedError")
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_tls_is_verified(
    workspace: Workspace,
    dovecot: Dovecot,
    data_dir: object,
    monkeypatch: pytest.MonkeyPatch,
    security: str,
) -> None:
    port = dovecot.tls_port if security == "ssl" else dovecot.port
    channel = create_channel(
        workspace=workspace,
        kind="email",
        name="Support",
        config=email_config(dovecot, None, imap_security=security, imap_port=port),
        credentials=credentials(dovecot),
    )
    dovecot.deliver(eml("alternative.eml"))

    refused = polling.poll_channel(channel)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.error
    assert not InboundEvent.objects.exists()

    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.certificate))  # now trusted
    assert polling.poll_channel(channel).stored == 1


def test_a_message_the_parser_fails_on_is_skipped_not_blocking(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_parse = adapter.parse

    def fragile(raw: bytes, **options: Any) -> adapter.Mail:
        if b"Lena" in raw:
            raise IndexError("a parser bug on hostile input")
        return real_parse(raw, **options)

    monkeypatch.setattr(adapter, "parse", fragile)
    for name in ("no_message_id.eml", "alternative.eml"):
        dovecot.deliver(eml(name))

    assert polling.poll_channel(acme_mailbox).stored == 1

    assert [p["author"]["email"] for p in payloads(workspace)] == ["dana.whitfield@example.net"]
    acme_mailbox.refresh_from_db()
    assert acme_mailbox.cursor["uid"] == 2


def test_attachments_that_cannot_be_saved_are_a_poll_error(
    acme_mailbox: Channel, dovecot: Dovecot, data_dir: Path
) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "attachments").write_text("a file where the folder should be")
    dovecot.deliver(eml("attachments.eml"))

    outcome = polling.poll_channel(acme_mailbox)

    assert outcome.error.startswith("cannot save an attachment: ")
    acme_mailbox.refresh_from_db()
    assert acme_mailbox.cursor == {}
    assert not InboundEvent.objects.exists()
