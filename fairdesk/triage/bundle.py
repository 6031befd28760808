"""A portable model bundle: a directory with ``model.json`` and ``weights.npz`` (no pickle).

``model.json`` holds the task, the labels (in weight-row order), the vectoriser parameters,
training information, the validation score and where the training data came from with its
licence note; ``weights.npz`` holds the float32 weights as CSR arrays plus the intercept.

Format 2 (written now) names the n-gram hash in the vectoriser parameters (``"hash":
"poly64"``, see ``hashed.py``). Format 1 bundles, trained before, hash with scikit-learn's
MurmurHash3 and still load and predict as before (``"hash": "murmur3"`` is filled in);
code that knows only format 1 refuses a format 2 bundle instead of scoring it with the
wrong columns. ``fairdesk triage train`` writes format 2.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from fairdesk.triage.hashed import HashedLinearModel

logger = logging.getLogger(__name__)

FORMAT = "fairdesk-triage-hashed/2"
FORMAT_V1 = "fairdesk-triage-hashed/1"  # MurmurHash3 columns; loads with "hash": "murmur3"
FORMATS = (FORMAT, FORMAT_V1)
HASH_OF_FORMAT = {FORMAT: "poly64", FORMAT_V1: "murmur3"}
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"


class BundleError(ValueError):
    """A bundle directory that is missing, incomplete or of an unknown format."""


def save(
    model: HashedLinearModel,
    path: Path | str,
    *,
    task: str,
    validation: dict[str, Any] | None = None,
    training_data: dict[str, Any] | None = None,
    fmt: str = FORMAT,
    arrays: dict[str, np.ndarray] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a bundle of format ``fmt``; ``arrays`` are saved beside the
    weights and ``extra`` in ``model.json`` (the static heads' dense part, see
    ``static_heads.py``)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    coef = model.coef.tocsr()
    saved: dict[str, Any] = {
        **(arrays or {}),
        "data": coef.data.astype(np.float32),
        "indices": coef.indices.astype(np.int32),
        "indptr": coef.indptr.astype(np.int64),
        "shape": np.asarray(coef.shape, dtype=np.int64),
        "intercept": model.intercept.astype(np.float32),
    }
    np.savez_compressed(path / WEIGHTS_FILE, **saved)
    meta = {
        "format": fmt,
        **(extra or {}),
        "task": task,
        "labels": list(model.labels),
        "vectorizer": model.vectorizer,
        "training": model.info,
        "validation": validation,
        "training_data": training_data,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (path / MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def read_meta(path: Path | str, fmt: str | tuple[str, ...] = FORMATS) -> dict[str, Any]:
    """``model.json`` of a bundle of format ``fmt``, or one of them (the deep tier passes
    its own)."""
    formats = (fmt,) if isinstance(fmt, str) else fmt
    path = Path(path)
    try:
        meta = json.loads((path / MODEL_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: no {MODEL_FILE}; train a bundle first") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path / MODEL_FILE}: not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") not in formats:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise BundleError(
            f"{path / MODEL_FILE}: not a {' or '.join(formats)} bundle (format {found!r}); "
            "retrain it with `fairdesk triage train`"
        )
    return meta


def load(
    path: Path | str, formats: str | tuple[str, ...] = FORMATS, arrays: tuple[str, ...] = ()
) -> tuple[HashedLinearModel, dict[str, Any]]:
    """Rebuild the predictor saved at ``path``; returns it with its ``model.json``. A bundle
    of another of ``formats`` than the hashed ones (the static heads') has its ``arrays``
    read into ``meta["arrays"]``."""
    path = Path(path)
    meta = read_meta(path, formats)
    try:
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as w:
            shape = tuple(int(n) for n in w["shape"])
            coef = sp.csr_matrix((w["data"], w["indices"], w["indptr"]), shape=shape)
            intercept = np.asarray(w["intercept"], dtype=np.float32)
            if arrays:
                meta["arrays"] = {name: np.asarray(w[name]) for name in arrays}
    except FileNotFoundError:
        raise BundleError(f"{path}: no {WEIGHTS_FILE}") from None
    except KeyError as exc:
        raise BundleError(f"{path / WEIGHTS_FILE}: no array {exc}") from None
    labels = [str(label) for label in meta["labels"]]
    vectorizer = dict(meta["vectorizer"])
    hashing = vectorizer.setdefault("hash", HASH_OF_FORMAT.get(meta["format"], "poly64"))
    if meta["format"] == FORMAT_V1 and hashing != "murmur3":
        raise BundleError(f"{path}: a {FORMAT_V1} bundle hashes with murmur3, not {hashing!r}")
    expected_rows = 1 if len(labels) == 2 else len(labels)
    if coef.shape[0] != expected_rows or intercept.shape != (expected_rows,):
        raise BundleError(f"{path}: weights do not match the {len(labels)} labels")
    try:
        model = HashedLinearModel(
            labels=labels,
            coef=coef,
            intercept=intercept,
            vectorizer=vectorizer,
            info=dict(meta.get("training") or {}),
        )
    except ValueError as exc:  # an unknown hash, say: refuse rather than guess
        raise BundleError(f"{path}: {exc}; retrain it with `fairdesk triage train`") from None
    if coef.shape[1] != model.features.n_features:
        raise BundleError(f"{path}: weights have {coef.shape[1]} columns, vectoriser differs")
    return model, meta


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """A bundle found in a directory, described by its ``model.json`` alone."""

    path: Path
    task: str
    trained_at: str
    score: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.path.name,
            "task": self.task,
            "trained_at": self.trained_at,
            "score": self.score,
        }


def _info(path: Path, formats: str | tuple[str, ...] = FORMATS) -> BundleInfo | None:
    try:
        meta = read_meta(path, formats)
    except BundleError as exc:
        logger.warning("skipping triage bundle %s: %s", path, exc)
        return None
    if not (path / WEIGHTS_FILE).is_file() or not isinstance(meta.get("task"), str):
        logger.warning("skipping triage bundle %s: no %s or no task", path, WEIGHTS_FILE)
        return None
    validation = meta.get("validation") or {}
    score = validation.get("score") if isinstance(validation, dict) else None
    # Bundles saved before trained_at was recorded: when model.json was last written.
    stamp = meta.get("trained_at") or datetime.fromtimestamp(
        (path / MODEL_FILE).stat().st_mtime, UTC
    ).isoformat(timespec="seconds")
    return BundleInfo(
        path=path,
        task=meta["task"],
        trained_at=str(stamp),
        score=float(score) if isinstance(score, int | float) else None,
    )


def ranked_by_task(
    directory: Path | str, formats: str | tuple[str, ...] = FORMATS
) -> dict[str, list[BundleInfo]]:
    """The bundles (of ``formats``) among the subdirectories of ``directory``, per task,
    best first: the highest validation score, then the most recently trained, then the
    name."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    ranked: dict[str, list[BundleInfo]] = {}
    for path in sorted(directory.iterdir()):
        info = _info(path, formats) if (path / MODEL_FILE).is_file() else None
        if info is not None:
            ranked.setdefault(info.task, []).append(info)
    return {task: sorted(infos, key=_rank, reverse=True) for task, infos in ranked.items()}


def best_by_task(directory: Path | str) -> dict[str, BundleInfo]:
    """The best bundle per task (see :func:`ranked_by_task`)."""
    return {task: infos[0] for task, infos in ranked_by_task(directory).items()}


def _rank(info: BundleInfo) -> tuple[float, str, str]:
    return (info.score if info.score is not None else -1.0, info.trained_at, info.path.name)
