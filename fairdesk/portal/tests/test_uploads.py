"""Files the customer attaches to a portal reply: recognised by content, safely named,
stored on the reply's message, seen by the agent, and never by another customer. A
refused upload stores nothing: no message, no attachment row, no file on disk."""

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import Attachment, Case, CaseEvent, CaseStatus, Message
from fairdesk.portal import services, uploads
from fairdesk.portal.models import PortalSession
from fairdesk.portal.tests.conftest import Customer, case_url, sign_in, tiny_png
from fairdesk.workspaces.models import Agent

PNG = tiny_png()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEXT = "Serial number: DR-7731\r\nBought 2026-10-01 — receipt below\tthanks\n".encode()
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    return Path(settings.DATA_DIR)


@pytest.fixture
def signed_in(dana: Customer, bob: Customer, agent: Agent, data_dir: Path) -> Client:
    client = Client()
    sign_in(client, dana, agent)
    return client


def _file(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def _post(client: Client, customer: Customer, text: str, *files: Any, key: str = "") -> Any:
    return client.post(
        reverse("portal:reply", args=[customer.workspace.slug, customer.case.public_id]),
        {"text": text, "idempotency_key": key or str(uuid.uuid4()), "attachments": list(files)},
    )


def _stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file()) if data_dir.exists() else []


def _nothing_stored(data_dir: Path) -> None:
    assert Message.objects.filter(channel="portal").count() == 0
    assert Attachment.objects.count() == 0
    assert CaseEvent.objects.filter(type=CaseEvent.Type.MESSAGE_RECEIVED).count() == 0
    assert _stored_files(data_dir) == []


# --- what a file is, and its name ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PNG, uploads.PNG),
        (JPEG, uploads.JPEG),
        (GIF, uploads.GIF),
        (WEBP, uploads.WEBP),
        (PDF, uploads.PDF),
        (TEXT, uploads.TEXT),
        (b"\xef\xbb\xbfUTF-8 with a BOM\n", uploads.TEXT),
    ],
)
def test_allowed_kinds_are_recognised_by_their_bytes(data: bytes, kind: uploads.Kind) -> None:
    assert uploads.sniff(data) == kind


@pytest.mark.parametrize(
    "data",
    [
        HTML,
        b"  \n<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        b"<?xml version='1.0'?><x/>",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",  # zip, docx, xlsx
        b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows program
        b"\x7fELF\x02\x01\x01\x00",
        b"plain until a NUL\x00byte",
        b"caf\xe9 in Latin-1",
        b"\x89PNG\r\n\x1a\n but no header chunk",
        b"text with an escape \x1b[31m sequence",
    ],
)
def test_anything_else_is_not_an_allowed_kind(data: bytes) -> None:
    assert uploads.sniff(data) is None
    with pytest.raises(uploads.UploadRefused, match="we accept only PNG, JPEG, GIF or WebP"):
        uploads.accept("photo.png", data)


@pytest.mark.parametrize(
    ("name", "kind", "safe"),
    [
        ("../../etc/passwd", uploads.TEXT, "passwd.txt"),
        ("C:\\Users\\dana\\photo.png", uploads.PNG, "photo.png"),
        ("a\r\nSet-Cookie: x=1.png", uploads.PNG, "a Set-Cookie x=1.png"),
        ("...hidden.png", uploads.PNG, "hidden.png"),
        ("photo\u202egnp.exe", uploads.PNG, "photognp.exe.png"),
        ("a\u200bb\u2028c.jpg", uploads.JPEG, "abc.jpg"),
        ("invoice.html", uploads.PDF, "invoice.html.pdf"),
        ("receipt.PDF", uploads.PDF, "receipt.PDF"),
        ("=HYPERLINK(x).txt", uploads.TEXT, "HYPERLINK(x).txt"),
        ("@SUM(1+1)", uploads.TEXT, "SUM(1+1).txt"),
        ("", uploads.PNG, "attachment.png"),
        (". . .", uploads.GIF, "attachment.gif"),
        ("Tom & Jerry's <b>.png", uploads.PNG, "Tom & Jerry's b.png"),
    ],
)
def test_filenames_are_made_safe_and_end_with_what_the_file_is(
    name: str, kind: uploads.Kind, safe: str
) -> None:
    assert uploads.clean_filename(name, kind) == safe


