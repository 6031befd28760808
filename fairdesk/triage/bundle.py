"""A portable model bundle: a directory with ``model.json`` and ``weights.npz`` (no pickle).

``model.json`` holds the task, the labels (in weight-row order), the vectoriser parameters,
training information, the validation score and where the training data came from with its
licence note; ``weights.npz`` holds the float32 weights as CSR arrays plus the intercept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from fairdesk.triage.hashed import HashedLinearModel

FORMAT = "fairdesk-triage-hashed/1"
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
) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    coef = model.coef.tocsr()
    np.savez_compressed(
        path / WEIGHTS_FILE,
        data=coef.data.astype(np.float32),
        indices=coef.indices.astype(np.int32),
        indptr=coef.indptr.astype(np.int64),
        shape=np.asarray(coef.shape, dtype=np.int64),
        intercept=model.intercept.astype(np.float32),
    )
    meta = {
        "format": FORMAT,
        "task": task,
        "labels": list(model.labels),
        "vectorizer": model.vectorizer,
        "training": model.info,
        "validation": validation,
        "training_data": training_data,
    }
    (path / MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def read_meta(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        meta = json.loads((path / MODEL_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: no {MODEL_FILE}; train a bundle first") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path / MODEL_FILE}: not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{path / MODEL_FILE}: not a {FORMAT} bundle")
    return meta


def load(path: Path | str) -> tuple[HashedLinearModel, dict[str, Any]]:
    """Rebuild the predictor saved at ``path``; returns it with its ``model.json``."""
    path = Path(path)
    meta = read_meta(path)
    try:
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as w:
            shape = tuple(int(n) for n in w["shape"])
            coef = sp.csr_matrix((w["data"], w["indices"], w["indptr"]), shape=shape)
            intercept = np.asarray(w["intercept"], dtype=np.float32)
    except FileNotFoundError:
        raise BundleError(f"{path}: no {WEIGHTS_FILE}") from None
    labels = [str(label) for label in meta["labels"]]
    expected_rows = 1 if len(labels) == 2 else len(labels)
    if coef.shape[0] != expected_rows or intercept.shape != (expected_rows,):
        raise BundleError(f"{path}: weights do not match the {len(labels)} labels")
    model = HashedLinearModel(
        labels=labels,
        coef=coef,
        intercept=intercept,
        vectorizer=dict(meta["vectorizer"]),
        info=dict(meta.get("training") or {}),
    )
    if coef.shape[1] != model.features.n_features:
        raise BundleError(f"{path}: weights have {coef.shape[1]} columns, vectoriser differs")
    return model, meta
