"""Static heads: the fast tier's hashed n-gram features plus a static text embedding.

A static head is a logistic regression (as ``hashed.train``) over
``[hashed word + char n-grams ; scale * static embedding]``: the n-gram rows are those of
the plain heads (L2-normalised), the embedding the mean of the text's model2vec token
vectors, L2-normalised (``static.py``), times ``scale``. Every choice is made by 5-fold
cross-validation on the training rows (``tuning.py``; the validation split is never used
to pick anything): the scale, then ``C``, class weights and, for two labels, Naive Bayes
weighting of the n-gram columns (``nb_weights``), then, where the task's metric is an F1,
per-class decision biases. The Naive Bayes weights and the biases are folded into the
n-gram weights and the intercept, so the bundle format is unchanged; ``model.json``
records the choices and the cross-validated scores of the grid (``training.search``).

Bundle format ``fairdesk-triage-static/1`` is format 2 (``bundle.py``) plus the dense
weights over the embedding (``dense`` in ``weights.npz``: rows x dim) and, in
``model.json``, ``"static"``: the scale, the embedding's dimension and the sha256 of the
static model's vectors and tokenizer. A head is used only with exactly that static model.

Heads live in ``DATA_DIR/triage/static/<task>`` beside the static model. In the pipeline
(``trained.load_heads``) a static head replaces the plain head of its task only where its
stored validation score beats the plain bundle's (or there is none), the static model is
there and its sha256 matches; without a static model everything runs as before. The
n-grams are hashed once for plain and static heads alike (they share the vectoriser), the
embedding is computed once per batch for every static head.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from fairdesk.triage import bundle, tuning
from fairdesk.triage.datasets import Dataset
from fairdesk.triage.hashed import (
    DEFAULT_TRAINING,
    HashedLinearModel,
    fit_classifier,
    start_training,
)
from fairdesk.triage.static import StaticEmbedder, StaticUnavailable, static_dir

logger = logging.getLogger(__name__)

FORMAT = "fairdesk-triage-static/1"
TIER = "static"
# What a head chooses by cross-validation on its training rows (``choose``): the scale
# first, at the default C and class weights, then C, class weights and (two labels) Naive
# Bayes weighting at that scale; then decision biases where the task's metric is an F1.
SCALE_GRID = (0.25, 0.5, 1.0, 2.0)
C_GRID = (3.0, 10.0)
CLASS_WEIGHTS = ("balanced", None)
CHECKED = ("weights_sha256", "tokenizer_sha256", "dim", "text_preparation")


@dataclass
class StaticHead:
    """A hashed linear model plus dense weights over the static embedding."""

    hashed: HashedLinearModel  # its intercept is the head's
    dense: np.ndarray  # (rows, dim) float32, already multiplied by ``scale``
    scale: float

    @property
    def labels(self) -> list[str]:
        return self.hashed.labels

    def decision(self, texts: Sequence[str], embedder: StaticEmbedder) -> np.ndarray:
        return self.hashed.decision(texts) + self.dense_scores(embedder.embed(texts))

    def dense_scores(self, embeddings: np.ndarray) -> np.ndarray:
        return np.asarray(embeddings @ self.dense.T, dtype=np.float32)

    def predict(self, texts: Sequence[str], embedder: StaticEmbedder) -> list[str]:
        if not texts:
            return []
        return self.hashed.labels_of(self.decision(texts, embedder))


def features(
    x: sp.csr_matrix, embeddings: np.ndarray, scale: float, weight: np.ndarray | None = None
) -> sp.csr_matrix:
    """``[x ; scale * embeddings]`` as one sparse matrix; ``weight`` multiplies the n-gram
    columns (see :func:`nb_weights`)."""
    if weight is not None:
        x = x @ sp.diags(weight, format="csr")
    return sp.hstack([x, sp.csr_matrix(embeddings * np.float32(scale))], format="csr")


def nb_weights(x: sp.csr_matrix, labels: Sequence[str], alpha: float = 1.0) -> np.ndarray:
    """Naive Bayes log-count ratios (Wang and Manning 2012, NBSVM) of a two-label set, as
    column weights: ``|log((p / |p|) / (q / |q|))|`` with ``p``, ``q`` the ``alpha``-smoothed
    column sums of ``x`` over the rows of each label. A logistic regression over the
    weighted columns is a linear model over the plain ones (its weights times these), so
    the bundle stores the product and scores as any other; the sign is dropped because an
    L2-regularised fit is the same with either."""
    positive = max(set(labels))
    second = np.asarray([label == positive for label in labels])
    p = np.asarray(x[second].sum(axis=0)).ravel() + alpha
    q = np.asarray(x[~second].sum(axis=0)).ravel() + alpha
    return np.abs(np.log((p / p.sum()) / (q / q.sum()))).astype(np.float32)


def _fit(x: sp.csr_matrix, labels: Sequence[str], options: Mapping[str, Any]) -> Any:
    return fit_classifier(x, labels, dict(options))


def search_grids(n_labels: int) -> tuple[list[dict[str, Any]], Callable[..., list[dict[str, Any]]]]:
    """The two stages of the search: the scale at the default training options, then ``C``,
    class weights and (two labels) Naive Bayes weighting at the chosen scale."""
    default = {"C": float(DEFAULT_TRAINING["C"]), "class_weight": "balanced", "nb": False}
    first = [{**default, "scale": scale} for scale in SCALE_GRID]

    def second(best: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            {"C": c, "class_weight": weights, "nb": nb, "scale": best["scale"]}
            for c in C_GRID
            for weights in CLASS_WEIGHTS
            for nb in ((False, True) if n_labels == 2 else (False,))
        ]

    return first, second


def choose(
    task: str,
    x: sp.csr_matrix,
    embeddings: np.ndarray,
    labels: Sequence[str],
    options: Mapping[str, Any],
) -> tuple[dict[str, Any], np.ndarray | None, dict[str, Any]]:
    """The scale, ``C``, class weights, Naive Bayes weighting and decision biases of a head,
    all by cross-validation on the training rows (``tuning.py``): (config, biases, what
    ``model.json`` records of the search)."""
    label_order = sorted(set(labels))

    def fit(config: Mapping[str, Any], rows: np.ndarray) -> tuning.Scorer:
        kept = [labels[i] for i in rows]
        weight = nb_weights(x[rows], kept) if config["nb"] else None
        clf = _fit(
            features(x[rows], embeddings[rows], config["scale"], weight),
            kept,
            {**options, **config},
        )
        return lambda held: clf.decision_function(
            features(x[held], embeddings[held], config["scale"], weight)
        )

    search = tuning.Search(task, fit, labels, label_order)
    first, second = search_grids(len(label_order))
    best = search.run(first)
    if best is not None:
        best = search.run(second(best))
    if best is None:  # no fold could be fitted (a label on too few rows)
        return {**first[0], "scale": 1.0}, None, search.record()
    return best, search.bias, search.record()


def train_head(
    task: str,
    texts: Sequence[str],
    labels: Sequence[str],
    embedder: StaticEmbedder,
    *,
    scale: float | None = None,
    vectorizer: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> StaticHead:
    """Fit a static head on ``texts``/``labels`` (at least two distinct labels). With
    ``scale`` (tests), that scale and the given (or default) training options, untuned;
    else every choice by cross-validation on these rows (:func:`choose`)."""
    started, hashed_features, full = start_training(texts, labels, vectorizer)
    # Fit on the hashed columns some text uses: an L2-regularised weight of a column that
    # is all zeros stays zero, and the solvers then work over thousands of columns, not
    # 2**20 (a fit on a few hundred rows is about 1 s otherwise).
    used = np.unique(full.indices)
    x = full[:, used]
    embeddings = embedder.embed(texts)
    options = {**DEFAULT_TRAINING, **(training or {})}
    bias: np.ndarray | None = None
    search: dict[str, Any] | None = None
    if scale is None:
        config, bias, search = choose(task, x, embeddings, labels, options)
    else:
        config = {
            "C": options["C"],
            "class_weight": options["class_weight"],
            "nb": False,
            "scale": scale,
        }
    chosen = float(config["scale"])
    options = {**options, "C": config["C"], "class_weight": config["class_weight"]}
    weight = nb_weights(x, labels) if config["nb"] else None
    clf = _fit(features(x, embeddings, chosen, weight), labels, options)
    coef = np.asarray(clf.coef_, dtype=np.float32)
    hashed_coef = coef[:, : len(used)]
    if weight is not None:
        hashed_coef = hashed_coef * weight
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if bias is not None:
        intercept = intercept + bias
    n = hashed_features.n_features
    sparse = sp.csr_matrix(
        (
            hashed_coef.ravel(),
            np.tile(used, len(coef)),
            np.arange(len(coef) + 1) * len(used),
        ),
        shape=(len(coef), n),
    )
    sparse.eliminate_zeros()
    model_labels = [str(c) for c in clf.classes_]
    info: dict[str, Any] = {
        "training": options,
        "scale": chosen,
        "nb_weighting": bool(config["nb"]),
        "decision_bias": tuning.bias_record(bias, model_labels),
        "search": search,
        "train_examples": len(texts),
        "train_seconds": 0.0,
    }
    model = HashedLinearModel(
        labels=model_labels,
        coef=sparse,
        intercept=intercept.astype(np.float32),
        vectorizer=hashed_features.params,
        info=info,
    )
    info["train_seconds"] = round(time.perf_counter() - started, 2)
    return StaticHead(model, coef[:, len(used) :] * np.float32(chosen), chosen)


# --- bundles -----------------------------------------------------------------------------


def save(
    head: StaticHead,
    path: Path | str,
    *,
    task: str,
    static: Mapping[str, Any],
    validation: dict[str, Any] | None = None,
    training_data: dict[str, Any] | None = None,
) -> Path:
    """Write a static head bundle; ``static`` is the embedder's ``describe()``."""
    return bundle.save(
        head.hashed,
        path,
        task=task,
        validation=validation,
        training_data=training_data,
        fmt=FORMAT,
        arrays={"dense": head.dense.astype(np.float32)},
        extra={"tier": TIER, "static": {**dict(static), "scale": head.scale}},
    )


