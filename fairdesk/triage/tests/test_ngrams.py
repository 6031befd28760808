"""The murmur3 featuriser (bundle format 1) must build exactly scikit-learn's matrix."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils import murmurhash3_32

from fairdesk.triage.hashed import HashedFeatures
from fairdesk.triage.ngrams import MAX_CHARS, _words32, murmurhash3, ngram_counts, safe_text
from fairdesk.triage.tests.corpora import airline_tweets, tweeteval_sentiment
from fairdesk.triage.tests.test_hostile_input import HOSTILE

SAMPLE = Path(__file__).parent / "data" / "banking77-sample.csv"
ODD: list[Any] = [
    *HOSTILE,
    None,
    42,
    "x",
    "I",
    "ab",
    "Straße İstanbul ΣΑΣ ǅ",
    "日本語のテキスト、混在 text",
    "emoji 🏳️\u200d🌈 flags 👍🏽 and \U0001d518\U0001d52b\U0001d526 fraktur",
    "tabs\tand\nnew\r\nlines\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029 here",
    "\u00a0nbsp\u3000ideographic space",
    "ﷺ ligature",
    "@user @user http://t.co/abc #tag don't-stop 123 4.5",
]


def sample_texts() -> list[str]:
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


def assert_same(texts: list[Any], **params: object) -> None:
    features = HashedFeatures({**params, "hash": "murmur3"})
    got, want = features.counts(texts), features.reference_counts(texts)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def test_murmurhash3_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    chunks = [bytes(rng.integers(0, 256, size=n, dtype=np.uint8)) for n in range(0, 41)]
    buffer = b"".join(chunks)
    offsets = np.cumsum([0, *map(len, chunks[:-1])])
    lengths = np.array([len(c) for c in chunks])
    got = murmurhash3(_words32(buffer), offsets, lengths)
    want = [murmurhash3_32(c, seed=0, positive=True) for c in chunks]
    assert got.tolist() == want


def test_default_vectoriser_on_sample_and_hostile_text() -> None:
    assert_same(sample_texts() + ODD)


@pytest.mark.parametrize(
    "params",
    [
        # padded words shorter than the smallest n are emitted whole; words 2-3-grams only
        {"word_ngram_range": [2, 3], "char_ngram_range": [4, 6], "n_features": 1000},
        {"word_ngram_range": [1, 1], "char_ngram_range": [1, 2], "n_features": 12_345},
        {"lowercase": False, "n_features": 2**18},
        {"n_features": 2**28},  # rows and columns no longer fit one 32-bit sort key
    ],
)
def test_other_vectoriser_parameters(params: dict[str, object]) -> None:
    assert_same(sample_texts()[:80] + ODD, **params)


def test_real_tweets() -> None:
    texts = [text for text, _ in tweeteval_sentiment(1_000)] + [t for t, _ in airline_tweets(2_000)]
    assert_same(texts[:3_000])


def test_long_text_is_capped_and_empty_batch_is_empty() -> None:
    assert safe_text("a" * 100_000) == "a" * MAX_CHARS
    assert safe_text("lone \ud800") == "lone ?"
    empty = ngram_counts([], n_features=16, word_range=(1, 2), char_range=(2, 5), lowercase=True)
    assert empty.shape == (0, 16) and empty.nnz == 0
    blank = ngram_counts(
        ["", " "], n_features=16, word_range=(1, 2), char_range=(2, 5), lowercase=True
    )
    assert blank.shape == (2, 16) and blank.nnz == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=8))
def test_any_text(texts: list[str]) -> None:
    assert_same(texts)


def test_normalised_features_equal_the_reference() -> None:
    features = HashedFeatures({"hash": "murmur3"})
    texts = sample_texts()[:100] + ODD
    got, want = features.transform(texts), features.reference(texts)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)
