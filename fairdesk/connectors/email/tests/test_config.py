"""The e-mail channel's configuration: validated, TLS unless the server is this machine."""

from typing import Any

import pytest

from fairdesk.connectors.config import ConfigError
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Workspace

MINIMAL = {
    "address": " Support@Acme.TEST ",
    "imap_host": "imap.acme.test",
    "smtp_host": "smtp.acme.test",
}


def test_defaults_are_tls_on_the_standard_ports(workspace: Workspace) -> None:
    channel = create_channel(workspace=workspace, kind="email", name="Support", config=MINIMAL)

    assert channel.config == {
        "address": "support@acme.test",
        "imap_host": "imap.acme.test",
        "imap_port": 993,
        "imap_security": "ssl",
        "imap_folder": "INBOX",
        "sent_folder": None,
        "smtp_host": "smtp.acme.test",
        "smtp_port": 465,
        "smtp_security": "ssl",
        "from_name": "",
    }


def test_starttls_defaults_to_the_submission_ports(workspace: Workspace) -> None:
    config = {**MINIMAL, "imap_security": "starttls", "smtp_security": "starttls"}
    channel = create_channel(workspace=workspace, kind="email", name="Support", config=config)
    assert (channel.config["imap_port"], channel.config["smtp_port"]) == (143, 587)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"imap_security": "none"}, "imap_security 'none' is only allowed for this machine"),
        ({"smtp_security": "none"}, "smtp_security 'none' is only allowed for this machine"),
        ({"from_name": "Acme\r\nBcc: evil@x.test"}, "String should match pattern"),
        ({"address": "support@acme.test\r\nBcc: evil@x.test"}, "String should match pattern"),
        ({"address": "not an address"}, "String should match pattern"),
        ({"imap_folder": "INBOX\r\nA1 DELETE INBOX"}, "String should match pattern"),
        ({"imap_port": 70000}, "less than or equal to 65535"),
        ({"imap_security": "plaintext"}, "Input should be 'ssl', 'starttls' or 'none'"),
        ({"password": "secret"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configuration_is_refused_and_nothing_stored(
    workspace: Workspace, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"^invalid email configuration: ") as refused:
        create_channel(
            workspace=workspace, kind="email", name="Support", config={**MINIMAL, **change}
        )
    assert message in str(refused.value)
    assert not Channel.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_plaintext_is_allowed_on_this_machine(workspace: Workspace, host: str) -> None:
    config = {**MINIMAL, "imap_host": host, "imap_security": "none"}
    channel = create_channel(workspace=workspace, kind="email", name="Support", config=config)
    assert (channel.config["imap_security"], channel.config["imap_port"]) == ("none", 143)
