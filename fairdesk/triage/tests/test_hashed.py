from pathlib import Path

import numpy as np
import pytest

from fairdesk.triage import bundle, hashed, metrics
from fairdesk.triage.tests.synthetic import synthetic
from fairdesk.triage.training import train_bundle

SMALL = {"n_features": 2**16}


def test_trains_and_predicts_a_separable_task() -> None:
    texts, labels = synthetic(200)
    model = hashed.train(texts, labels, vectorizer=SMALL)
    test_texts, test_labels = synthetic(100, seed=1)
    assert metrics.score("hate", test_labels, model.predict(test_texts)).score_percent > 95
    assert model.predict([]) == []


def test_hostile_texts_get_a_label() -> None:
    model = hashed.train(*synthetic(100), vectorizer=SMALL)
    odd = ["", "😀😀", "http://x.y", "a" * 100_000, "bad \ud800 surrogate", None]
    assert len(model.predict(odd)) == len(odd)  # type: ignore[arg-type]


def test_bundle_round_trip_predicts_the_same(tmp_path: Path) -> None:
    texts, labels = synthetic(300)
    labels = [f"c{int(label) + (i % 3 == 0)}" for i, label in enumerate(labels)]  # 3 classes
    model = hashed.train(texts, labels, vectorizer=SMALL)
    bundle.save(model, tmp_path / "b", task="emotion", training_data={"path": "synthetic"})
    loaded, meta = bundle.load(tmp_path / "b")
    probe, _ = synthetic(120, seed=5)
    assert loaded.predict(probe) == model.predict(probe)
    np.testing.assert_array_equal(loaded.decision(probe), model.decision(probe))
    assert meta["task"] == "emotion" and meta["labels"] == ["c0", "c1", "c2"]
    assert not list((tmp_path / "b").glob("*.pkl"))


def test_binary_bundle_and_training_report(tmp_path: Path) -> None:
    texts, labels = synthetic(200)
    from fairdesk.triage.datasets import Dataset

    report = train_bundle(
        "irony", Dataset(texts, labels, "synthetic"), tmp_path / "irony", vectorizer=SMALL
    )
    assert report["validation"]["metric"] == "f1_irony"
    assert report["validation"]["n"] == 20
    loaded, meta = bundle.load(tmp_path / "irony")
    assert meta["validation"]["score"] == report["validation"]["score"]
    assert "licence" in meta["training_data"]
    assert loaded.predict(texts[:10]) == labels[:10]


def test_bad_bundles_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(bundle.BundleError, match=r"no model\.json"):
        bundle.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(bundle.BundleError, match="not a"):
        bundle.load(tmp_path)
