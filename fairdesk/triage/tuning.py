"""Choices a head makes on its training rows only: k-fold cross-validation over a small
grid of training options, and per-class decision biases.

A head's choices (``C``, class weights, a static head's embedding scale) are each scored by
the task's own metric (``metrics.py``) on **out-of-fold** decision scores: the training rows
are cut into :data:`FOLDS` stratified, shuffled (seed 0) folds, a model is fitted on all
but one fold and scores the one left out, so every training row gets a score from a model
that never saw it. The validation split is never read here.

For tasks whose metric is an F1 (irony's F1 of class 1, macro-F1: offensive, hate,
emotion; not accuracy or sentiment's macro-recall) the decision rule is tuned too: an
additive bias per class on the decision scores, found by a coordinate search over
:data:`BIAS_GRID` on those out-of-fold scores. For two labels that is a threshold on the
score of class 1; for more, biases on the multinomial log-probabilities (a softmax is
unchanged by a shift common to every class, so the scores' biases are the log-probabilities'
). A bias moves a decision boundary the way the metric wants (F1 of a minority class
rewards recall) where class-balanced training aims at another target.

The chosen biases are added to the model's intercept, so a tuned bundle is an ordinary
bundle of its format (every loader, the shared stack and ``eval`` score it without
knowing), and ``model.json`` records them (``training.decision_bias``) with the
cross-validated scores they were chosen by.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fairdesk.triage import metrics

FOLDS = 5
# Rows the grid is cross-validated on (a seeded sample beyond that): every TweetEval task
# but sentiment (47,515 rows) fits whole.
SEARCH_ROWS = 12_000
BIAS_GRID: tuple[float, ...] = tuple(round(-2.0 + 0.05 * i, 2) for i in range(81))
BIAS_ROUNDS = 3
TUNED_METRICS = frozenset({metrics.IRONY_F1, metrics.SARCASTIC_F1, metrics.MACRO_F1})
MAX_TUNED_LABELS = 10  # a coordinate search per class: not for Banking77's 77 intents
SEED = 0

# fit(config, train rows) -> a function giving the decision scores of other rows
Scorer = Callable[[np.ndarray], np.ndarray]
Fit = Callable[[Mapping[str, Any], np.ndarray], Scorer]


def tunes_biases(task: str, n_labels: int) -> bool:
    """Whether a head of ``task`` with ``n_labels`` labels gets tuned decision biases."""
    return metrics.metric_for(task) in TUNED_METRICS and 2 <= n_labels <= MAX_TUNED_LABELS


def as_columns(scores: np.ndarray) -> np.ndarray:
    """Decision scores as (n, rows): a binary classifier's (n,) becomes (n, 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    return scores[:, None] if scores.ndim == 1 else scores