def read_meta(path: Path | str) -> dict[str, Any]:
    return bundle.read_meta(path, FORMAT)


def load(path: Path | str) -> tuple[StaticHead, dict[str, Any]]:
    """The static head saved at ``path`` and its ``model.json``."""
    path = Path(path)
    model, meta = bundle.load(path, formats=FORMAT, arrays=("dense",))
    dense = np.asarray(meta.pop("arrays")["dense"], dtype=np.float32)
    static: dict[str, Any] = meta.get("static") or {}
    rows = model.coef.shape[0]
    if dense.ndim != 2 or dense.shape[0] != rows or dense.shape[1] != static.get("dim"):
        raise bundle.BundleError(
            f"{path}: dense weights {dense.shape} do not match {rows} rows x "
            f"{static.get('dim')!r} static dimensions"
        )
    return StaticHead(model, dense, float(static.get("scale", 1.0))), meta


def check_static(meta: Mapping[str, Any], embedder: StaticEmbedder, where: Path | str) -> None:
    """Refuse a head trained with another static model than ``embedder``'s."""
    trained_with = meta.get("static") or {}
    here = embedder.describe()
    for key in CHECKED:
        if trained_with.get(key) != here[key]:
            raise bundle.BundleError(
                f"{where}: trained with static model {key}={trained_with.get(key)!r}, but "
                f"the static model in {here['path']} has {here[key]!r}; retrain the head "
                "(`fairdesk triage train --tier static`) or restore that static model"
            )


