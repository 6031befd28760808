"""Train a hashed model from a labelled dataset, score it, and write a bundle."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
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


def score_and_save(
    task: str,
    train: Dataset,
    validation: Dataset,
    predict: Callable[[list[str]], list[str]],
    save: Callable[..., object],
    *,
    licence: str = LICENCE_NOTE,
    timing: str = "texts_per_s",
) -> dict[str, Any]:
    """The end of every ``train_bundle`` (hashed, static and deep heads): ``predict`` the
    validation texts, score them with the task's metric, and ``save(validation=...,
    training_data=...)`` the bundle. The result records the validation source and how
    fast the prediction ran: ``texts_per_s``, or its ``seconds`` (``timing="seconds"``)."""
    started = time.perf_counter()
    predicted = predict(validation.texts)
    seconds = time.perf_counter() - started
    result = metrics.score(task, validation.labels, predicted).as_dict()
    result["source"] = validation.source
    if timing == "seconds":
        result["seconds"] = round(seconds, 2)
    else:
        result["texts_per_s"] = round(len(validation) / seconds) if seconds > 0 else None
    save(
        validation=result,
        training_data={"path": train.source, "rows": len(train), "licence": licence},
    )
    return result


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
    result = score_and_save(
        task,
        train,
        validation,
        model.predict,
        functools.partial(bundle.save, model, out, task=task),
    )
    return {
        "task": task,
        "bundle": str(out),
        "train_examples": len(train),
        "train_seconds": model.info["train_seconds"],
        "validation": result,
    }
