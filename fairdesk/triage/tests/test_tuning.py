"""Choices made on the training rows only (``tuning.py``, ``static_heads.choose``): decision
biases, the cross-validated grid, Naive Bayes weighting folded into the weights, and what
the validation split can (not) change."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from fairdesk.triage import bundle, metrics, static_heads, training, tuning
from fairdesk.triage.datasets import Dataset
from fairdesk.triage.hashed import DEFAULT_TRAINING, HashedFeatures
from fairdesk.triage.static import StaticEmbedder
from fairdesk.triage.tests.synthetic import FILLER, NEG, POS
from fairdesk.triage.tests.test_static import VECTORIZER, tiny_model


@pytest.fixture
def embedder(tmp_path: Path) -> StaticEmbedder:
    return StaticEmbedder(tiny_model(tmp_path / "model"))


@pytest.fixture(autouse=True)
def two_scales(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two scales instead of four: the same search, in half the fits."""
    monkeypatch.setattr(static_heads, "SCALE_GRID", (0.5, 1.0))


def skewed(n: int = 240, seed: int = 0) -> tuple[list[str], list[str]]:
    """A quarter of the rows are class 1 ("ironic"); a tenth of the labels are flipped, so
    no fold is separable and the threshold matters."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = "1" if i % 4 == 0 else "0"
        words = [rng.choice(POS if label == "1" else NEG), *rng.sample(FILLER, 4)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(str(1 - int(label)) if rng.random() < 0.1 else label)
    return texts, labels


def test_tuned_tasks() -> None:
    assert tuning.tunes_biases("irony", 2) and tuning.tunes_biases("emotion", 4)
    assert tuning.tunes_biases("offensive", 2) and tuning.tunes_biases("hate", 2)
    assert not tuning.tunes_biases("sentiment", 3)  # macro-recall: not an F1
    assert not tuning.tunes_biases("banking77", 77)  # accuracy
    assert not tuning.tunes_biases("emotion", 11)  # too many classes to search


def test_a_threshold_that_raises_f1_of_class_1() -> None:
    # Positives score -0.3 (missed at threshold 0), negatives -1; worked by hand: a bias of
    # +0.35 (the first grid value, by size, above 0.3) finds all 3 positives: F1 1.0.
    scores = np.asarray([-0.3, -0.3, -0.3, -1.0, -1.0, -1.0, -1.0, -1.0])
    gold = ["1", "1", "1", "0", "0", "0", "0", "0"]
    bias, before, after = tuning.choose_biases("irony", scores, gold, ["0", "1"])
    assert before == 0.0 and after == 100.0
    assert bias.tolist() == [0.35]
    assert tuning.labels_of(tuning.as_columns(scores), ["0", "1"], bias) == gold
    assert tuning.bias_record(bias, ["0", "1"]) == {"1": 0.35}


def test_biases_of_a_multiclass_task_and_ties_keep_zero() -> None:
    # Class "b" is never the argmax though it is the gold label of rows 2-3. Column "a" is
    # searched first, smallest shifts first (the negative before the positive): -0.4 ties
    # row 2 (argmax keeps "a"), -0.45 fixes rows 2-3 and keeps rows 0-1 (0.55 > 0.2).
    scores = np.asarray([[1.0, 0.0, 0.2], [1.0, 0.2, 0.0], [0.8, 0.4, 0.0], [0.9, 0.5, 0.0]])
    gold = ["a", "a", "b", "b"]
    bias, before, after = tuning.choose_biases("emotion", scores, gold, ["a", "b", "c"])
    assert after == 100.0 and before < after
    assert bias.tolist() == [-0.45, 0.0, 0.0]
    assert tuning.labels_of(scores, ["a", "b", "c"], bias) == gold
    perfect = np.asarray([[1.0, 0.0], [0.0, 1.0]])
    kept, _, _ = tuning.choose_biases("emotion", perfect, ["a", "b"], ["a", "b"])
    assert not kept.any()  # nothing strictly better: no shift


def test_folds_cover_every_row_once() -> None:
    labels = ["0", "1"] * 20 + ["2"] * 3  # "2" has fewer rows than folds: plain shuffle
    for given in (labels[:40], labels):
        folds = tuning.folds_of(given)
        assert sorted(np.concatenate(folds).tolist()) == list(range(len(given)))
        assert len(folds) == tuning.FOLDS
    assert tuning.search_rows(["0", "1"] * 10, limit=6).tolist() == sorted(
        tuning.search_rows(["0", "1"] * 10, limit=6).tolist()
    )
    assert len(tuning.search_rows(["0", "1"] * 10, limit=6)) == 6


def test_nb_weights_by_hand() -> None:
    import scipy.sparse as sp

    x = sp.csr_matrix(np.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=np.float32))
    # p (rows of "1": 2) = [0, 1] + 1 = [1, 2]; q (rows of "0": 0 and 1) = [2, 1] + 1 = [3, 2]
    w = static_heads.nb_weights(x, ["0", "0", "1"])
    expected = np.abs(np.log((np.asarray([1, 2]) / 3) / (np.asarray([3, 2]) / 5)))
    np.testing.assert_allclose(w, expected, rtol=1e-6)


def test_nb_weighting_is_folded_into_the_saved_weights(embedder: StaticEmbedder) -> None:
    """A head fitted over Naive-Bayes-weighted columns scores, from the plain columns,
    exactly what the fitted classifier scores from the weighted ones."""
    texts, labels = skewed()
    full = HashedFeatures(VECTORIZER).transform(texts)
    used = np.unique(full.indices)
    x, embeddings = full[:, used], embedder.embed(texts)
    weight = static_heads.nb_weights(x, labels)
    options = {**DEFAULT_TRAINING, "C": 3.0, "class_weight": None}
    clf = static_heads._fit(static_heads.features(x, embeddings, 0.5, weight), labels, options)
    coef = np.asarray(clf.coef_, dtype=np.float64)
    folded = x @ (coef[0, : len(used)] * weight) + embeddings @ (coef[0, len(used) :] * 0.5)
    expected = clf.decision_function(static_heads.features(x, embeddings, 0.5, weight))
    np.testing.assert_allclose(folded + clf.intercept_[0], expected, rtol=1e-4, atol=1e-5)


def test_a_tuned_head_records_its_choices_and_round_trips(
    embedder: StaticEmbedder, tmp_path: Path
) -> None:
    texts, labels = skewed()
    head = static_heads.train_head("irony", texts, labels, embedder, vectorizer=VECTORIZER)
    info = head.hashed.info
    search = info["search"]
    assert search["rows"] == len(texts) and search["folds"] == tuning.FOLDS
    assert search["metric"] == metrics.IRONY_F1
    assert len(search["grid"]) == len(static_heads.SCALE_GRID) + 2 * 2 * 2 - 1  # one repeat
    best = max(search["grid"], key=lambda row: row["cv_biased"])
    assert (head.scale, info["training"]["C"], info["training"]["class_weight"]) == (
        best["scale"],
        best["C"],
        best["class_weight"],
    )
    assert set(info["decision_bias"]) == {"1"}
    static_heads.save(head, tmp_path / "irony", task="irony", static=embedder.describe())
    loaded, meta = static_heads.load(tmp_path / "irony")
    assert meta["training"]["decision_bias"] == info["decision_bias"]
    probe = skewed(80, seed=3)[0]
    np.testing.assert_array_equal(loaded.hashed.intercept, head.hashed.intercept)
    assert loaded.predict(probe, embedder) == head.predict(probe, embedder)


def test_bundles_without_the_new_keys_score_as_before(
    embedder: StaticEmbedder, tmp_path: Path
) -> None:
    """Loaders read nothing of the search: a bundle written before it (no search,
    decision_bias or nb_weighting in model.json) scores exactly as one with them."""
    texts, labels = skewed()
    head = static_heads.train_head("irony", texts, labels, embedder, vectorizer=VECTORIZER)
    static_heads.save(head, tmp_path / "new", task="irony", static=embedder.describe())
    path = tmp_path / "old"
    static_heads.save(head, path, task="irony", static=embedder.describe())
    meta = json.loads((path / bundle.MODEL_FILE).read_text(encoding="utf-8"))
    for key in ("search", "decision_bias", "nb_weighting"):
        del meta["training"][key]
    (path / bundle.MODEL_FILE).write_text(json.dumps(meta), encoding="utf-8")
    probe = skewed(80, seed=5)[0]
    old, _ = static_heads.load(path)
    new, _ = static_heads.load(tmp_path / "new")
    np.testing.assert_array_equal(old.decision(probe, embedder), new.decision(probe, embedder))


def test_a_given_scale_trains_untuned(embedder: StaticEmbedder) -> None:
    """With a scale given (as the older code's scale search ended), the fit is the older
    one: default C and class weights, no Naive Bayes weights, no biases."""
    texts, labels = skewed()
    head = static_heads.train_head(
        "irony", texts, labels, embedder, scale=1.0, vectorizer=VECTORIZER
    )
    assert head.hashed.info["decision_bias"] is None and head.hashed.info["search"] is None
    full = HashedFeatures(VECTORIZER).transform(texts)
    used = np.unique(full.indices)
    clf = static_heads._fit(
        static_heads.features(full[:, used], embedder.embed(texts), 1.0), labels, DEFAULT_TRAINING
    )
    np.testing.assert_array_equal(head.hashed.intercept, clf.intercept_.astype(np.float32))


def _weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path / bundle.WEIGHTS_FILE, allow_pickle=False) as w:
        return {name: np.asarray(w[name]) for name in w.files}


def _choices(path: Path) -> dict[str, object]:
    """``model.json`` less what differs between two runs of the same training: the
    validation score, the time of training and how long it took."""
    meta = json.loads((path / bundle.MODEL_FILE).read_text(encoding="utf-8"))
    del meta["validation"], meta["trained_at"], meta["training"]["train_seconds"]
    return meta


def test_validation_labels_cannot_change_a_static_bundle(
    embedder: StaticEmbedder, tmp_path: Path
) -> None:
    texts, labels = skewed()
    train = Dataset(texts, labels, "train")
    val_texts, val_labels = skewed(60, seed=9)
    flipped = [str(1 - int(label)) for label in val_labels]
    results = []
    for name, gold in (("a", val_labels), ("b", flipped)):
        results.append(
            static_heads.train_bundle(
                "irony",
                train,
                tmp_path / name,
                embedder=embedder,
                validation=Dataset(val_texts, gold, "val"),
            )
        )
    assert results[0]["validation"]["score"] != results[1]["validation"]["score"]
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert _choices(tmp_path / "a") == _choices(tmp_path / "b")


def test_validation_labels_cannot_change_a_plain_bundle(tmp_path: Path) -> None:
    texts, labels = skewed()
    val_texts, val_labels = skewed(60, seed=9)
    for name, gold in (("a", val_labels), ("b", [str(1 - int(v)) for v in val_labels])):
        training.train_bundle(
            "irony",
            Dataset(texts, labels, "train"),
            tmp_path / name,
            validation=Dataset(val_texts, gold, "val"),
            vectorizer=VECTORIZER,
        )
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert _choices(tmp_path / "a") == _choices(tmp_path / "b")


def test_training_set_checks_are_shared() -> None:
    from fairdesk.triage import hashed

    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        hashed.train(["a", "b"], ["0"])
    with pytest.raises(ValueError, match="two distinct labels"):
        static_heads.train_head("irony", ["a", "b"], ["0", "0"], None)  # type: ignore[arg-type]