def ranked_by_task(directory: Path | str) -> dict[str, list[bundle.BundleInfo]]:
    """Static head bundles in ``<directory>/static``, per task, best first."""
    return bundle.ranked_by_task(static_dir(directory), FORMAT)


# --- training and evaluation from datasets -----------------------------------------------


def train_bundle(
    task: str,
    train: Dataset,
    out: Path | str,
    *,
    embedder: StaticEmbedder,
    validation: Dataset | None = None,
    scale: float | None = None,
    licence: str = "",
) -> dict[str, Any]:
    """Train a static head on ``train``, score it on ``validation`` (or a 10% carve-out, as
    ``training.train_bundle`` does) and save it at ``out``."""
    from fairdesk.triage.training import score_and_save, split

    if validation is None:
        train, validation = split(train)
    head = train_head(task, train.texts, train.labels, embedder, scale=scale)
    result = score_and_save(
        task,
        train,
        validation,
        lambda texts: head.predict(texts, embedder),
        functools.partial(save, head, out, task=task, static=embedder.describe()),
        licence=licence,
    )
    return {
        "task": task,
        "tier": TIER,
        "bundle": str(out),
        "train_examples": len(train),
        "train_seconds": head.hashed.info["train_seconds"],
        "scale": head.scale,
        "training": head.hashed.info["training"],
        "nb_weighting": head.hashed.info["nb_weighting"],
        "decision_bias": head.hashed.info["decision_bias"],
        "validation": result,
    }


