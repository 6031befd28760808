"""The shared-feature path must score exactly as each head does on its own."""

from __future__ import annotations

import numpy as np
import pytest

from fairdesk.triage import hashed, stack
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.stack import HeadStack
from fairdesk.triage.tests.corpora import DATA, airline_tweets, tweeteval_sentiment
from fairdesk.triage.tests.heads import banking_sample, three_way
from fairdesk.triage.tests.synthetic import synthetic
from fairdesk.triage.tests.test_ngrams import ODD


def probe() -> list[str]:
    texts = banking_sample()[0] + three_way(90, seed=4)[0] + synthetic(60, seed=9)[0] + ODD
    if DATA.exists():
        texts += [t for t, _ in tweeteval_sentiment(1_500)] + [t for t, _ in airline_tweets(1_500)]
    return texts


def assert_same_as_each_head(
    heads: HeadStack, models: dict[str, HashedLinearModel], texts: list[str]
) -> None:
    shared = heads.decisions(texts)
    labels = heads.predict(texts)
    assert set(shared) == set(models)
    for name, model in models.items():
        alone = model.decision(texts)
        assert shared[name].shape == alone.shape
        np.testing.assert_allclose(shared[name], alone, rtol=0, atol=1e-5)
        assert labels[name] == model.labels_of(alone)


def test_shared_features_give_each_heads_labels(models: dict[str, HashedLinearModel]) -> None:
    assert_same_as_each_head(HeadStack(models), models, probe())


def test_blocks_split_by_size_give_the_same_scores(
    models: dict[str, HashedLinearModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    together = HeadStack(models)
    # fewest weight rows first, then by name (irony and offensive 1, sentiment 3, banking77 8)
    assert [b.names for b in together._blocks] == [("irony", "offensive", "sentiment", "banking77")]
    monkeypatch.setattr(stack, "MAX_BLOCK_BYTES", 0)
    apart = HeadStack(models)
    assert [b.names for b in apart._blocks] == [
        ("irony",),
        ("offensive",),
        ("sentiment",),
        ("banking77",),
    ]
    assert_same_as_each_head(apart, models, probe()[:400])


def test_the_blocks_do_not_depend_on_the_order_of_the_heads(
    models: dict[str, HashedLinearModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    backwards = dict(reversed(list(models.items())))
    assert [b.names for b in HeadStack(backwards)._blocks] == [
        b.names for b in HeadStack(models)._blocks
    ]
    # a head with many rows gets a block of its own
    monkeypatch.setattr(stack, "MAX_BLOCK_BYTES", stack._dense_bytes(list(models.items())) - 1)
    blocks = [b.names for b in HeadStack(backwards)._blocks]
    assert blocks == [("irony", "offensive", "sentiment"), ("banking77",)]


def test_a_full_width_block_scores_exactly_as_a_compact_one(
    models: dict[str, HashedLinearModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "FULL_WIDTH_RATIO", 0)
    compact = HeadStack(models)
    monkeypatch.setattr(stack, "FULL_WIDTH_RATIO", 1_000)
    monkeypatch.setattr(stack, "MAX_BLOCK_BYTES", 2**40)
    full = HeadStack(models)
    assert [b.column is None for b in compact._blocks] == [False]
    assert [b.column is None for b in full._blocks] == [True]
    texts = probe()[:400]
    want, got = compact.decisions(texts), full.decisions(texts)
    assert all(got[name].tobytes() == want[name].tobytes() for name in models)  # bit for bit
    assert_same_as_each_head(full, models, texts)


def test_batches_larger_than_a_span(
    models: dict[str, HashedLinearModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "SPAN_CHARS", 3_000)
    assert_same_as_each_head(HeadStack(models), models, probe()[:400])


def test_spans_cut_a_batch_after_about_span_chars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "SPAN_CHARS", 10)
    # Each text counts its characters plus one; a run ends once it reaches 10.
    texts = ["abcd", "efgh", "ij", "x" * 50, ""]
    assert list(stack.spans(texts)) == [(0, 2), (2, 4), (4, 5)]
    assert list(stack.spans([])) == []


def test_empty_batch(models: dict[str, HashedLinearModel]) -> None:
    scores = HeadStack(models).decisions([])
    assert {name: s.shape for name, s in scores.items()} == {
        "sentiment": (0, 3),
        "offensive": (0, 1),
        "irony": (0, 1),
        "banking77": (0, 8),
    }


def test_heads_must_share_the_vectoriser(models: dict[str, HashedLinearModel]) -> None:
    other = hashed.train(*synthetic(100), vectorizer={"n_features": 2**16})
    with pytest.raises(ValueError, match="other vectoriser parameters"):
        HeadStack({"irony": models["irony"], "small": other})
    with pytest.raises(ValueError, match="at least one head"):
        HeadStack({})