def test_long_filenames_are_cut_keeping_the_real_extension() -> None:
    assert uploads.clean_filename("a" * 300 + ".png", uploads.PNG) == "a" * 146 + ".png"
    assert uploads.clean_filename("x." + "e" * 200, uploads.WEBP) == "x." + "e" * 143 + ".webp"


# --- the reply form ---------------------------------------------------------------------


def test_a_reply_with_a_photo_stores_it_on_that_message(
    signed_in: Client, dana: Customer, bob: Customer, data_dir: Path
) -> None:
    key = str(uuid.uuid4())
    bob_before = Case.objects.values().get(pk=bob.case.pk)

    response = _post(
        signed_in, dana, "The broken part", _file("part.png", PNG, "text/html"), key=key
    )

    assert response.status_code == 302
    assert response["Location"] == case_url(dana)
    message = Message.objects.get(channel="portal")
    assert (message.case_id, message.text, message.external_id) == (
        dana.case.pk,
        "The broken part",
        f"portal-{key}",
    )
    attachment = Attachment.objects.get()
    sha = hashlib.sha256(PNG).hexdigest()
    assert (
        attachment.workspace_id,
        attachment.channel,
        attachment.message_external_id,
        attachment.position,
        attachment.filename,
        attachment.content_type,
        attachment.size,
        attachment.sha256,
    ) == (dana.workspace.pk, "portal", f"portal-{key}", 0, "part.png", "image/png", len(PNG), sha)
    assert _stored_files(data_dir) == [data_dir / "attachments" / sha[:2] / sha]
    assert attachment.path.read_bytes() == PNG
    event = CaseEvent.objects.get(type=CaseEvent.Type.MESSAGE_RECEIVED)
    assert event.params == {"message_id": message.pk, "channel": "portal", "attachments": 1}
    assert Case.objects.values().get(pk=bob.case.pk) == bob_before

    page = signed_in.get(case_url(dana)).content.decode()
    url = reverse("portal:file", args=["acme", attachment.public_id])
    assert f'<a href="{url}" download>part.png</a>' in page
    download = signed_in.get(url)
    assert download.status_code == 200
    assert download.content == PNG
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == 'attachment; filename="part.png"'
    assert download["X-Content-Type-Options"] == "nosniff"


def test_several_files_keep_their_order_and_an_equal_file_is_stored_once(
    signed_in: Client, dana: Customer, data_dir: Path
) -> None:
    response = _post(
        signed_in,
        dana,
        "Photos and the receipt",
        _file("front.jpg", JPEG, "image/jpeg"),
        _file("receipt", PDF, "application/octet-stream"),
        _file("notes.txt", TEXT, "text/plain"),
        _file("front-again.jpg", JPEG, "image/jpeg"),
    )

    assert response.status_code == 302
    rows = list(Attachment.objects.order_by("position").values_list("position", "filename"))
    assert rows == [(0, "front.jpg"), (1, "receipt.pdf"), (2, "notes.txt"), (3, "front-again.jpg")]
    types = list(Attachment.objects.order_by("position").values_list("content_type", flat=True))
    assert types == ["image/jpeg", "application/pdf", "text/plain", "image/jpeg"]
    assert len(_stored_files(data_dir)) == 3


def test_a_reply_may_be_files_only(signed_in: Client, dana: Customer) -> None:
    response = _post(signed_in, dana, "   ", _file("label.gif", GIF, "image/gif"))

    assert response.status_code == 302
    message = Message.objects.get(channel="portal")
    assert message.text == services.FILES_ONLY_TEXT == "[Files attached, no message]"
    assert Attachment.objects.get().message_external_id == message.external_id
    case = Case.objects.get(pk=dana.case.pk)
    assert case.last_inbound_at == message.sent_at


def test_no_text_and_no_file_is_refused(signed_in: Client, dana: Customer, data_dir: Path) -> None:
    response = _post(signed_in, dana, "  ")

    assert response.status_code == 422
    assert "Write a message or attach a file before sending." in response.content.decode()
    _nothing_stored(data_dir)


