"""The ``poly64`` featuriser (bundle format 2) against a slow reference, and old bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import HashingVectorizer

from fairdesk.triage import bundle, hashed, polyhash
from fairdesk.triage.ngrams import MAX_CHARS
from fairdesk.triage.polyhash import poly_counts
from fairdesk.triage.tests.synthetic import synthetic
from fairdesk.triage.tests.test_ngrams import ODD, sample_texts
from fairdesk.triage.trained import load_heads

MASK = 2**64 - 1
R = 0x9E3779B97F4A7C15
CHAR_SALT, WORD_SALT, LENGTH_SALT = 0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0


def fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    return h ^ (h >> 33)


def char_hash(gram: str) -> int:
    """Horner form: sum(cp[k] * R**(n-1-k))."""
    h = 0
    for char in gram:
        h = (h * R + ord(char)) & MASK
    return (h + CHAR_SALT + LENGTH_SALT * len(gram)) & MASK


def word_hash(gram: str) -> int:
    """Prefix form: sum(cp[k] * R**k)."""
    h, power = 0, 1
    for char in gram:
        h = (h + ord(char) * power) & MASK
        power = (power * R) & MASK
    return (h + WORD_SALT + LENGTH_SALT * len(gram)) & MASK


def reference(
    texts: list[Any],
    n_features: int = 2**20,
    word_range: tuple[int, int] = (1, 2),
    char_range: tuple[int, int] = (2, 5),
    lowercase: bool = True,
) -> sp.csr_matrix:
    """One Python string per n-gram (scikit-learn's analyzers), hashed one at a time."""
    options: dict[str, Any] = {"lowercase": lowercase}
    words = HashingVectorizer(analyzer="word", ngram_range=word_range, **options)
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=char_range, **options)
    rows, cols = [], []
    for row, text in enumerate(texts):
        text = text[:MAX_CHARS] if isinstance(text, str) else ""
        hashes = [char_hash(g) for g in chars.build_analyzer()(text)]
        hashes += [word_hash(g) for g in words.build_analyzer()(text)]
        for h in hashes:
            rows.append(row)
            cols.append(((fmix64(h) >> 32) * n_features) >> 32)
    ones = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=(len(texts), n_features))
    matrix.sum_duplicates()
    return matrix


def assert_same(texts: list[Any], **params: Any) -> None:
    kw = {"n_features": 2**20, "word_range": (1, 2), "char_range": (2, 5), "lowercase": True}
    got = poly_counts(texts, **{**kw, **params})
    want = reference(texts, **params)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)


def test_same_as_the_slow_reference_on_sample_and_hostile_text() -> None:
    assert_same([*sample_texts(), *ODD, "a\nb  c", "two\r\nlines", "lone \ud800 sur \udfff"])


@pytest.mark.parametrize(
    "params",
    [
        # padded words shorter than the smallest n are emitted whole; words 2-3-grams only
        {"word_range": (2, 3), "char_range": (4, 6), "n_features": 1000},
        {"word_range": (1, 1), "char_range": (1, 2), "n_features": 12_345},
        {"lowercase": False, "n_features": 2**18},
        {"n_features": 2**28},  # rows and columns no longer fit one 32-bit sort key
    ],
)
def test_other_vectoriser_parameters(params: dict[str, Any]) -> None:
    assert_same(sample_texts()[:80] + ODD, **params)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=8))
def test_any_text(texts: list[str]) -> None:
    assert_same(texts)


def test_long_empty_and_odd_input_is_defined() -> None:
    kw: dict[str, Any] = {"word_range": (1, 2), "char_range": (2, 5), "lowercase": True}
    empty = poly_counts([], n_features=16, **kw)
    assert empty.shape == (0, 16) and empty.nnz == 0
    blank = poly_counts(["", " ", "\n\t", None], n_features=16, **kw)  # type: ignore[list-item]
    assert blank.shape == (4, 16) and blank.nnz == 0
    long = poly_counts(["ab " * 40_000], n_features=2**20, **kw)
    cut = poly_counts([("ab " * 40_000)[:MAX_CHARS]], n_features=2**20, **kw)
    np.testing.assert_array_equal(long.indices, cut.indices)
    np.testing.assert_array_equal(long.data, cut.data)
    # chunks bigger than the cached powers of R (a batch of 100 KB texts) give the same rows
    huge = ["word " * 20_000 + str(i) for i in range(60)]
    many = poly_counts(huge, n_features=2**20, **kw)
    for i in (0, 59):
        alone = poly_counts(huge[i : i + 1], n_features=2**20, **kw)
        np.testing.assert_array_equal(many[i].indices, alone.indices)
        np.testing.assert_array_equal(many[i].data, alone.data)
    assert len(polyhash._cached_powers(1 << 10)[0]) == 1 << 10


