import json
from pathlib import Path

import pytest

from fairdesk.triage import datasets
from fairdesk.triage.datasets import DatasetError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_tweeteval_pairs_lines(tmp_path: Path) -> None:
    text = write(tmp_path / "t.txt", "first tweet\nsecond, with comma\n")
    labels = write(tmp_path / "l.txt", "0\n1\n")
    data = datasets.load("tweeteval", text=text, labels=labels)
    assert data.texts == ["first tweet", "second, with comma"]
    assert data.labels == ["0", "1"]


def test_tweeteval_line_count_mismatch(tmp_path: Path) -> None:
    text = write(tmp_path / "t.txt", "a\nb\nc\n")
    labels = write(tmp_path / "l.txt", "0\n1\n")
    with pytest.raises(DatasetError, match=r"3 lines but .* has 2"):
        datasets.read_tweeteval(text, labels)


def test_empty_label_and_missing_file(tmp_path: Path) -> None:
    labels = write(tmp_path / "l.txt", "0\n\n1\n")
    with pytest.raises(DatasetError, match=r"l.txt:2: empty label"):
        datasets.read_labels(labels)
    with pytest.raises(DatasetError, match="no such file"):
        datasets.read_labels(tmp_path / "missing.txt")


def test_banking77_names_and_indices(tmp_path: Path) -> None:
    write(tmp_path / "categories.json", json.dumps(["card_arrival", "top_up"]))
    data = write(tmp_path / "train.csv", 'text,category\n"where, is my card",card_arrival\nx,1\n')
    ds = datasets.load("banking77", data=data)
    assert ds.texts == ["where, is my card", "x"]
    assert ds.labels == ["card_arrival", "top_up"]
    write(data, "text,category\ny,nonsense\n")
    with pytest.raises(DatasetError, match=r"train\.csv:2: unknown category 'nonsense'"):
        datasets.read_banking77(data)


def test_csv_needs_its_columns(tmp_path: Path) -> None:
    good = write(tmp_path / "g.csv", "label,text\npos,nice\nneg,bad\n")
    assert datasets.load("csv", data=good).labels == ["pos", "neg"]
    bad = write(tmp_path / "b.csv", "body,label\nnice,pos\n")
    with pytest.raises(DatasetError, match="missing column"):
        datasets.read_csv(bad)
    with pytest.raises(DatasetError, match="no rows"):
        datasets.read_csv(write(tmp_path / "e.csv", "text,label\n"))
    with pytest.raises(DatasetError, match="needs a data file"):
        datasets.load("csv")
    with pytest.raises(DatasetError, match="unknown format"):
        datasets.load("xml", data=good)
