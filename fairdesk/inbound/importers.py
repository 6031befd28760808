"""Bulk import of interchange JSONL and Customer Support on Twitter CSV files.

A bad line is reported with its number and skipped; everything else is stored.
"""

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fairdesk.inbound.interchange import InterchangeMessage, from_twcs_row
from fairdesk.inbound.services import store_events
from fairdesk.workspaces.models import Workspace

CHUNK = 1000
MAX_LINE_BYTES = 1_000_000


@dataclass(slots=True)
class ImportReport:
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "read": self.read,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


def describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return f"{where}: {first['msg']}"
    return str(error)[:300]


def jsonl_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or the exception) for each non-blank line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                yield number, ValueError(f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                yield number, json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                yield number, ValueError(f"not valid JSON: {error}")


def twcs_records(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                yield line, ValueError("wrong number of columns")
                continue
            try:
                yield line, from_twcs_row(row)
            except ValueError as error:
                yield line, error


READERS: dict[str, Callable[[Path], Iterator[tuple[int, Any]]]] = {
    "jsonl": jsonl_records,
    "twcs": twcs_records,
}


def import_file(
    *,
    workspace: Workspace,
    path: Path,
    fmt: str,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    pending: list[dict[str, Any]] = []
    for number, item in READERS[fmt](path):
        report.read += 1
        try:
            if isinstance(item, Exception):
                raise item
            if not isinstance(item, dict):
                raise ValueError("a line must hold a JSON object")
            message = InterchangeMessage.model_validate(item)
        except (ValueError, ValidationError) as error:
            report.rejected += 1
            report.errors.append((number, describe(error)))
            continue
        pending.append(message.model_dump(mode="json"))
        if len(pending) >= CHUNK:
            _flush(workspace, pending, report, fmt)
            if on_progress:
                on_progress(report.read)
    _flush(workspace, pending, report, fmt)
    if on_progress:
        on_progress(report.read)
    return report


def _flush(
    workspace: Workspace, pending: list[dict[str, Any]], report: ImportReport, fmt: str
) -> None:
    if not pending:
        return
    result = store_events(workspace=workspace, records=pending, source=fmt)
    report.imported += result.stored
    report.duplicates += result.duplicates
    pending.clear()
