"""``triage eval``: score a bundle, a file of predictions or the rules on a labelled dataset;
``triage cv``: k-fold cross-validation where a set has no split (complaints)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fairdesk.triage import bundle, datasets, metrics
from fairdesk.triage.datasets import Dataset

# A bundle trained for the task on the right may be scored, zero-shot, on the task on the
# left: both are binary with "1" the positive class (TweetEval irony 1 = ironic,
# iSarcasmEval 1 = sarcastic).
ZERO_SHOT_BUNDLES: dict[str, tuple[str, ...]] = {"sarcasm": ("irony",)}

# Tasks the rules tier predicts with no training (``eval --rules``).
RULES_TASKS: tuple[str, ...] = ("sentiment", "complaint")
_SENTIMENT_IDS = {"negative": "0", "neutral": "1", "positive": "2"}  # TweetEval's ids

TIERS: tuple[str, ...] = ("fast", "deep", "static")


def _check_bundle_task(task: str, meta: dict[str, Any], where: Path | str) -> None:
    trained_for = meta.get("task")
    if trained_for in (None, task) or trained_for in ZERO_SHOT_BUNDLES.get(task, ()):
        return
    raise ValueError(f"{where} was trained for task {trained_for!r}, not {task!r}")


def rules_predict(task: str, texts: Sequence[str]) -> list[str]:
    """The rules tier's labels for ``task`` with no trained head: sentiment = VADER as
    TweetEval ids (negative 0, neutral 1, positive 2); complaint = "1" where the intent rule
    says ``complaint``, else "0"."""
    if task not in RULES_TASKS:
        raise ValueError(
            f"the rules have no head for task {task!r}; rules tasks: {', '.join(RULES_TASKS)}"
        )
    from fairdesk.triage.fast import FastTriage

    results = FastTriage().classify(list(texts))
    if task == "sentiment":
        return [_SENTIMENT_IDS[r.sentiment] for r in results]
    return ["1" if r.intent == "complaint" else "0" for r in results]


def _deep_predict(
    task: str,
    bundle_dir: Path | str,
    texts: Sequence[str],
    encoder: Any,
    cache_dir: Path | str | None,
) -> list[str]:
    from fairdesk.triage import deep_heads

    head, meta = deep_heads.load(bundle_dir)
    _check_bundle_task(task, meta, bundle_dir)
    if encoder is None:
        encoder = deep_heads.encoder_of(meta, bundle_dir)
    deep_heads.check_encoder(meta, encoder, bundle_dir)
    return head.predict_embedded(deep_heads.embed_cached(encoder, texts, cache_dir))


def evaluate(
    task: str,
    gold: Dataset,
    *,
    predictions: Path | str | None = None,
    bundle_dir: Path | str | None = None,
    rules: bool = False,
    tier: str = "fast",
    encoder: Any = None,
    cache_dir: Path | str | None = None,
) -> metrics.Score:
    """Score ``predictions`` (one label per line), the bundle's predictions or the rules'
    (``rules=True``) on ``gold``. A ``tier="deep"`` bundle is scored with ``encoder`` (a
    ``deep.DeepEncoder``; default: the packaged one), its embeddings cached in
    ``cache_dir``; a ``tier="static"`` bundle with the static model it was trained with
    (``static_heads.predict``). A bundle must have been trained for ``task``, or for a task
    :data:`ZERO_SHOT_BUNDLES` allows in its place."""
    if predictions is not None:
        predicted = datasets.read_labels(predictions)
        if len(predicted) != len(gold):
            raise ValueError(
                f"{predictions} has {len(predicted)} predictions but {gold.source} has "
                f"{len(gold)} gold labels; they must pair up line by line"
            )
    elif rules:
        predicted = rules_predict(task, gold.texts)
    elif bundle_dir is not None and tier == "deep":
        predicted = _deep_predict(task, bundle_dir, gold.texts, encoder, cache_dir)
    elif bundle_dir is not None and tier == "static":
        from fairdesk.triage import static_heads

        _check_bundle_task(task, static_heads.read_meta(bundle_dir), bundle_dir)
        predicted, _ = static_heads.predict(bundle_dir, gold.texts)
    elif bundle_dir is not None:
        model, meta = bundle.load(bundle_dir)
        _check_bundle_task(task, meta, bundle_dir)
        predicted = model.predict(gold.texts)
    else:
        raise ValueError("give a bundle directory, a predictions file or the rules")
    return metrics.score(task, gold.labels, predicted)


def folds_of(labels: Sequence[str], folds: int, seed: int = 0) -> list[list[int]]:
    """Stratified, shuffled (``seed``) k-fold test indices covering every row once."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, not {folds}")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ValueError("cross-validation needs at least two distinct labels")
    rarest, fewest = min(counts.items(), key=lambda item: item[1])
    if fewest < folds:
        raise ValueError(
            f"label {rarest!r} has {fewest} rows, fewer than the {folds} folds; "
            "every fold needs one of each label"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = list(range(len(labels)))
    return [sorted(int(i) for i in test) for _, test in splitter.split(rows, list(labels))]


def cross_validate(
    task: str,
    data: Dataset,
    *,
    folds: int = 10,
    tier: str = "fast",
    encoder: Any = None,
    cache_dir: Path | str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train on k-1 folds, predict the held-out one, for every fold (stratified, shuffled,
    ``seed``). Fast: a hashed head per fold (the defaults ``train`` uses). Deep: the texts
    are encoded once (cached) and a head fitted per fold, its ``C`` picked inside the
    training folds only. Reports the task's metric and accuracy as the mean (and standard
    deviation) over folds, and over the pooled out-of-fold predictions."""
    if tier not in ("fast", "deep"):
        raise ValueError(f"unknown tier {tier!r} for cross-validation; expected fast or deep")
    test_folds = folds_of(data.labels, folds, seed)
    predicted: list[str] = [""] * len(data)
    per_fold: list[dict[str, float]] = []
    embeddings = None
    if tier == "deep":
        from fairdesk.triage import deep, deep_heads

        encoder = encoder or deep.DeepEncoder()
        embeddings = deep_heads.embed_cached(encoder, data.texts, cache_dir)
    for held in test_folds:
        held_set = set(held)
        kept = [i for i in range(len(data)) if i not in held_set]
        train_labels = [data.labels[i] for i in kept]
        if embeddings is not None:
            from fairdesk.triage import deep_heads

            head = deep_heads.train_head(task, embeddings[kept], train_labels)
            fold_predicted = head.predict_embedded(embeddings[held])
        else:
            from fairdesk.triage import hashed

            model = hashed.train([data.texts[i] for i in kept], train_labels)
            fold_predicted = model.predict([data.texts[i] for i in held])
        gold = [data.labels[i] for i in held]
        for i, label in zip(held, fold_predicted, strict=True):
            predicted[i] = label
        per_fold.append(
            {
                "score": metrics.score(task, gold, fold_predicted).score_percent,
                "accuracy": metrics.accuracy_percent(gold, fold_predicted),
            }
        )
    pooled = metrics.score(task, data.labels, predicted)

    def summary(key: str) -> dict[str, float]:
        values = [fold[key] for fold in per_fold]
        return {
            "mean": round(statistics.fmean(values), 2),
            "sd": round(statistics.stdev(values), 2),
        }

    return {
        "task": task,
        "tier": tier,
        "metric": pooled.metric,
        "folds": folds,
        "seed": seed,
        "n": len(data),
        "score": summary("score"),
        "accuracy": summary("accuracy"),
        "pooled": {
            "score": round(pooled.score_percent, 2),
            "accuracy": round(metrics.accuracy_percent(data.labels, predicted), 2),
        },
        "source": data.source,
    }
