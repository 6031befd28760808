"""Readers for the public data sets in ../shared/data (read at test time, never copied)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def require(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"shared data set not present: {path}")
    return path


def tweeteval_sentiment(limit: int) -> list[tuple[str, str]]:
    """(text, label) pairs from the TweetEval sentiment validation split."""
    folder = require("tweeteval/sentiment")
    names = {"0": "negative", "1": "neutral", "2": "positive"}
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / "val_labels.txt").read_text(encoding="utf-8").split()
    return [(text, names[label]) for text, label in zip(texts, labels, strict=True)][:limit]


def sms_spam() -> list[tuple[str, bool]]:
    """(message, is_spam) pairs from the SMS Spam Collection."""
    path = require("sms-spam-collection/sms.tsv")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        label, _, message = line.partition("\t")
        rows.append((message, label == "spam"))
    return rows


def airline_tweets(limit: int) -> list[tuple[str, str]]:
    """(text, airline_sentiment) pairs from the US airline tweets."""
    path = require("twitter-us-airline-sentiment/Tweets.csv")
    with path.open(encoding="utf-8") as handle:
        return [(row["text"], row["airline_sentiment"]) for row in csv.DictReader(handle)][:limit]


def twcs_inbound(limit: int) -> list[str]:
    """Inbound customer tweets from the first 5,000 TWCS rows."""
    path = require("twcs/head-5000/twcs.csv")
    with path.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("inbound") == "True"]
    return [row["text"] for row in rows][:limit]
