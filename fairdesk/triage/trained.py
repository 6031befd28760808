"""Trained heads inside the fast tier: which bundle feeds which ``TriageResult`` field.

``load_heads(directory)`` takes the best usable bundle per known task
(``bundle.ranked_by_task``) and scores all of them from one featurisation (``stack.py``).
Where a head beats the rules on the validation data (see docs/TRIAGE.md) it is used
instead of, or with, them:

- ``sentiment`` replaces VADER (label, and a score: P(positive) - P(negative));
- ``offensive`` is OR-ed with the abuse lexicon (it only adds flags);
- ``irony``, ``hate``, ``emotion`` and ``banking77`` (as ``support_intent``) have no rules
  counterpart and stay at their defaults without a bundle.

A static head (``static_heads.py``: n-grams plus a model2vec embedding, in
``directory/static/<task>``) takes a task's place where its validation score is higher and
the static model it was trained with is there; it shares the n-gram featurisation, and the
batch is embedded once for every static head.

Labels are TweetEval's ids (``mapping.txt``), which is what ``triage train --format
tweeteval`` stores; names are accepted too. A bundle whose labels do not fit its task is
skipped with a warning rather than mislabelling messages. Nothing here reads anything but
the text: no channel, author or reach.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fairdesk.triage import bundle
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.stack import HeadStack

if TYPE_CHECKING:
    from fairdesk.triage.static_heads import StaticPart

logger = logging.getLogger(__name__)

SENTIMENT_NAMES = {"0": "negative", "1": "neutral", "2": "positive"}
EMOTION_NAMES = {"0": "anger", "1": "joy", "2": "optimism", "3": "sadness"}
FLAG_NAMES = {"0": "no", "1": "yes"}  # offensive, hate, irony: class 1 is the flagged one
TASK_LABELS: dict[str, dict[str, str] | None] = {
    "sentiment": SENTIMENT_NAMES,
    "offensive": FLAG_NAMES,
    "hate": FLAG_NAMES,
    "irony": FLAG_NAMES,
    "emotion": EMOTION_NAMES,
    "banking77": None,  # any intent names
}


@dataclass(frozen=True, slots=True)
class HeadOutput:
    """The trained heads' verdict on one text; ``None``/``""`` where no head ran."""

    sentiment: str | None = None
    sentiment_score: float = 0.0
    offensive: bool = False
    irony: bool = False
    hate: bool = False
    emotion: str = ""
    support_intent: str = ""


# Each field in order, with the value it keeps where no head fills it.
HEAD_FIELDS = [(f.name, f.default) for f in fields(HeadOutput)]


class TrainedHeads:
    """``outputs(texts) -> [HeadOutput]`` from the loaded bundles, one batch pass."""

    def __init__(
        self,
        models: Mapping[str, HashedLinearModel],
        infos: Sequence[bundle.BundleInfo] = (),
        static: StaticPart | None = None,
    ) -> None:
        self.infos = tuple(infos)
        self._models = dict(models)
        # Static heads (``static_heads.py``): their n-gram part is in ``models`` (scored in
        # the shared stack), their dense part is added to the scores from one embedding.
        self._static = static if static is not None and static.dense else None
        self._names = {
            task: dict(zip(model.labels, _names(task, model.labels), strict=True))
            for task, model in models.items()
        }
        groups: dict[str, dict[str, HashedLinearModel]] = {}
        for task, model in models.items():  # one stack per distinct vectoriser
            groups.setdefault(repr(sorted(model.features.params.items())), {})[task] = model
        self._stacks = [HeadStack(group) for group in groups.values()]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(sorted(self._names))

    def describe(self) -> dict[str, Any]:
        return describe_bundles(self.infos)

    @property
    def static_tasks(self) -> tuple[str, ...]:
        return tuple(sorted(self._static.dense)) if self._static else ()

    def outputs(self, texts: Sequence[str]) -> list[HeadOutput]:
        columns = self.columns(texts)
        values = [columns.get(name, repeat(default, len(texts))) for name, default in HEAD_FIELDS]
        return [HeadOutput(*row) for row in zip(*values, strict=True)]

    def columns(self, texts: Sequence[str]) -> dict[str, list[Any]]:
        """:meth:`outputs` by field: one value per text for each ``HeadOutput`` field a
        head fills (a field no head fills is absent). ``FastTriage`` reads these, with no
        ``HeadOutput`` per text."""
        columns: dict[str, list[Any]] = {}
        embeddings = self._static.embedder.embed(texts) if self._static else None
        for stack in self._stacks:
            for task, scores in stack.decisions(texts).items():
                if embeddings is not None and self._static and task in self._static.dense:
                    scores = scores + embeddings @ self._static.dense[task].T
                columns.update(self._fields(task, scores))
        return columns

    def _fields(self, task: str, scores: np.ndarray) -> dict[str, list[Any]]:
        return head_fields(task, self._models[task].labels_of(scores), scores, self._names[task])


