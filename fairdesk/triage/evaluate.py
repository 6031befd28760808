"""``triage eval``: score a bundle, or a file of predictions, on a labelled dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairdesk.triage import bundle, datasets, metrics
from fairdesk.triage.datasets import Dataset


def evaluate(
    task: str,
    gold: Dataset,
    *,
    predictions: Path | str | None = None,
    bundle_dir: Path | str | None = None,
    tier: str = "fast",
    encoder: Any = None,
    cache_dir: Path | str | None = None,
) -> metrics.Score:
    """Score ``predictions`` (one label per line) or the bundle's predictions on ``gold``.
    A ``tier="deep"`` bundle is scored with ``encoder`` (a ``deep.DeepEncoder``; default:
    the packaged one), its embeddings cached in ``cache_dir``."""
    if predictions is not None:
        predicted = datasets.read_labels(predictions)
        if len(predicted) != len(gold):
            raise ValueError(
                f"{predictions} has {len(predicted)} predictions but {gold.source} has "
                f"{len(gold)} gold labels; they must pair up line by line"
            )
    elif bundle_dir is not None and tier == "deep":
        from fairdesk.triage import deep_heads

        predicted = deep_heads.predict(
            task, bundle_dir, gold.texts, encoder=encoder, cache_dir=cache_dir
        )
    elif bundle_dir is not None:
        model, meta = bundle.load(bundle_dir)
        if meta.get("task") not in (None, task):
            raise ValueError(f"{bundle_dir} was trained for task {meta['task']!r}, not {task!r}")
        predicted = model.predict(gold.texts)
    else:
        raise ValueError("give a bundle directory or a predictions file")
    return metrics.score(task, gold.labels, predicted)
