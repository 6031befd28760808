"""The deep tier's trained heads: a linear classifier per task over MiniLM embeddings.

A head is a class-balanced logistic regression on the encoder's 384-d L2-normalised
embeddings (``C`` chosen on a carve-out of the training rows, by the task's own metric,
then refitted on all of them). It is saved as a bundle like the fast tier's (``model.json``
+ ``weights.npz``, no pickle) with ``"tier": "deep"`` and the encoder it was trained on:
its folder, max length and the sha256 of its weights file. A head is used only with
exactly those weights.

Encoding is the slow part on a CPU (``docs/TRIAGE.md``), so a dataset's embeddings are
cached in ``DATA_DIR/triage/embeddings``, keyed by the sha256 of the texts (for a whole file,
a function of the file's content) and the encoder, and training several heads, or again,
does not encode again.

In the pipeline (``with_deep_heads``) a deep head takes over a task of the fast tier only
when the extra is installed, its bundle loads, and its stored validation score beats the
fast bundle's (or there is no fast bundle for that task); only the fields the trained heads
fill (sentiment, offensive, irony, hate, emotion, support_intent) are ever replaced, never
severity, signals, topic or routing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from fairdesk.triage import bundle, deep, metrics
from fairdesk.triage.datasets import Dataset
from fairdesk.triage.trained import (
    TASK_LABELS,
    TrainedHeads,
    _names,
    describe_bundles,
    head_fields,
)

logger = logging.getLogger(__name__)

FORMAT = "fairdesk-triage-deep/1"
TIER = "deep"
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
MODEL_FILE = bundle.MODEL_FILE
WEIGHTS_FILE = bundle.WEIGHTS_FILE
UNFINISHED = (".partial", ".old")


# --- embeddings, cached per dataset ----------------------------------------------------


def texts_key(texts: Sequence[str], encoder: Mapping[str, Any]) -> str:
    """Cache key: sha256 of the texts (NUL-joined) and of the encoder's weights, max length."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(deep.safe_text(text, 1 << 30).encode("utf-8"))
        digest.update(b"\0")
    sha = str(encoder["weights_sha256"])
    key = f"{digest.hexdigest()[:24]}-{sha[:12]}-{encoder['max_length']}"
    dtype = encoder.get("dtype", "float32")
    return key if dtype == "float32" else f"{key}-{dtype}"  # float32 keys as before


def embed_cached(
    encoder: deep.DeepEncoder, texts: Sequence[str], cache_dir: Path | str | None
) -> np.ndarray:
    """``encoder.encode(texts)``, read from / written to ``cache_dir`` (None: no cache)."""
    if cache_dir is None:
        return encoder.encode(texts)
    path = Path(cache_dir) / f"{texts_key(texts, encoder.describe())}.npy"
    if path.is_file():
        cached = np.load(path, allow_pickle=False)
        if cached.shape == (len(texts), encoder.dim):
            return np.asarray(cached, dtype=np.float32)
    vectors = encoder.encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, vectors, allow_pickle=False)
    partial.replace(path)  # a killed run leaves no half-written cache entry
    return vectors


# --- a head ----------------------------------------------------------------------------


@dataclass
class DeepHead:
    """A linear classifier over sentence embeddings; one weight row when two labels."""

    labels: list[str]
    weight: np.ndarray  # (rows, dim) float32
    bias: np.ndarray  # (rows,) float32
    info: dict[str, Any] = field(default_factory=dict)

    def decision(self, embeddings: np.ndarray) -> np.ndarray:
        return np.asarray(embeddings, dtype=np.float32) @ self.weight.T + self.bias

    def labels_of(self, scores: np.ndarray) -> list[str]:
        two = scores.shape[1] == 1
        index = (scores[:, 0] > 0).astype(int) if two else scores.argmax(axis=1)
        return [self.labels[i] for i in index]

    def predict_embedded(self, embeddings: np.ndarray) -> list[str]:
        return self.labels_of(self.decision(embeddings)) if len(embeddings) else []


def _fit(x: np.ndarray, labels: Sequence[str], c: float) -> LogisticRegression:
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, tol=1e-4)
    # One BLAS thread: on a small dense problem beside torch's thread pool, more threads
    # only contend (about 9x slower on the 2-vCPU machine of docs/TRIAGE.md).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, list(labels))
    return clf