def test_a_text_hashes_the_same_in_any_batch() -> None:
    texts = sample_texts()[:50] + ODD
    batch = poly_counts(
        texts, n_features=2**20, word_range=(1, 2), char_range=(2, 5), lowercase=True
    )
    for i in (0, 17, len(texts) - 1):
        alone = poly_counts(
            texts[i : i + 1], n_features=2**20, word_range=(1, 2), char_range=(2, 5), lowercase=True
        )
        np.testing.assert_array_equal(batch[i].indices, alone.indices)


def test_new_models_hash_with_poly64_and_old_ones_keep_murmur3() -> None:
    assert hashed.HashedFeatures().params["hash"] == "poly64"
    texts = sample_texts()[:40]
    old = hashed.HashedFeatures({"hash": "murmur3"})
    np.testing.assert_array_equal(old.counts(texts).indices, old.reference_counts(texts).indices)
    with pytest.raises(ValueError, match="unknown n-gram hash"):
        hashed.HashedFeatures({"hash": "md5"})


def _as_format_1(path: Path) -> None:
    """Rewrite a saved bundle as the code before format 2 wrote it."""
    meta = json.loads((path / bundle.MODEL_FILE).read_text(encoding="utf-8"))
    meta["format"] = bundle.FORMAT_V1
    del meta["vectorizer"]["hash"]
    (path / bundle.MODEL_FILE).write_text(json.dumps(meta), encoding="utf-8")


def test_format_1_bundles_still_load_and_predict_as_before(tmp_path: Path) -> None:
    texts, labels = synthetic(200)
    small = {"n_features": 2**16}
    murmur = hashed.train(texts, labels, vectorizer={**small, "hash": "murmur3"})
    poly = hashed.train(texts, labels, vectorizer=small)
    bundle.save(murmur, tmp_path / "old" / "hate", task="hate")
    bundle.save(poly, tmp_path / "new" / "irony", task="irony")
    _as_format_1(tmp_path / "old" / "hate")
    loaded, meta = bundle.load(tmp_path / "old" / "hate")
    assert meta["format"] == bundle.FORMAT_V1 and loaded.features.params["hash"] == "murmur3"
    probe, _ = synthetic(80, seed=3)
    np.testing.assert_array_equal(loaded.decision(probe), murmur.decision(probe))
    new, meta = bundle.load(tmp_path / "new" / "irony")
    assert new.features.params["hash"] == "poly64"
    assert meta["format"] == bundle.FORMAT == "fairdesk-triage-hashed/2"
    assert meta["vectorizer"]["hash"] == "poly64"
    # an old and a new bundle side by side: two featurisations, each head its own labels
    (tmp_path / "both").mkdir()
    for src in (tmp_path / "old" / "hate", tmp_path / "new" / "irony"):
        src.rename(tmp_path / "both" / src.name)
    heads = load_heads(tmp_path / "both")
    assert heads is not None and heads.tasks == ("hate", "irony")
    outputs = heads.outputs(probe)
    assert [o.hate for o in outputs] == [label == "1" for label in murmur.predict(probe)]
    assert [o.irony for o in outputs] == [label == "1" for label in poly.predict(probe)]


def test_unknown_formats_and_hashes_are_refused_clearly(tmp_path: Path) -> None:
    model = hashed.train(*synthetic(100), vectorizer={"n_features": 2**16})
    path = bundle.save(model, tmp_path / "b", task="hate")
    meta = json.loads((path / bundle.MODEL_FILE).read_text(encoding="utf-8"))
    for fmt, vectorizer, message in [
        ("fairdesk-triage-hashed/3", meta["vectorizer"], "retrain it"),
        (bundle.FORMAT, {**meta["vectorizer"], "hash": "md5"}, "unknown n-gram hash"),
        (bundle.FORMAT_V1, meta["vectorizer"], "hashes with murmur3"),  # says poly64
    ]:
        (path / bundle.MODEL_FILE).write_text(
            json.dumps({**meta, "format": fmt, "vectorizer": vectorizer}), encoding="utf-8"
        )
        with pytest.raises(bundle.BundleError, match=message):
            bundle.load(path)
