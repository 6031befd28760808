"""The trainable fast tier: hashed word + character n-grams and a linear classifier.

The n-grams are those of scikit-learn's stateless ``HashingVectorizer`` (word 1-2-grams,
``char_wb`` 2-5-grams), so the vectoriser is fully described by its parameters and a saved
model is just those parameters plus the weight matrix (see ``bundle.py``). The ``hash``
parameter says how an n-gram becomes a column:

- ``"poly64"`` (the default, bundle format 2): ``polyhash.py``, a polynomial hash over
  codepoints computed for a whole batch at once, about 1.4x quicker than murmur3;
- ``"murmur3"`` (bundle format 1): scikit-learn's own columns (MurmurHash3 of the UTF-8
  bytes), built bit for bit by ``ngrams.py``. Bundles of format 1 still load and predict
  as they did; ``HashedFeatures.reference`` builds these with scikit-learn, for the
  equivalence test and the benchmark's before/after figure.

Training and prediction share :class:`HashedLinearModel`, and the trained model predicts
with the same float32 weights that are saved, so a reloaded bundle predicts exactly the
same labels.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from fairdesk.triage.ngrams import ngram_counts, safe_text
from fairdesk.triage.polyhash import poly_counts

HASHES = {"poly64": poly_counts, "murmur3": ngram_counts}
DEFAULT_VECTORIZER: dict[str, Any] = {
    "hash": "poly64",
    "n_features": 2**20,
    "word_ngram_range": [1, 2],
    "char_ngram_range": [2, 5],
    "lowercase": True,
    "sublinear_tf": True,
}

DEFAULT_TRAINING: dict[str, Any] = {
    "classifier": "LogisticRegression",
    "C": 10.0,
    "class_weight": "balanced",
    "max_iter": 30,
}


class HashedFeatures:
    """Texts -> L2-normalised sparse rows of hashed word and char_wb n-gram counts."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params = {**DEFAULT_VECTORIZER, **(params or {})}
        if self.params["hash"] not in HASHES:
            raise ValueError(
                f"unknown n-gram hash {self.params['hash']!r}; expected one of {sorted(HASHES)}"
            )
        self._counts = HASHES[self.params["hash"]]
        self._word_range = _pair(self.params["word_ngram_range"])
        self._char_range = _pair(self.params["char_ngram_range"])
        common = {
            "n_features": self.n_features,
            "alternate_sign": False,
            "norm": None,
            "lowercase": bool(self.params["lowercase"]),
            "dtype": np.float32,
        }
        self._word = HashingVectorizer(analyzer="word", ngram_range=self._word_range, **common)
        self._char = HashingVectorizer(analyzer="char_wb", ngram_range=self._char_range, **common)

    @property
    def n_features(self) -> int:
        return int(self.params["n_features"])

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self._weigh(self.counts(texts))

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Summed n-gram counts per text, before log scaling and normalisation."""
        return self._counts(
            texts,
            n_features=self.n_features,
            word_range=self._word_range,
            char_range=self._char_range,
            lowercase=bool(self.params["lowercase"]),
        )

    def reference(self, texts: Sequence[str]) -> sp.csr_matrix:
        """:meth:`transform` of the ``"murmur3"`` hash built by scikit-learn (one Python
        string per n-gram; slow), whatever this vectoriser's ``hash``."""
        return self._weigh(self.reference_counts(texts))

    def reference_counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """:meth:`counts` built by scikit-learn."""
        clean = [safe_text(t) for t in texts]
        counts = sp.csr_matrix(
            self._word.transform(clean) + self._char.transform(clean), dtype=np.float32
        )
        counts.sort_indices()
        return counts

    def _weigh(self, x: sp.csr_matrix) -> sp.csr_matrix:
        if self.params["sublinear_tf"]:
            np.log1p(x.data, out=x.data)
        # What ``normalize(x, norm="l2", copy=False)`` runs for a float CSR matrix, without
        # its input checks (a scan of every value; ~1 us a tweet): ``x`` is built here.
        inplace_csr_row_normalize_l2(x)
        return x


@dataclass
class HashedLinearModel:
    """A linear classifier over :class:`HashedFeatures`; ``predict(texts) -> labels``."""

    labels: list[str]
    coef: sp.csr_matrix  # (n_rows, n_features) float32; one row when there are two labels
    intercept: np.ndarray  # (n_rows,) float32
    vectorizer: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = HashedFeatures(self.vectorizer)
        self._coef_t = self.coef.T.tocsr()

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        return self.decision_of(self.features.transform(texts))

    def decision_of(self, x: sp.csr_matrix) -> np.ndarray:
        """Scores (n_texts, n_rows) for a matrix from ``self.features``."""
        scores = np.asarray((x @ self._coef_t).todense(), dtype=np.float32)
        return scores + self.intercept

    def predict(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        return self.labels_of(self.decision(texts))

    def labels_of(self, scores: np.ndarray) -> list[str]:
        """The label of each row of :meth:`decision` scores."""
        two = scores.shape[1] == 1
        index = (scores[:, 0] > 0).astype(int) if two else scores.argmax(axis=1)
        return [self.labels[i] for i in index]


def _pair(value: Any) -> tuple[int, int]:
    low, high = value
    return int(low), int(high)


def check_training_set(texts: Sequence[str], labels: Sequence[str]) -> None:
    """Refuse a training set the classifiers cannot fit: unpaired texts and labels, or a
    single label."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise ValueError("training needs at least two distinct labels")


def start_training(
    texts: Sequence[str], labels: Sequence[str], vectorizer: dict[str, Any] | None
) -> tuple[float, HashedFeatures, sp.csr_matrix]:
    """The start of every hashed fit (plain and static heads): the set checked, the clock
    started, the texts featurised; returns (start time, vectoriser, features)."""
    check_training_set(texts, labels)
    started = time.perf_counter()
    features = HashedFeatures(vectorizer)
    return started, features, features.transform(texts)


def fit_classifier(x: Any, labels: Sequence[str], options: dict[str, Any]) -> LogisticRegression:
    """The logistic regression of every fast head: liblinear for two classes (the quicker
    solver there), saga for more (multinomial), ``random_state=0`` (saga visits the rows
    in random order: a retrain is reproducible)."""
    clf = LogisticRegression(
        C=float(options["C"]),
        class_weight=options["class_weight"],
        solver="liblinear" if len(set(labels)) == 2 else "saga",
        max_iter=int(options["max_iter"]),
        tol=1e-3,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, list(labels))
    return clf


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    vectorizer: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> HashedLinearModel:
    """Fit a model on ``texts``/``labels`` (at least two distinct labels)."""
    started, features, x = start_training(texts, labels, vectorizer)
    options = {**DEFAULT_TRAINING, **(training or {})}
    clf = fit_classifier(x, labels, options)
    coef = sp.csr_matrix(clf.coef_.astype(np.float32))
    coef.eliminate_zeros()
    return HashedLinearModel(
        labels=[str(c) for c in clf.classes_],
        coef=coef,
        intercept=np.asarray(clf.intercept_, dtype=np.float32),
        vectorizer=features.params,
        info={
            "training": options,
            "train_examples": len(texts),
            "train_seconds": round(time.perf_counter() - started, 2),
        },
    )
