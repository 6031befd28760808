"""Readers for labelled text files: TweetEval, Banking77 and a generic ``text,label`` CSV.

Every reader returns a :class:`Dataset` whose labels are strings (TweetEval keeps its label
ids, "0", "1", …, as its evaluation script does; Banking77 uses the category names).
A malformed file raises :class:`DatasetError` naming the file and, where it can, the line.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

FORMATS: tuple[str, ...] = ("tweeteval", "banking77", "csv")


class DatasetError(ValueError):
    """A labelled file that cannot be read as the format it was given as."""


@dataclass(frozen=True, slots=True)
class Dataset:
    texts: list[str]
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a directory, expected a file") from None


def read_lines(path: Path | str) -> list[str]:
    """One item per line; a final newline does not add an empty item (as TweetEval reads)."""
    path = Path(path)
    lines = _read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_labels(path: Path | str) -> list[str]:
    """One label per line (gold or predictions); an empty line is an error."""
    labels = [line.strip() for line in read_lines(path)]
    for number, label in enumerate(labels, start=1):
        if not label:
            raise DatasetError(f"{path}:{number}: empty label")
    return labels


def read_tweeteval(text_path: Path | str, labels_path: Path | str) -> Dataset:
    texts = read_lines(text_path)
    labels = read_labels(labels_path)
    if len(texts) != len(labels):
        raise DatasetError(
            f"{text_path} has {len(texts)} lines but {labels_path} has {len(labels)}; "
            "TweetEval files pair one text line with one label line"
        )
    return Dataset(texts=texts, labels=labels, source=str(text_path))


def _read_csv(path: Path, text_column: str, label_column: str) -> list[tuple[int, str, str]]:
    content = _read_text(path)
    reader = csv.DictReader(content.splitlines())
    columns = reader.fieldnames or []
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)} in the header "
            f"(found: {', '.join(columns) or 'nothing'}); expected {text_column},{label_column}"
        )
    rows = []
    for row in reader:
        line = reader.line_num
        text, label = row.get(text_column), row.get(label_column)
        if text is None or label is None:
            raise DatasetError(f"{path}:{line}: too few fields")
        label = label.strip()
        if not label:
            raise DatasetError(f"{path}:{line}: empty label")
        rows.append((line, text, label))
    if not rows:
        raise DatasetError(f"{path}: no rows after the header")
    return rows


def read_csv(path: Path | str) -> Dataset:
    """A generic CSV with a header and the columns ``text`` and ``label``."""
    path = Path(path)
    rows = _read_csv(path, "text", "label")
    return Dataset(texts=[r[1] for r in rows], labels=[r[2] for r in rows], source=str(path))


def read_categories(path: Path | str) -> list[str]:
    path = Path(path)
    try:
        names = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not JSON ({exc})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{path}: expected a JSON list of category names")
    return names


def read_banking77(path: Path | str, categories: Path | str | None = None) -> Dataset:
    """Banking77 CSV (``text,category``). With ``categories.json`` (given, or next to the
    file) every category must be one of its names, or an index into its order."""
    path = Path(path)
    rows = _read_csv(path, "text", "category")
    cat_path = Path(categories) if categories else path.parent / "categories.json"
    names = read_categories(cat_path) if categories or cat_path.exists() else None
    labels = []
    for line, _text, label in rows:
        if names is not None:
            if label.isdigit() and label not in names:
                index = int(label)
                if index >= len(names):
                    raise DatasetError(
                        f"{path}:{line}: category index {index} out of range "
                        f"(categories.json has {len(names)})"
                    )
                label = names[index]
            elif label not in names:
                raise DatasetError(f"{path}:{line}: unknown category {label!r}")
        labels.append(label)
    return Dataset(texts=[r[1] for r in rows], labels=labels, source=str(path))


def load(
    fmt: str,
    *,
    text: Path | str | None = None,
    labels: Path | str | None = None,
    data: Path | str | None = None,
) -> Dataset:
    """Read a labelled dataset of format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "tweeteval":
        if text is None or labels is None:
            raise DatasetError("format tweeteval needs a text file and a labels file")
        return read_tweeteval(text, labels)
    if fmt in ("banking77", "csv"):
        if data is None:
            raise DatasetError(f"format {fmt} needs a data file (CSV)")
        return read_banking77(data) if fmt == "banking77" else read_csv(data)
    raise DatasetError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
