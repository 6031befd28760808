"""Scores exactly as each dataset's literature computes them (pure Python + scikit-learn).

TweetEval (``cardiffnlp/tweeteval``, ``evaluaton_script.py``) builds
``sklearn.metrics.classification_report(gold, pred, output_dict=True)`` over the label
*strings* and reads one number from it:

- sentiment: ``macro avg`` recall;
- irony: the F1 of class ``"1"`` (irony);
- stance: the mean of the F1 of ``"1"`` (against) and ``"2"`` (favor);
- emoji, emotion, hate, offensive: ``macro avg`` F1.

The macro averages run over every label seen in gold *or* predictions, and a class that is
never predicted (or never gold) scores 0 for the undefined ratio, as scikit-learn's default
does. Banking77 (Casanueva et al. 2020) reports accuracy.

The other shared sets: iSarcasmEval task A (Abu Farha et al. 2022) ranks by F1-sarcastic,
the F1 of class ``"1"`` (computed as irony's); complaints (Preoţiuc-Pietro et al. 2019)
report macro-F1 and accuracy over 10-fold cross-validation (``evaluate.cross_validate``
reports both); the airline tweets are scored as TweetEval sentiment (macro-recall).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.metrics import accuracy_score, classification_report

MACRO_RECALL = "macro_recall"
MACRO_F1 = "macro_f1"
IRONY_F1 = "f1_irony"
SARCASTIC_F1 = "f1_sarcastic"
STANCE_F1 = "f1_favor_against"
ACCURACY = "accuracy"

METRICS: dict[str, str] = {
    "sentiment": MACRO_RECALL,
    "irony": IRONY_F1,
    "stance": STANCE_F1,
    "emoji": MACRO_F1,
    "emotion": MACRO_F1,
    "hate": MACRO_F1,
    "offensive": MACRO_F1,
    "banking77": ACCURACY,
    "sarcasm": SARCASTIC_F1,
    "complaint": MACRO_F1,
}
# Tasks whose literature reports accuracy beside the main metric.
ALSO_ACCURACY: frozenset[str] = frozenset({"complaint"})


@dataclass(frozen=True, slots=True)
class Score:
    task: str
    metric: str
    score_percent: float
    n: int
    accuracy_percent: float | None = None

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "task": self.task,
            "metric": self.metric,
            "score": round(self.score_percent, 2),
            "n": self.n,
        }
        if self.accuracy_percent is not None:
            result["accuracy"] = round(self.accuracy_percent, 2)
        return result


def metric_for(task: str) -> str:
    """The metric of a known task; other (custom CSV) tasks are scored with macro-F1."""
    return METRICS.get(task, MACRO_F1)


def _class_f1(report: dict[str, Any], label: str, task: str) -> float:
    if label not in report:
        raise ValueError(
            f"task {task!r}: label {label!r} occurs in neither the gold labels nor the "
            "predictions, so its F1 is undefined"
        )
    return float(report[label]["f1-score"])


def accuracy_percent(gold: Sequence[Any], predicted: Sequence[Any]) -> float:
    """Accuracy in percent over label strings (reported beside complaints' macro-F1)."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    gold_s = [str(label).strip() for label in gold]
    pred_s = [str(label).strip() for label in predicted]
    return 100.0 * float(accuracy_score(gold_s, pred_s))


def score(task: str, gold: Sequence[Any], predicted: Sequence[Any]) -> Score:
    """Score ``predicted`` against ``gold`` (same order) with the task's metric."""
    if len(gold) != len(predicted):
        raise ValueError(
            f"task {task!r}: {len(gold)} gold labels but {len(predicted)} predictions; "
            "they must pair up one to one, in the same order"
        )
    if not gold:
        raise ValueError(f"task {task!r}: nothing to score (no gold labels)")
    gold_s = [str(label).strip() for label in gold]
    pred_s = [str(label).strip() for label in predicted]
    metric = metric_for(task)
    if metric == ACCURACY:
        value = float(accuracy_score(gold_s, pred_s))
    else:
        report: dict[str, Any] = classification_report(
            gold_s, pred_s, output_dict=True, zero_division=0
        )
        if metric == MACRO_RECALL:
            value = float(report["macro avg"]["recall"])
        elif metric in (IRONY_F1, SARCASTIC_F1):
            value = _class_f1(report, "1", task)
        elif metric == STANCE_F1:
            value = (_class_f1(report, "1", task) + _class_f1(report, "2", task)) / 2
        else:
            value = float(report["macro avg"]["f1-score"])
    accuracy = None
    if task in ALSO_ACCURACY and metric != ACCURACY:
        accuracy = 100.0 * float(accuracy_score(gold_s, pred_s))
    return Score(
        task=task,
        metric=metric,
        score_percent=100.0 * value,
        n=len(gold_s),
        accuracy_percent=accuracy,
    )