def head_fields(
    task: str, labels: Sequence[str], scores: np.ndarray, rename: Mapping[str, str]
) -> dict[str, list[Any]]:
    """The ``HeadOutput`` fields a head of ``task`` fills: its ``labels`` (as the bundle
    names them, ``rename``-d to this module's names) and its ``scores``. The deep tier's
    heads (``deep_heads.py``) fill them the same way."""
    named = [rename[label] for label in labels]
    if task == "sentiment":
        return {"sentiment": named, "sentiment_score": _polarity(scores, list(rename.values()))}
    if task in ("offensive", "hate", "irony"):
        return {task: [label == "yes" for label in named]}
    return {"emotion" if task == "emotion" else "support_intent": named}


def describe_bundles(infos: Iterable[bundle.BundleInfo]) -> dict[str, Any]:
    """What ``/healthz`` shows: the heads the bundles provide, and the bundles."""
    infos = sorted(infos, key=lambda info: info.task)
    return {"heads": [i.task for i in infos], "bundles": [i.as_dict() for i in infos]}


def _polarity(scores: np.ndarray, names: list[str]) -> list[float]:
    """P(positive) - P(negative) under the multinomial model's own (softmax) probabilities."""
    z = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    polarity = p[:, names.index("positive")] - p[:, names.index("negative")]
    return list(np.round(polarity.astype(np.float64), 4).tolist())


def _names(task: str, labels: Sequence[str]) -> list[str]:
    """The bundle's labels in weight order, as the names this module uses."""
    table = TASK_LABELS[task]
    if table is None:
        return list(labels)
    named = [table.get(label, label) for label in labels]
    if not set(named) <= set(table.values()) or (
        task == "sentiment" and set(named) != set(table.values())
    ):
        raise bundle.BundleError(
            f"a {task} bundle needs labels among {sorted(table)} (or {sorted(table.values())}); "
            f"this one has {sorted(labels)}"
        )
    return named


def load_heads(directory: Path | str, *, static: bool = True) -> TrainedHeads | None:
    """The best usable bundle per known task under ``directory``; None when there is none.
    A bundle that fails to load, or whose labels do not fit its task, is skipped (with a
    warning) for the next best one. With ``static``, a static head (``static_heads.py``,
    in ``directory/static``) takes a task's place where its validation score is higher
    and the static model it was trained with is there."""
    models: dict[str, HashedLinearModel] = {}
    infos: dict[str, bundle.BundleInfo] = {}
    for task, ranked in sorted(bundle.ranked_by_task(directory).items()):
        if task not in TASK_LABELS:
            continue
        for info in ranked:
            try:
                model, _ = bundle.load(info.path)
                _names(task, model.labels)
            except (bundle.BundleError, OSError, ValueError, KeyError) as exc:
                logger.warning("not using triage bundle %s: %s", info.path, exc)
                continue
            models[task] = model
            infos[task] = info
            break
    part = None
    if static:
        from fairdesk.triage.static_heads import upgrade

        part = upgrade(directory, models, infos, tuple(TASK_LABELS), check_labels=_names)
    return TrainedHeads(models, list(infos.values()), part) if models else None
