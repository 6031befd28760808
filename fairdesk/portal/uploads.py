"""Files a customer attaches to a portal reply: recognised by their content, renamed to a
safe name, stored through the e-mail connector's content-addressed store.

What a file is comes from its first bytes, never from the name or the type the browser
declared: PNG, JPEG, GIF and WebP images, PDF, and UTF-8 plain text (not markup: text
whose first character is ``<`` is refused). Anything else is refused before a byte is
written. The name keeps only what is safe to show and to offer as a download, and gets
the extension of what the file really is (``invoice.html`` holding a PDF becomes
``invoice.html.pdf``), so no downloaded file opens as something it is not.

``check`` validates a whole reply's files at once (count, size, kind); ``store`` writes
the bytes (``write_file``: an equal file is one file on disk) and the ``Attachment``
rows, inside the caller's transaction, after every check has passed. A transaction that
fails after the write leaves at most a file no row points to, never a row without its
file (as for e-mail).
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from fairdesk.cases.models import Attachment
from fairdesk.connectors.email.adapter import safe_filename
from fairdesk.connectors.email.attachments import write_file

MAX_NAME_CHARS = 150
FORMULA_SIGNS = "=+-@ ."  # what a spreadsheet or a shell would read a leading sign as
TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # Cc but \t \n \f \r
HIDDEN_CATEGORIES = frozenset({"Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class UploadRefused(ValueError):
    """A file cannot be accepted; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Kind:
    content_type: str
    label: str
    extensions: tuple[str, ...]  # the first one is added when the name has none of them


PNG = Kind("image/png", "PNG image", ("png",))
JPEG = Kind("image/jpeg", "JPEG image", ("jpg", "jpeg", "jpe", "jfif"))
GIF = Kind("image/gif", "GIF image", ("gif",))
WEBP = Kind("image/webp", "WebP image", ("webp",))
PDF = Kind("application/pdf", "PDF", ("pdf",))
TEXT = Kind("text/plain", "plain text", ("txt", "text", "log"))
ALLOWED = "PNG, JPEG, GIF or WebP images, PDF documents and plain text files"
ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,.txt"


@dataclass(frozen=True, slots=True)
class Upload:
    """One accepted file, made by ``accept`` (its kind is what its bytes are);
    ``check`` verifies that again where files are written."""

    filename: str
    kind: Kind
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def max_bytes() -> int:
    return int(settings.FAIRDESK_PORTAL_UPLOAD_MAX_BYTES)


def max_files() -> int:
    return int(settings.FAIRDESK_PORTAL_UPLOAD_MAX_FILES)


def accept(name: str, data: bytes) -> Upload:
    """The file, if it is small enough and one of the allowed kinds; else UploadRefused
    naming it (by its safe name: what the customer reads is escaped anyway)."""
    shown = display_name(name)
    if not data:
        raise UploadRefused(f"“{shown}” is empty.")
    if len(data) > max_bytes():
        raise UploadRefused(too_large(name, len(data)))
    kind = sniff(data)
    if kind is None:
        raise UploadRefused(f"“{shown}” cannot be attached: we accept only {ALLOWED}.")
    return Upload(filename=clean_filename(name, kind), kind=kind, data=data)


def too_large(name: str, size: int) -> str:
    return (
        f"“{display_name(name)}” is {filesizeformat(size)}; a file can be at most "
        f"{filesizeformat(max_bytes())}."
    )


def check(files: Sequence[Upload]) -> None:
    """The limits again where the files are written (services may be called without the
    form): how many, how large."""
    if len(files) > max_files():
        raise UploadRefused(f"You can attach at most {max_files()} files to one message.")
    for upload in files:
        if not 0 < upload.size <= max_bytes() or sniff(upload.data) != upload.kind:
            raise UploadRefused(f"“{display_name(upload.filename)}” cannot be attached.")


def sniff(data: bytes) -> Kind | None:
    """What the bytes are, from their signature; None if not an allowed kind."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    return TEXT if is_plain_text(data) else None


def is_plain_text(data: bytes) -> bool:
    """UTF-8 (a BOM allowed) with no control characters but tab, line breaks and form
    feed, that does not start like markup (HTML, SVG, XML)."""
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        return False
    if TEXT_CONTROLS.search(text):
        return False
    return not text.lstrip().startswith("<")


def display_name(name: str) -> str:
    """The name without anything invisible or unsafe, for messages (before the kind is
    known)."""
    return safe_filename(_visible(name), "application/octet-stream")


def clean_filename(name: str, kind: Kind) -> str:
    """A safe name (no directories, control, bidirectional or reserved characters, no
    leading dots or formula signs, at most ``MAX_NAME_CHARS``) that ends with an
    extension of ``kind``."""
    name = safe_filename(_visible(name), kind.content_type).lstrip(FORMULA_SIGNS) or "attachment"
    _, dot, extension = name.rpartition(".")
    if dot and extension.lower() in kind.extensions:
        return name
    suffix = f".{kind.extensions[0]}"
    return name[: MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix


def _visible(name: str) -> str:
    """Control characters become spaces; format (bidirectional overrides, zero-width),
    private-use, unassigned and line-separator characters are dropped."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFC", name or ""):
        category = unicodedata.category(char)
        if category == "Cc":
            kept.append(" ")
        elif category not in HIDDEN_CATEGORIES:
            kept.append(char)
    return "".join(kept)


def store(
    *, workspace_id: int, channel: str, message_external_id: str, files: Sequence[Upload]
) -> list[Attachment]:
    """Write the files and their rows for one message (call inside its transaction)."""
    return Attachment.objects.bulk_create(
        [
            Attachment(
                workspace_id=workspace_id,
                channel=channel,
                message_external_id=message_external_id,
                position=position,
                filename=upload.filename,
                content_type=upload.kind.content_type,
                size=upload.size,
                sha256=write_file(upload.data),
            )
            for position, upload in enumerate(files)
        ]
    )
