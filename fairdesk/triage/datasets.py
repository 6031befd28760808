"""Readers for labelled text files: TweetEval, Banking77, a generic ``text,label`` CSV, and
three shared sets scored as they are published: complaints (Preoţiuc-Pietro et al. 2019),
iSarcasmEval (SemEval-2022 Task 6, English) and the US airline sentiment tweets.

Every reader returns a :class:`Dataset` whose labels are strings (TweetEval keeps its label
ids, "0", "1", …, as its evaluation script does; Banking77 uses the category names;
complaints and iSarcasmEval use "1" for the positive class, "0" otherwise; the airline
tweets are mapped to TweetEval sentiment ids so a sentiment bundle scores them directly).
A malformed file raises :class:`DatasetError` naming the file and, where it can, the line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FORMATS: tuple[str, ...] = (
    "tweeteval",
    "banking77",
    "csv",
    "complaints",
    "isarcasmeval",
    "airline",
)
CSV_FORMATS: frozenset[str] = frozenset(FORMATS) - {"tweeteval"}

# US airline sentiment → TweetEval sentiment label ids (negative 0, neutral 1, positive 2).
AIRLINE_LABELS: dict[str, str] = {"negative": "0", "neutral": "1", "positive": "2"}
BINARY_LABELS: frozenset[str] = frozenset({"0", "1"})


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


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record ends, fields) for every non-empty CSV record; quoted
    fields may span lines (iSarcasmEval's test tweets do)."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    try:
        for fields in reader:
            if fields:
                yield reader.line_num, fields
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _binary(path: Path, line: int, label: str, column: str) -> str:
    label = label.strip()
    if label not in BINARY_LABELS:
        raise DatasetError(f"{path}:{line}: {column} must be 0 or 1, not {label[:40]!r}")
    return label


def read_complaints(path: Path | str) -> Dataset:
    """Complaints in social media (``complaints-data.csv``): no header, four columns
    ``tweet_id,text,label,domain``; label 1 = complaint, 0 = not."""
    path = Path(path)
    texts, labels = [], []
    for line, fields in _csv_records(path):
        if len(fields) != 4:
            raise DatasetError(
                f"{path}:{line}: expected 4 fields (tweet_id,text,label,domain), "
                f"found {len(fields)}"
            )
        if line == 1 and fields[2].strip() not in BINARY_LABELS:
            raise DatasetError(
                f"{path}:1: label {fields[2][:40]!r} is not 0 or 1; this format has no header"
            )
        texts.append(fields[1])
        labels.append(_binary(path, line, fields[2], "label"))
    if not texts:
        raise DatasetError(f"{path}: no rows")
    return Dataset(texts=texts, labels=labels, source=str(path))


def _header_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    records = _csv_records(path)
    first = next(records, None)
    if first is None:
        raise DatasetError(f"{path}: empty file, expected a header")
    header = [name.strip() for name in first[1]]
    rows = []
    for line, fields in records:
        if len(fields) != len(header):
            raise DatasetError(
                f"{path}:{line}: {len(fields)} fields but the header has {len(header)}"
            )
        rows.append((line, dict(zip(header, fields, strict=True))))
    if not rows:
        raise DatasetError(f"{path}: no rows after the header")
    return header, rows


def read_isarcasmeval(path: Path | str) -> Dataset:
    """iSarcasmEval task A, English: ``train.En.csv`` (text column ``tweet``) or
    ``task_A_En_test.csv`` (``text``), label column ``sarcastic`` (1 = sarcastic). A row
    with no text (``train.En.csv`` has one) is skipped: there is nothing to classify."""
    path = Path(path)
    header, rows = _header_rows(path)
    text_column = next((c for c in ("tweet", "text") if c in header), None)
    if text_column is None or "sarcastic" not in header:
        raise DatasetError(
            f"{path}: expected a text column (tweet or text) and a sarcastic column "
            f"in the header (found: {', '.join(header) or 'nothing'})"
        )
    texts, labels = [], []
    for line, row in rows:
        label = _binary(path, line, row["sarcastic"], "sarcastic")
        if not row[text_column].strip():
            continue
        texts.append(row[text_column])
        labels.append(label)
    if not texts:
        raise DatasetError(f"{path}: no row has text")
    return Dataset(texts=texts, labels=labels, source=str(path))


def read_airline(path: Path | str) -> Dataset:
    """Twitter US airline sentiment (``Tweets.csv``): columns ``text`` and
    ``airline_sentiment`` (negative / neutral / positive, mapped to TweetEval's 0 / 1 / 2).
    With a ``tweet_id`` column, a repeated id keeps only its first row (the shared copy has
    155 repeats, 18 of them with another label or text)."""
    path = Path(path)
    header, rows = _header_rows(path)
    missing = [c for c in ("text", "airline_sentiment") if c not in header]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)} in the header "
            f"(found: {', '.join(header) or 'nothing'})"
        )
    seen: set[str] = set()
    texts, labels = [], []
    for line, row in rows:
        sentiment = row["airline_sentiment"].strip().lower()
        if sentiment not in AIRLINE_LABELS:
            raise DatasetError(
                f"{path}:{line}: airline_sentiment must be negative, neutral or positive, "
                f"not {row['airline_sentiment'][:40]!r}"
            )
        tweet_id = row.get("tweet_id", "").strip()
        if tweet_id:
            if tweet_id in seen:
                continue
            seen.add(tweet_id)
        texts.append(row["text"])
        labels.append(AIRLINE_LABELS[sentiment])
    return Dataset(texts=texts, labels=labels, source=str(path))


_CSV_READERS = {
    "banking77": read_banking77,
    "csv": read_csv,
    "complaints": read_complaints,
    "isarcasmeval": read_isarcasmeval,
    "airline": read_airline,
}


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
    if fmt in _CSV_READERS:
        if data is None:
            raise DatasetError(f"format {fmt} needs a data file (CSV)")
        return _CSV_READERS[fmt](data)
    raise DatasetError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