def choose_c(task: str, x: np.ndarray, labels: Sequence[str], seed: int = 0) -> dict[str, float]:
    """Each ``C`` of :data:`C_GRID` scored (task metric) on a 10% carve-out of the training
    rows, so the validation split is never used to pick it."""
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    cut = max(1, len(order) // 10)
    held, kept = np.asarray(order[:cut]), np.asarray(order[cut:])
    fit_labels = [labels[i] for i in kept]
    if len(set(fit_labels)) < 2:
        return {str(C_GRID[1]): 0.0}
    scores = {}
    for c in C_GRID:
        predicted = [str(p) for p in _fit(x[kept], fit_labels, c).predict(x[held])]
        gold = [labels[i] for i in held]
        scores[str(c)] = metrics.score(task, gold, predicted).score_percent
    return scores


def train_head(
    task: str, x: np.ndarray, labels: Sequence[str], *, c: float | None = None
) -> DeepHead:
    """Fit a head on embeddings ``x`` (rows) and ``labels`` (at least two distinct)."""
    if len(x) != len(labels):
        raise ValueError(f"{len(x)} embeddings but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise ValueError("training needs at least two distinct labels")
    started = time.perf_counter()
    grid = choose_c(task, x, labels) if c is None else {str(c): None}
    best = float(max(grid, key=lambda k: grid[k] or 0.0)) if c is None else c
    clf = _fit(x, labels, best)
    return DeepHead(
        labels=[str(label) for label in clf.classes_],
        weight=np.asarray(clf.coef_, dtype=np.float32),
        bias=np.asarray(clf.intercept_, dtype=np.float32),
        info={
            "classifier": "LogisticRegression",
            "C": best,
            "C_grid": grid,
            "class_weight": "balanced",
            "train_examples": len(labels),
            "fit_seconds": round(time.perf_counter() - started, 2),
        },
    )


# --- bundles ---------------------------------------------------------------------------


def save(
    head: DeepHead,
    path: Path | str,
    *,
    task: str,
    encoder: Mapping[str, Any],
    validation: dict[str, Any] | None = None,
    training_data: dict[str, Any] | None = None,
) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path / WEIGHTS_FILE,
        weight=head.weight.astype(np.float32),
        bias=head.bias.astype(np.float32),
    )
    meta = {
        "format": FORMAT,
        "tier": TIER,
        "task": task,
        "labels": list(head.labels),
        "encoder": dict(encoder),
        "training": head.info,
        "validation": validation,
        "training_data": training_data,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (path / MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def read_meta(path: Path | str) -> dict[str, Any]:
    return bundle.read_meta(path, fmt=FORMAT)


def load(path: Path | str) -> tuple[DeepHead, dict[str, Any]]:
    """The head saved at ``path`` and its ``model.json`` (weights read without pickle)."""
    path = Path(path)
    meta = read_meta(path)
    try:
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as w:
            weight = np.asarray(w["weight"], dtype=np.float32)
            bias = np.asarray(w["bias"], dtype=np.float32)
    except FileNotFoundError:
        raise bundle.BundleError(f"{path}: no {WEIGHTS_FILE}") from None
    labels = [str(label) for label in meta["labels"]]
    rows = 1 if len(labels) == 2 else len(labels)
    encoder: dict[str, Any] = meta.get("encoder") or {}
    dim = int(encoder["dim"]) if "dim" in encoder else int(weight.shape[-1])
    if weight.shape != (rows, dim) or bias.shape != (rows,):
        raise bundle.BundleError(f"{path}: weights do not match {len(labels)} labels x {dim}")
    return DeepHead(labels, weight, bias, dict(meta.get("training") or {})), meta


def ranked_by_task(directory: Path | str) -> dict[str, list[bundle.BundleInfo]]:
    """Deep bundles among the subdirectories of ``directory``, per task, best first (as
    the fast tier ranks: validation score, then newest, then name)."""
    directory = Path(directory)
    ranked: dict[str, list[bundle.BundleInfo]] = {}
    if not directory.is_dir():
        return ranked
    for path in sorted(directory.iterdir()):
        if path.name.endswith(UNFINISHED) or not (path / MODEL_FILE).is_file():
            continue  # a folder being written (or replaced) by `triage finetune`
        try:
            meta = read_meta(path)
        except bundle.BundleError as exc:
            logger.warning("skipping deep triage bundle %s: %s", path, exc)
            continue
        score = (meta.get("validation") or {}).get("score")
        if not isinstance(meta.get("task"), str) or not (path / WEIGHTS_FILE).is_file():
            logger.warning("skipping deep triage bundle %s: no %s or no task", path, WEIGHTS_FILE)
            continue
        info = bundle.BundleInfo(
            path=path,
            task=meta["task"],
            trained_at=str(meta.get("trained_at") or ""),
            score=float(score) if isinstance(score, int | float) else None,
        )
        ranked.setdefault(info.task, []).append(info)
    return {
        task: sorted(infos, key=lambda i: (_score(i), i.trained_at, i.path.name), reverse=True)
        for task, infos in ranked.items()
    }


def _score(info: bundle.BundleInfo) -> float:
    return info.score if info.score is not None else -1.0


# --- training and evaluation from datasets ---------------------------------------------


def subsample(data: Dataset, max_rows: int | None, seed: int = 0) -> Dataset:
    """At most ``max_rows`` rows of ``data``, a reproducible random sample in file order."""
    if max_rows is None or len(data) <= max_rows:
        return data
    if max_rows < 2:
        raise ValueError(f"--max-rows must be at least 2, not {max_rows}")
    rows = sorted(random.Random(seed).sample(range(len(data)), max_rows))
    return Dataset(
        texts=[data.texts[i] for i in rows],
        labels=[data.labels[i] for i in rows],
        source=f"{data.source} ({max_rows} of {len(data)} rows, seed {seed})",
    )


def train_bundle(
    task: str,
    train: Dataset,
    out: Path | str,
    *,
    encoder: deep.DeepEncoder,
    validation: Dataset | None = None,
    cache_dir: Path | str | None = None,
    max_rows: int | None = None,
    licence: str = "",
) -> dict[str, Any]:
    """Encode (cached), train a head, score it on ``validation`` (or a 10% carve-out, as
    the fast tier does) and save a deep bundle at ``out``."""
    from fairdesk.triage.training import score_and_save, split

    if validation is None:
        train, validation = split(train)
    train = subsample(train, max_rows)
    started = time.perf_counter()
    x = embed_cached(encoder, train.texts, cache_dir)
    encode_seconds = time.perf_counter() - started
    head = train_head(task, x, train.labels)
    result = score_and_save(
        task,
        train,
        validation,
        lambda texts: head.predict_embedded(embed_cached(encoder, texts, cache_dir)),
        functools.partial(save, head, out, task=task, encoder=encoder.describe()),
        licence=licence,
        timing="seconds",
    )
    return {
        "task": task,
        "tier": TIER,
        "bundle": str(out),
        "train_examples": len(train),
        "train_seconds": round(encode_seconds + head.info["fit_seconds"], 2),
        "encode_seconds": round(encode_seconds, 2),
        "device": encoder.device_name,
        "validation": result,
    }


def check_encoder(meta: Mapping[str, Any], encoder: deep.DeepEncoder, where: Path | str) -> None:
    """Refuse a head trained on other weights (or another max length) than ``encoder``'s."""
    trained_on = meta.get("encoder") or {}
    here = encoder.describe()
    for key in ("weights_sha256", "max_length", "dim"):
        if trained_on.get(key) != here[key]:
            raise bundle.BundleError(
                f"{where}: trained with encoder {key}={trained_on.get(key)!r}, "
                f"but the encoder here has {here[key]!r} ({here['path']})"
            )


def encoder_for(meta: Mapping[str, Any], bundle_dir: Path | str) -> Path | None:
    """The folder of the encoder a head was trained on, where it still is: the path in its
    ``model.json``, else a folder of that name under ``encoders/`` beside the bundle (a data
    directory moved elsewhere). None: the default encoder (packaged, or
    ``$FAIRDESK_DEEP_MODEL_DIR``); :func:`check_encoder` still refuses other weights."""
    recorded = (meta.get("encoder") or {}).get("path")
    if not isinstance(recorded, str) or not recorded:
        return None
    from fairdesk.triage.finetune import ENCODERS_DIR

    for folder in (Path(recorded), Path(bundle_dir).parent / ENCODERS_DIR / Path(recorded).name):
        if all((folder / name).is_file() for name in deep.REQUIRED_FILES):
            return folder
    return None


def predict(
    task: str,
    bundle_dir: Path | str,
    texts: Sequence[str],
    *,
    encoder: deep.DeepEncoder | None = None,
    cache_dir: Path | str | None = None,
) -> list[str]:
    """The labels a deep bundle predicts for ``texts`` (for ``triage eval --tier deep``)."""
    head, meta = load(bundle_dir)
    if meta.get("task") not in (None, task):
        raise ValueError(f"{bundle_dir} was trained for task {meta['task']!r}, not {task!r}")
    if encoder is None:
        encoder = encoder_of(meta, bundle_dir)
    check_encoder(meta, encoder, bundle_dir)
    return head.predict_embedded(embed_cached(encoder, texts, cache_dir))


def encoder_of(
    meta: Mapping[str, Any],
    bundle_dir: Path | str,
    *,
    batch_size: int = deep.DEFAULT_BATCH_SIZE,
    dtype: str | None = None,
) -> deep.DeepEncoder:
    """The encoder a head was trained on (its folder by :func:`encoder_for`, its length)."""
    trained_with: dict[str, Any] = dict(meta.get("encoder") or {})
    return deep.DeepEncoder(
        encoder_for(meta, bundle_dir),
        max_length=int(trained_with.get("max_length", deep.DEFAULT_MAX_LENGTH)),
        batch_size=batch_size,
        dtype=dtype,
    )


# --- in the pipeline -------------------------------------------------------------------


def deep_dir(bundles_dir: Path | str) -> Path:
    """Where deep bundles live: ``<bundles_dir>/deep/<task>``."""
    return Path(bundles_dir) / TIER


def better_than_fast(
    directory: Path | str, fast: Mapping[str, bundle.BundleInfo]
) -> dict[str, list[bundle.BundleInfo]]:
    """Per known task, the deep bundles (best first) whose stored validation score beats
    the fast bundle of that task (``fast``), or all of them when it has none. Reads only
    ``model.json`` files."""
    chosen = {}
    for task, infos in deep_ranked(directory).items():
        bar = fast[task].score if task in fast else None
        better = [i for i in infos if i.score is not None and (bar is None or i.score > bar)]
        if better:
            chosen[task] = better
    return chosen


def deep_ranked(directory: Path | str) -> dict[str, list[bundle.BundleInfo]]:
    return {t: i for t, i in ranked_by_task(deep_dir(directory)).items() if t in TASK_LABELS}


class TieredHeads(TrainedHeads):
    """The fast tier's trained heads, with deep heads in their place for some tasks.

    ``columns`` (and so ``outputs``) runs the fast heads (if any), encodes the batch once,
    and replaces the fields of the tasks the deep heads own; every other field stays as the
    fast tier set it.
    """

    def __init__(
        self,
        fast: TrainedHeads | None,
        encoder: deep.DeepEncoder,
        heads: Mapping[str, DeepHead],
        infos: Sequence[bundle.BundleInfo],
    ) -> None:
        super().__init__({}, infos)
        self._fast = fast
        self.encoder = encoder
        self._deep = dict(heads)
        self._deep_names = {
            task: dict(zip(head.labels, _names(task, head.labels), strict=True))
            for task, head in heads.items()
        }
        self._fast_infos = [i for i in (fast.infos if fast else ()) if i.task not in heads]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(sorted({*(self._fast.tasks if self._fast else ()), *self._deep}))

    @property
    def deep_tasks(self) -> tuple[str, ...]:
        return tuple(sorted(self._deep))

    def describe(self) -> dict[str, Any]:
        return describe_tiers(self._fast_infos, self.infos)

    def columns(self, texts: Sequence[str]) -> dict[str, list[Any]]:
        columns = self._fast.columns(texts) if self._fast else {}
        embeddings = self.encoder.encode(texts)
        for task, head in self._deep.items():
            scores = head.decision(embeddings)
            columns.update(
                head_fields(task, head.labels_of(scores), scores, self._deep_names[task])
            )
        return columns


def describe_tiers(
    fast: Sequence[bundle.BundleInfo], deep_infos: Sequence[bundle.BundleInfo]
) -> dict[str, Any]:
    """``/healthz``: the heads, and each bundle in use with its tier."""
    described = describe_bundles([*fast, *deep_infos])
    tiers = {info.task: "static" if info.path.parent.name == "static" else "fast" for info in fast}
    tiers.update({info.task: TIER for info in deep_infos})
    for entry in described["bundles"]:
        entry["tier"] = tiers.get(entry["task"], "fast")
    return described


def plan(
    directory: Path | str, fast: Mapping[str, bundle.BundleInfo]
) -> tuple[Path | None, dict[str, list[bundle.BundleInfo]]]:
    """Which encoder the pipeline runs, and the deep bundles (best first, per task) trained
    on it that beat the fast tier. One encoder only: a text is encoded once for all heads.
    Bundles are grouped by the weights they were trained on (packaged, or tuned by
    ``triage finetune``), and the group that adds most over the fast tier wins: the sum,
    over its tasks, of its best score minus the fast bundle's (or minus 0 where there is
    none); ties go to the most tasks, then to the weights' sha256. Reads only ``model.json``
    files."""
    groups: dict[str, tuple[Path | None, dict[str, list[bundle.BundleInfo]]]] = {}
    for task, infos in better_than_fast(directory, fast).items():
        for info in infos:
            try:
                meta = read_meta(info.path)
            except bundle.BundleError:
                continue
            sha = str((meta.get("encoder") or {}).get("weights_sha256") or "")
            folder = encoder_for(meta, info.path)
            entry = groups.setdefault(sha, (folder, {}))
            entry[1].setdefault(task, []).append(info)

    def gain(sha: str) -> tuple[float, int, str]:
        tasks = groups[sha][1]
        added = sum(_score(infos[0]) - _bar(fast, task) for task, infos in tasks.items())
        return (added, len(tasks), sha)

    if not groups:
        return None, {}
    return groups[max(groups, key=gain)]


def _bar(fast: Mapping[str, bundle.BundleInfo], task: str) -> float:
    """The fast bundle's score a deep head must beat (0 where there is none)."""
    score = fast[task].score if task in fast else None
    return score if score is not None else 0.0


def with_deep_heads(
    fast: TrainedHeads | None,
    directory: Path | str,
    *,
    make_encoder: Callable[[Path | None], deep.DeepEncoder] = deep.pipeline_encoder,
) -> TrainedHeads | None:
    """``fast`` with deep heads for the tasks where a deep bundle beats it, on the one
    encoder :func:`plan` picks; ``fast`` unchanged when there is none, or the deep tier
    cannot load here (a warning says why). torch is imported only when there is one."""
    folder, chosen = plan(directory, {i.task: i for i in (fast.infos if fast else ())})
    if not chosen:
        return fast
    try:
        encoder = make_encoder(folder)
    except (deep.DeepUnavailable, ValueError) as exc:
        logger.warning("deep triage bundles found but not used: %s", exc)
        return fast
    heads: dict[str, DeepHead] = {}
    infos = []
    for task, ranked in sorted(chosen.items()):
        for info in ranked:
            try:
                head, meta = load(info.path)
                check_encoder(meta, encoder, info.path)
                _names(task, head.labels)
            except (bundle.BundleError, OSError, ValueError, KeyError) as exc:
                logger.warning("not using deep triage bundle %s: %s", info.path, exc)
                continue
            heads[task] = head
            infos.append(info)
            break
    return TieredHeads(fast, encoder, heads, infos) if heads else fast


def planned_tiers(directory: Path | str, fast: Mapping[str, bundle.BundleInfo]) -> dict[str, Any]:
    """What :func:`with_deep_heads` would use, from ``model.json`` files alone (no torch,
    no weights): for ``/healthz`` in the web process. Static heads that beat a fast
    bundle (``static_heads.planned``) count as that task's fast-tier bundle."""
    from fairdesk.triage.static_heads import planned

    fast = planned(directory, fast)
    folder, chosen = plan(directory, fast)
    if not deep.available(folder):
        chosen = {}
    deep_infos = [infos[0] for infos in chosen.values()]
    kept = [info for task, info in fast.items() if task not in chosen]
    return describe_tiers(kept, deep_infos)