def labels_of(
    scores: np.ndarray, labels: Sequence[str], bias: np.ndarray | None = None
) -> list[str]:
    """The label of each row of decision ``scores`` (plus ``bias``), by the rule of
    ``HashedLinearModel.labels_of``: one column -> ``labels[1]`` where it is above 0."""
    if bias is not None:
        scores = scores + bias
    index = (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(axis=1)
    return [labels[i] for i in index]


def choose_biases(
    task: str, scores: np.ndarray, gold: Sequence[str], labels: Sequence[str]
) -> tuple[np.ndarray, float, float]:
    """Per-column biases that maximise the task's metric on (out-of-fold) ``scores``:
    (biases, score without, score with). Coordinate search: each column in turn takes the
    best value of :data:`BIAS_GRID` (the first such, so ties keep the smaller shift), for
    up to :data:`BIAS_ROUNDS` rounds; a column's bias stays 0 unless it strictly helps."""
    scores = as_columns(scores)
    bias = np.zeros(scores.shape[1])
    gold = list(gold)

    def metric(candidate: np.ndarray) -> float:
        return metrics.score(task, gold, labels_of(scores, labels, candidate)).score_percent

    before = best = metric(bias)
    for _ in range(1 if scores.shape[1] == 1 else BIAS_ROUNDS):
        improved = False
        for column in range(scores.shape[1]):
            for value in sorted(BIAS_GRID, key=abs):
                if value == bias[column]:
                    continue
                candidate = bias.copy()
                candidate[column] = value
                got = metric(candidate)
                if got > best + 1e-9:
                    best, bias, improved = got, candidate, True
        if not improved:
            break
    return bias, before, best


def search_rows(labels: Sequence[str], limit: int = SEARCH_ROWS, seed: int = SEED) -> np.ndarray:
    """The training rows the grid is cross-validated on: all, or a seeded sample of
    ``limit`` (in file order)."""
    if len(labels) <= limit:
        return np.arange(len(labels))
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    return np.asarray(sorted(order[:limit]))


def folds_of(labels: Sequence[str], folds: int = FOLDS, seed: int = SEED) -> list[np.ndarray]:
    """Held-out rows of each fold: stratified and shuffled (``seed``) where every label has
    ``folds`` rows, else a plain seeded shuffle cut in ``folds``."""
    counts = Counter(labels)
    if len(counts) >= 2 and min(counts.values()) >= folds:
        from fairdesk.triage.evaluate import folds_of as stratified

        return [np.asarray(held) for held in stratified(labels, folds, seed)]
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    return [np.asarray(sorted(order[k::folds])) for k in range(folds)]


def out_of_fold(
    fit: Callable[[Mapping[str, Any], np.ndarray], Scorer],
    config: Mapping[str, Any],
    labels: Sequence[str],
    folds: Sequence[np.ndarray],
) -> np.ndarray | None:
    """Decision scores of every row from a model fitted (``fit``) without its fold; None
    where a fold's training part has a single label."""
    scores: np.ndarray | None = None
    everything = np.arange(len(labels))
    for held in folds:
        kept = np.setdiff1d(everything, held)
        if len({labels[i] for i in kept}) < 2 or not len(held):
            return None
        got = as_columns(fit(config, kept)(held))
        if scores is None:
            scores = np.zeros((len(labels), got.shape[1]))
        scores[held] = got
    return scores


class Search:
    """Cross-validation of configurations on one training set: :meth:`run` scores a grid
    (each configuration once, however many grids name it) and keeps the best so far."""

    def __init__(
        self, task: str, fit: Fit, labels: Sequence[str], label_order: Sequence[str]
    ) -> None:
        self.task = task
        self.fit = fit
        self.label_order = list(label_order)
        self.rows = search_rows(labels)
        self.labels = [labels[i] for i in self.rows]
        self.folds = folds_of(self.labels)
        self.tuned = tunes_biases(task, len(self.label_order))
        self.results: dict[str, dict[str, Any]] = {}
        self.best: tuple[float, dict[str, Any], np.ndarray | None] | None = None

    def _fit_rows(self, config: Mapping[str, Any], kept: np.ndarray) -> Scorer:
        scorer = self.fit(config, self.rows[kept])
        return lambda held: scorer(self.rows[held])

    def run(self, grid: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """Score every configuration of ``grid`` (the task's metric on the out-of-fold
        scores, after choosing biases where the task has them); returns the best so far
        (the first to reach the highest score), None while no fold could be fitted."""
        for config in grid:
            key = repr(sorted(config.items()))
            if key in self.results:
                continue
            scores = out_of_fold(self._fit_rows, config, self.labels, self.folds)
            if scores is None:
                self.results[key] = {**config, "cv": None}
                continue
            bias: np.ndarray | None = None
            if self.tuned:
                bias, plain, score = choose_biases(self.task, scores, self.labels, self.label_order)
            else:
                predicted = labels_of(scores, self.label_order)
                score = plain = metrics.score(self.task, self.labels, predicted).score_percent
            self.results[key] = {**config, "cv": round(plain, 2)}
            if self.tuned:
                self.results[key]["cv_biased"] = round(score, 2)
            if self.best is None or score > self.best[0] + 1e-9:
                self.best = (score, dict(config), bias)
        return None if self.best is None else self.best[1]

    @property
    def bias(self) -> np.ndarray | None:
        return None if self.best is None else self.best[2]

    def record(self) -> dict[str, Any]:
        """What ``model.json`` keeps of the search."""
        return {
            "rows": len(self.rows),
            "folds": len(self.folds),
            "metric": metrics.metric_for(self.task),
            "grid": list(self.results.values()),
        }


def bias_record(bias: np.ndarray | None, labels: Sequence[str]) -> dict[str, float] | None:
    """The biases as ``model.json`` records them: per label (for two labels, the one of
    class ``labels[1]``: a threshold of minus that on its score)."""
    if bias is None:
        return None
    named = labels[1:] if len(bias) == 1 and len(labels) == 2 else labels
    return {str(label): round(float(b), 4) for label, b in zip(named, bias, strict=True)}
