"""Attachments of polled e-mail: bytes saved content-addressed, rows in the poll's
transaction.

The file is written when the message is read (before the transaction): an equal file is
one file on disk, and a poll that fails after writing leaves at most a file no row
points to, never a row without its file. The ``Attachment`` row is written by
``store`` in the transaction that stores the message's event and moves the cursor;
a message read again adds no second row (unique per message and position).
"""

import hashlib
import os
import tempfile
from dataclasses import dataclass

from fairdesk.cases.models import Attachment
from fairdesk.connectors.email.adapter import CHANNEL, Part


@dataclass(frozen=True, slots=True)
class SavedFile:
    """One attachment on disk, waiting for its row."""

    message_external_id: str
    position: int
    filename: str
    content_type: str
    size: int
    sha256: str


def save(*, message_external_id: str, parts: tuple[Part, ...]) -> list[SavedFile]:
    """Write each part's bytes (unless an equal file is already there)."""
    return [
        SavedFile(
            message_external_id=message_external_id,
            position=position,
            filename=part.filename,
            content_type=part.content_type,
            size=len(part.data),
            sha256=write_file(part.data),
        )
        for position, part in enumerate(parts)
    ]


def write_file(data: bytes) -> str:
    """Store ``data`` under its SHA-256 (atomically: a temporary file, then a rename)."""
    digest = hashlib.sha256(data).hexdigest()
    path = Attachment.storage_path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)
    return digest


def store(*, workspace_id: int, files: list[SavedFile]) -> None:
    """The rows for ``files``; rows already there (a message read again) are kept."""
    unique = {(f.message_external_id, f.position): f for f in reversed(files)}
    Attachment.objects.bulk_create(
        [
            Attachment(
                workspace_id=workspace_id,
                channel=CHANNEL,
                message_external_id=f.message_external_id,
                position=f.position,
                filename=f.filename,
                content_type=f.content_type,
                size=f.size,
                sha256=f.sha256,
            )
            for f in unique.values()
        ],
        ignore_conflicts=True,
    )
