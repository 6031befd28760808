"""Train a hashed model from a labelled dataset, score it, and write a bundle."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from fairdesk.triage import bundle, hashed, metrics
from fairdesk.triage.datasets import Dataset

LICENCE_NOTE = (
    "Trained from the file(s) named here; the model inherits that data's licence "
    "(see the dataset's PROVENANCE.md or LICENSE). Do not commit or redistribute it."
)


def split(data: Dataset, fraction: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Carve a reproducible validation split (``fraction`` of the rows) out of ``data``."""
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(len(order) * fraction))
    held, kept = order[:cut], order[cut:]

    def pick(rows: list[int], name: str) -> Dataset:
        return Dataset(
            texts=[data.texts[i] for i in rows],
            labels=[data.labels[i] for i in rows],
            source=f"{data.source} ({name}, seed {seed})",
        )

    return pick(kept, "train part"), pick(held, "validation part")


def train_bundle(
    task: str,
    train: Dataset,
    out: Path | str,
    *,
    validation: Dataset | None = None,
    training: dict[str, Any] | None = None,
    vectorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train on ``train``, score on ``validation`` (or a 10% carve-out) and save a bundle."""
    if validation is None:
        train, validation = split(train)
    model = hashed.train(train.texts, train.labels, vectorizer=vectorizer, training=training)
    started = time.perf_counter()
    predicted = model.predict(validation.texts)
    seconds = time.perf_counter() - started
    result = metrics.score(task, validation.labels, predicted).as_dict()
    result["source"] = validation.source
    result["texts_per_s"] = round(len(validation) / seconds) if seconds > 0 else None
    bundle.save(
        model,
        out,
        task=task,
        validation=result,
        training_data={"path": train.source, "rows": len(train), "licence": LICENCE_NOTE},
    )
    return {
        "task": task,
        "bundle": str(out),
        "train_examples": len(train),
        "train_seconds": model.info["train_seconds"],
        "validation": result,
    }