@pytest.mark.parametrize(
    ("name", "data", "declared"),
    [
        ("photo.png", HTML, "image/png"),
        ("scan.pdf", b"PK\x03\x04\x14\x00\x00\x00", "application/pdf"),
        ("notes.txt", b"MZ\x90\x00binary", "text/plain"),
        ("drawing.svg", b"<svg onload='alert(1)'/>", "image/svg+xml"),
    ],
)
def test_a_disguised_or_unknown_file_is_refused_and_nothing_is_stored(
    signed_in: Client,
    dana: Customer,
    data_dir: Path,
    name: str,
    data: bytes,
    declared: str,
) -> None:
    before = Case.objects.values().get(pk=dana.case.pk)

    response = _post(
        signed_in, dana, "See attached", _file("good.png", PNG), _file(name, data, declared)
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert f"“{name}” cannot be attached: we accept only PNG, JPEG, GIF or WebP" in html
    assert "See attached</textarea>" in html  # the text is kept for a second try
    _nothing_stored(data_dir)
    assert Case.objects.values().get(pk=dana.case.pk) == before


def test_limits_on_size_and_count(
    signed_in: Client, dana: Customer, data_dir: Path, settings: Any
) -> None:
    settings.FAIRDESK_PORTAL_UPLOAD_MAX_BYTES = 1024
    big = _post(signed_in, dana, "big", _file("log.txt", b"x" * 1025, "text/plain"))
    many = _post(signed_in, dana, "many", *(_file(f"p{i}.png", PNG) for i in range(6)))
    empty = _post(signed_in, dana, "empty", _file("empty.png", b""))

    assert (big.status_code, many.status_code, empty.status_code) == (422, 422, 422)
    assert "“log.txt” is 1.0\xa0KB; a file can be at most 1.0\xa0KB." in big.content.decode()
    assert "You can attach at most 5 files to one message." in many.content.decode()
    assert "“empty.png” is empty." in empty.content.decode()
    _nothing_stored(data_dir)

    exactly = _post(signed_in, dana, "exactly", _file("log.txt", b"x" * 1024, "text/plain"))
    five = _post(signed_in, dana, "five", *(_file(f"p{i}.png", PNG) for i in range(5)))
    assert (exactly.status_code, five.status_code) == (302, 302)
    assert Attachment.objects.count() == 6


def test_a_hostile_filename_is_sanitised_and_escaped_for_customer_and_agent(
    signed_in: Client, dana: Customer, agent_client: Client
) -> None:
    name = "..\\..\\<script>alert(1)</script> Tom & Jerry's\r\nX-Evil: 1.png"

    assert _post(signed_in, dana, "hi", _file(name, PNG)).status_code == 302

    # The multipart encoding keeps what follows the last "/" up to the line break; the
    # rest (the other separators, "<", ">") is ours to remove, with the extension added.
    attachment = Attachment.objects.get()
    assert attachment.filename == "script Tom & Jerry's.png"
    for page in (
        signed_in.get(case_url(dana)).content.decode(),
        agent_client.get(reverse("case", args=[dana.case.public_id])).content.decode(),
    ):
        assert "script Tom &amp; Jerry&#x27;s.png" in page
        assert "Tom & Jerry's" not in page
    download = agent_client.get(reverse("attachment", args=[attachment.public_id]))
    assert "\r" not in download["Content-Disposition"]
    assert "\n" not in download["Content-Disposition"]


def test_the_same_form_twice_is_one_message_with_one_set_of_files(
    signed_in: Client, dana: Customer, data_dir: Path
) -> None:
    key = str(uuid.uuid4())

    first = _post(signed_in, dana, "photo", _file("a.png", PNG), key=key)
    second = _post(signed_in, dana, "photo", _file("a.png", PNG), key=key)

    assert (first.status_code, second.status_code) == (302, 302)
    assert Message.objects.filter(channel="portal").count() == 1
    assert Attachment.objects.count() == 1
    assert len(_stored_files(data_dir)) == 1


# --- who may upload and download -------------------------------------------------------


def test_the_agent_sees_and_downloads_the_file_an_outsider_cannot(
    signed_in: Client, dana: Customer, agent_client: Client, outsider: Agent
) -> None:
    _post(signed_in, dana, "The label", _file("label.png", PNG))
    attachment = Attachment.objects.get()
    url = reverse("attachment", args=[attachment.public_id])

    page = agent_client.get(reverse("case", args=[dana.case.public_id])).content.decode()
    download = agent_client.get(url)

    assert f'<a href="{url}" download>label.png</a>' in page
    assert "image/png" in page
    assert download.status_code == 200
    assert download.content == PNG
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == 'attachment; filename="label.png"'
    assert download["X-Content-Type-Options"] == "nosniff"
    outside = Client()
    outside.force_login(outsider.user)
    assert outside.get(url).status_code == 404


def test_another_customer_cannot_download_it_by_id(
    signed_in: Client,
    dana: Customer,
    bob: Customer,
    globex_dana: Customer,
    agent: Agent,
    outsider: Agent,
) -> None:
    _post(signed_in, dana, "My receipt", _file("receipt.pdf", PDF, "application/pdf"))
    file_id = Attachment.objects.get().public_id
    bob_client = Client()
    sign_in(bob_client, bob, agent)
    globex_client = Client()
    sign_in(globex_client, globex_dana, outsider)

    assert signed_in.get(reverse("portal:file", args=["acme", file_id])).status_code == 200
    assert bob_client.get(reverse("portal:file", args=["acme", file_id])).status_code == 404
    assert globex_client.get(reverse("portal:file", args=["globex", file_id])).status_code == 404
    anonymous = Client().get(reverse("portal:file", args=["acme", file_id]))
    assert anonymous.status_code == 302
    assert anonymous["Location"] == reverse("portal:signed-out", args=["acme"])
    assert "receipt.pdf" not in bob_client.get(case_url(bob)).content.decode()


def test_an_upload_to_another_contacts_case_is_refused_and_stores_nothing(
    signed_in: Client, dana: Customer, bob: Customer, globex_dana: Customer, data_dir: Path
) -> None:
    on_bob = _post(signed_in, bob, "mine now", _file("x.png", PNG))
    on_globex = signed_in.post(
        reverse("portal:reply", args=["acme", globex_dana.case.public_id]),
        {"text": "x", "idempotency_key": str(uuid.uuid4()), "attachments": [_file("x.png", PNG)]},
    )
    session = PortalSession.objects.get(contact=dana.case.contact)
    upload = uploads.accept("x.png", PNG)

    with pytest.raises(PermissionDenied):
        services.post_reply(session=session, case=bob.case, text="", key="k-1", files=[upload])

    assert (on_bob.status_code, on_globex.status_code) == (404, 404)
    _nothing_stored(data_dir)


def test_a_closed_case_takes_no_files(signed_in: Client, dana: Customer, data_dir: Path) -> None:
    Case.objects.filter(pk=dana.case.pk).update(status=CaseStatus.CLOSED)
    session = PortalSession.objects.get()
    case = Case.objects.get(pk=dana.case.pk)

    with pytest.raises(services.PortalInvalid, match="This case is closed"):
        services.post_reply(
            session=session, case=case, text="", key="k-1", files=[uploads.accept("a.png", PNG)]
        )

    _nothing_stored(data_dir)


def test_the_service_checks_the_files_again(dana: Customer, data_dir: Path) -> None:
    """Callers other than the form (a script, a future API) get the same limits."""
    session = PortalSession(
        workspace=dana.workspace, contact=dana.case.contact, identity=dana.x, digest="x" * 64
    )
    forged = uploads.Upload(filename="photo.png", kind=uploads.PNG, data=HTML)
    six = [uploads.accept(f"{i}.png", PNG) for i in range(6)]

    with pytest.raises(services.PortalInvalid, match=r"“photo\.png” cannot be attached"):
        services.post_reply(session=session, case=dana.case, text="x", key="k1", files=[forged])
    with pytest.raises(services.PortalInvalid, match="at most 5 files"):
        services.post_reply(session=session, case=dana.case, text="x", key="k2", files=six)

    _nothing_stored(data_dir)
