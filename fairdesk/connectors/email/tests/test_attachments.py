"""Attachments: saved content-addressed at poll time, rows in the poll's transaction, a
download only agents of the same workspace get, never rendered by the browser."""

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from conftest import record
from fairdesk.cases.models import Attachment, Case
from fairdesk.connectors import polling
from fairdesk.connectors.email import attachments
from fairdesk.connectors.email.tests.conftest import eml
from fairdesk.connectors.email.tests.servers import Dovecot
from fairdesk.connectors.models import Channel
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Agent, Workspace

MAIL_ID = "<CAF=k9Lq0wq8mQ_55812-attach@mail.example.com>"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_polled_attachments_are_saved_by_content(
    acme_mailbox: Channel, dovecot: Dovecot, workspace: Workspace, data_dir: Path
) -> None:
    raw = eml("attachments.eml")
    dovecot.deliver(raw)
    dovecot.deliver(raw.replace(MAIL_ID.encode(), b"<forwarded-again@example.net>"))

    assert polling.poll_channel(acme_mailbox).stored == 2

    rows = Attachment.objects.filter(workspace=workspace).order_by(
        "message_external_id", "position"
    )
    assert [
        (a.message_external_id, a.position, a.filename, a.content_type, a.size) for a in rows[:5]
    ] == [
        (MAIL_ID, 0, "invoice-55812.pdf", "application/pdf", 73),
        (MAIL_ID, 1, "Küche foto.png", "image/png", 69),
        (MAIL_ID, 2, "evil.html", "text/html", 73),
        (MAIL_ID, 3, "abSet-Cookie x=1.txt", "application/octet-stream", 12),
        (MAIL_ID, 4, "attachment.eml", "message/rfc822", 216),
    ]
    assert rows.count() == 10
    assert {a.channel for a in rows} == {"email"}
    pdf = rows[0].path.read_bytes()
    assert pdf.startswith(b"%PDF-1.4") and rows[0].sha256 == sha(pdf)
    assert rows[0].path == data_dir / "attachments" / sha(pdf)[:2] / sha(pdf)
    # equal files of the two messages are one file on disk
    stored = sorted(p.name for p in (data_dir / "attachments").glob("*/*"))
    assert stored == sorted({a.sha256 for a in rows})
    assert len(stored) == 5


def test_attachment_rows_and_events_are_one_transaction(
    acme_mailbox: Channel,
    dovecot: Dovecot,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot.deliver(eml("attachments.eml"))

    def crash(**kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(attachments, "store", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        polling.poll_channel(acme_mailbox)

    acme_mailbox.refresh_from_db()
    assert acme_mailbox.cursor == {}
    assert not InboundEvent.objects.exists()
    assert not Attachment.objects.exists()


# --- the download ----------------------------------------------------------------------


@pytest.fixture
def saved(data_dir: Path) -> Callable[..., Attachment]:
    def save(
        workspace: Workspace, data: bytes, filename: str, message: str = MAIL_ID
    ) -> Attachment:
        return Attachment.objects.create(
            workspace=workspace,
            channel="email",
            message_external_id=message,
            position=Attachment.objects.filter(message_external_id=message).count(),
            filename=filename,
            content_type="text/html",
            size=len(data),
            sha256=attachments.write_file(data),
        )

    return save


def client_for(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


HOSTILE_HTML = b"<html><script>alert(document.cookie)</script></html>"


def test_download_is_an_attachment_the_browser_never_renders(
    agent: Agent, workspace: Workspace, saved: Callable[..., Attachment]
) -> None:
    file = saved(workspace, HOSTILE_HTML, "evil.html")

    response = client_for(agent).get(reverse("attachment", args=[file.public_id]))

    assert response.status_code == 200
    assert response.content == HOSTILE_HTML
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="evil.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"


@pytest.mark.parametrize(
    ("filename", "disposition"),
    [
        ("Küche foto.png", "attachment; filename*=utf-8''K%C3%BCche%20foto.png"),
        ('say "hi".txt', 'attachment; filename="say \\"hi\\".txt"'),
    ],
)
def test_download_names_follow_rfc_6266(
    agent: Agent,
    workspace: Workspace,
    saved: Callable[..., Attachment],
    filename: str,
    disposition: str,
) -> None:
    file = saved(workspace, b"x", filename)
    response = client_for(agent).get(reverse("attachment", args=[file.public_id]))
    assert response["Content-Disposition"] == disposition


def test_only_agents_of_the_same_workspace_can_download(
    agent: Agent,
    outsider: Agent,
    workspace: Workspace,
    other_workspace: Workspace,
    saved: Callable[..., Attachment],
) -> None:
    acme_file = saved(workspace, b"acme invoice", "invoice.pdf")
    globex_file = saved(other_workspace, b"globex invoice", "invoice.pdf")
    acme_url = reverse("attachment", args=[acme_file.public_id])
    globex_url = reverse("attachment", args=[globex_file.public_id])

    assert client_for(agent).get(acme_url).content == b"acme invoice"
    assert client_for(outsider).get(globex_url).content == b"globex invoice"
    assert client_for(outsider).get(acme_url).status_code == 404
    assert client_for(agent).get(globex_url).status_code == 404
    anonymous = Client().get(acme_url)
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"{reverse('login')}?next={acme_url}"


def test_a_file_no_longer_on_disk_is_not_found(
    agent: Agent, workspace: Workspace, saved: Callable[..., Attachment]
) -> None:
    file = saved(workspace, b"gone soon", "gone.txt")
    file.path.unlink()
    assert client_for(agent).get(reverse("attachment", args=[file.public_id])).status_code == 404


def test_the_timeline_lists_a_messages_files_escaped(
    agent: Agent,
    workspace: Workspace,
    other_workspace: Workspace,
    saved: Callable[..., Attachment],
    ingest: Callable[..., int],
) -> None:
    customer = "dana.whitfield@example.net"
    mail = record(
        MAIL_ID, "Photos attached.", channel="email", author=customer, visibility="private"
    )
    ingest(workspace, [mail])
    case = Case.objects.get(workspace=workspace)
    mine = saved(workspace, b"photo", "<script>alert(1)</script>.png")
    theirs = saved(other_workspace, b"globex", "globex-secret.pdf")  # same message id

    page = client_for(agent).get(reverse("case", args=[case.public_id])).content.decode()

    assert reverse("attachment", args=[mine.public_id]) in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in page
    assert "<script>alert(1)" not in page
    assert "5\xa0bytes" in page
    assert reverse("attachment", args=[theirs.public_id]) not in page
    assert "globex-secret.pdf" not in page