def train_cli(
    task: str, train: Dataset, out: Path, validation: Dataset | None, data_dir: Path
) -> dict[str, Any]:
    """``triage train --tier static``: with the static model in ``DATA_DIR/triage/static``."""
    from fairdesk.triage.training import LICENCE_NOTE

    embedder = StaticEmbedder(static_dir(data_dir / "triage"))
    return train_bundle(
        task, train, out, embedder=embedder, validation=validation, licence=LICENCE_NOTE
    )


def embedder_for(bundle_dir: Path | str, meta: Mapping[str, Any]) -> StaticEmbedder:
    """The static model beside a head (its parent folder, where ``train`` puts heads), else
    the one it was trained with (``model.json``)."""
    from fairdesk.triage import static

    beside = Path(bundle_dir).resolve().parent
    if static.available(beside):
        return StaticEmbedder(beside)
    recorded = (meta.get("static") or {}).get("path")
    if isinstance(recorded, str) and static.available(recorded):
        return StaticEmbedder(recorded)
    raise StaticUnavailable(
        f"{bundle_dir}: no static model beside it or at {recorded!r}; "
        "run `fairdesk triage distill` first"
    )


def predict(
    bundle_dir: Path | str, texts: Sequence[str], *, embedder: StaticEmbedder | None = None
) -> tuple[list[str], dict[str, Any]]:
    """The labels a static bundle predicts for ``texts`` and its ``model.json``; the static
    model is ``embedder``, else :func:`embedder_for`. Refused (``BundleError``) if that is
    not the static model the head was trained with."""
    head, meta = load(bundle_dir)
    embedder = embedder or embedder_for(bundle_dir, meta)
    check_static(meta, embedder, bundle_dir)
    return head.predict(texts, embedder), meta


# --- in the pipeline ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaticPart:
    """What the pipeline's trained heads add for the tasks static heads own: the embedder
    and, per task, the dense weights (already scaled)."""

    embedder: StaticEmbedder
    dense: Mapping[str, np.ndarray]


def better_than_plain(
    directory: Path | str, plain: Mapping[str, bundle.BundleInfo], tasks: Sequence[str]
) -> dict[str, list[bundle.BundleInfo]]:
    """Per task of ``tasks``, the static bundles (best first) whose stored validation score
    beats the plain bundle's (``plain``), or all of them where there is none. Reads only
    ``model.json`` files."""
    chosen = {}
    for task, infos in ranked_by_task(directory).items():
        if task not in tasks:
            continue
        bar = plain[task].score if task in plain else None
        better = [i for i in infos if i.score is not None and (bar is None or i.score > bar)]
        if better:
            chosen[task] = better
    return chosen


def upgrade(
    directory: Path | str,
    models: dict[str, HashedLinearModel],
    infos: dict[str, bundle.BundleInfo],
    tasks: Sequence[str],
    check_labels: Callable[[str, Sequence[str]], object] | None = None,
) -> StaticPart | None:
    """Replace, in ``models``/``infos`` (the plain heads, per task), each task's head by a
    static head where one beats it (see :func:`better_than_plain`) and loads with the
    static model in ``<directory>/static``; the static part to score them with, or None
    (nothing replaced: no such bundle, or no usable static model, with a warning)."""
    chosen = better_than_plain(directory, infos, tasks)
    if not chosen:
        return None
    try:
        embedder = StaticEmbedder(static_dir(directory))
    except StaticUnavailable as exc:
        logger.warning("static triage heads found but not used: %s", exc)
        return None
    dense: dict[str, np.ndarray] = {}
    for task, ranked in sorted(chosen.items()):
        for info in ranked:
            try:
                head, meta = load(info.path)
                check_static(meta, embedder, info.path)
                if check_labels is not None:
                    check_labels(task, head.labels)
            except (bundle.BundleError, OSError, ValueError, KeyError) as exc:
                logger.warning("not using static triage bundle %s: %s", info.path, exc)
                continue
            models[task] = head.hashed
            infos[task] = info
            dense[task] = head.dense
            break
    return StaticPart(embedder, dense) if dense else None


def planned(directory: Path | str, plain: Mapping[str, bundle.BundleInfo]) -> dict[str, Any]:
    """What :func:`upgrade` would use, from ``model.json`` files alone: ``plain`` with the
    static bundle in place where one beats it and a static model is there (for /healthz)."""
    from fairdesk.triage import static
    from fairdesk.triage.trained import TASK_LABELS

    if not static.available(static_dir(directory)):
        return dict(plain)
    chosen = better_than_plain(directory, plain, tuple(TASK_LABELS))
    return {**plain, **{task: infos[0] for task, infos in chosen.items()}}
