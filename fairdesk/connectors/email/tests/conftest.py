import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from fairdesk.connectors.email.tests.servers import (
    PASSWORD,
    Dovecot,
    SmtpRecorder,
    dovecot_binary,
    start_dovecot,
    start_smtp,
)
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

FIXTURES = Path(__file__).parent / "fixtures"
ACME = "support@acme.test"
GLOBEX = "help@globex.test"


def eml(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """One Dovecot for the session. Skipped when Dovecot is not installed, unless
    ``FAIRDESK_REQUIRE_DOVECOT=1`` (CI), where its absence is a failure."""
    binary = dovecot_binary()
    if binary is None:
        reason = "Dovecot is not installed (apt-get install dovecot-imapd)"
        if os.environ.get("FAIRDESK_REQUIRE_DOVECOT") == "1":
            pytest.fail(f"{reason}, and FAIRDESK_REQUIRE_DOVECOT=1 requires it")
        pytest.skip(f"{reason}; set FAIRDESK_REQUIRE_DOVECOT=1 to make this a failure")
    server = start_dovecot(binary)
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """Empty mailboxes of this test: ``support`` (Acme's) and ``help`` (Globex's)."""
    return dovecot_server.for_test()


@pytest.fixture
def smtp_recorder() -> SmtpRecorder:
    return SmtpRecorder()


@pytest.fixture
def smtp_server(smtp_recorder: SmtpRecorder) -> Iterator[Controller]:
    controller = start_smtp(smtp_recorder)
    yield controller
    controller.stop()


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    """Attachments are written under ``settings.DATA_DIR``: a fresh one per test."""
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


def email_config(
    dovecot: Dovecot | None, smtp: Controller | None, *, address: str = ACME, **extra: Any
) -> dict[str, Any]:
    return {
        "address": address,
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port if dovecot else 143,
        "imap_security": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port if smtp else 25,
        "smtp_security": "none",
        "from_name": "Acme Support",
        **extra,
    }


def credentials(dovecot: Dovecot, user: str = "support") -> dict[str, str]:
    return {"imap_username": dovecot.login(user), "imap_password": PASSWORD}


@pytest.fixture
def acme_mailbox(
    workspace: Workspace, dovecot: Dovecot, smtp_server: Controller, data_dir: Path
) -> Channel:
    return create_channel(
        workspace=workspace,
        kind="email",
        name="support@acme.test",
        config=email_config(dovecot, smtp_server, sent_folder="Sent"),
        credentials=credentials(dovecot, "support"),
    )


@pytest.fixture
def globex_mailbox(
    other_workspace: Workspace, dovecot: Dovecot, smtp_server: Controller, data_dir: Path
) -> Channel:
    return create_channel(
        workspace=other_workspace,
        kind="email",
        name="help@globex.test",
        config=email_config(dovecot, smtp_server, address=GLOBEX, from_name="Globex Help"),
        credentials=credentials(dovecot, "help"),
    )
