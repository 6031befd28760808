"""Candidate root causes: groups of similar first messages among untagged cases.

Pure Python (no Django), so it is tested on plain strings. Texts become TF-IDF vectors of
their words (case-folded, URLs and mentions removed, English stop words dropped, only
words that occur in at least two texts), and average-linkage agglomerative clustering on
cosine distance joins texts closer than ``MAX_DISTANCE``. Both steps are deterministic:
the same texts in the same order give the same clusters, so an owner who reloads the page
sees the same candidates. Callers bound the input (``root_causes.CLUSTER_SAMPLE``):
agglomerative clustering is quadratic in the number of texts.
"""

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fairdesk.triage.normalise import MENTION_TOKEN, URL_TOKEN, normalise

MAX_DISTANCE = 0.75  # cosine distance: texts sharing a good part of their key words
MIN_SIZE = 2
TERMS = 3
WORDS = r"(?u)\b[^\W\d_]{3,}\b"  # words of three letters or more, no numbers


@dataclass(frozen=True, slots=True)
class Cluster:
    members: tuple[int, ...]  # positions in the input, in input order
    terms: tuple[str, ...]  # the words that weigh most in the cluster


def _fold(text: str) -> str:
    return normalise(text).folded.replace(URL_TOKEN, " ").replace(MENTION_TOKEN, " ")


def preload() -> None:
    """Import scikit-learn now (~0.9 s): a server calls this at start-up, so the first
    root-causes page does not wait for it; commands that never cluster never pay it."""
    import sklearn.cluster
    import sklearn.feature_extraction.text  # noqa: F401


def cluster_texts(texts: Sequence[str], *, limit: int = 10) -> list[Cluster]:
    """Clusters of at least ``MIN_SIZE`` texts, largest first (ties: earliest member)."""
    from sklearn.cluster import AgglomerativeClustering  # import cost only when used
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) < MIN_SIZE:
        return []
    vectorizer = TfidfVectorizer(
        preprocessor=_fold, token_pattern=WORDS, stop_words="english", min_df=2, sublinear_tf=True
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no word occurs twice: nothing to group
        return []
    rows = np.flatnonzero(matrix.getnnz(axis=1))  # a text with no shared word has no direction
    if len(rows) < MIN_SIZE:
        return []
    vectors = matrix[rows].toarray()
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=MAX_DISTANCE
    ).fit_predict(vectors)
    words = vectorizer.get_feature_names_out()
    groups = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    groups = [inside for inside in groups if len(inside) >= MIN_SIZE]
    groups.sort(key=lambda inside: (-len(inside), int(rows[inside[0]])))
    clusters = []
    for inside in groups[:limit]:  # terms only for the clusters shown
        weights = vectors[inside].sum(axis=0)
        # The TERMS heaviest words (ties: alphabetical); a word absent from the cluster
        # weighs nothing and is never a term.
        top = heapq.nsmallest(
            TERMS, np.flatnonzero(weights > 0), key=lambda i: (-weights[i], words[i])
        )
        terms = tuple(str(words[i]) for i in top)
        clusters.append(Cluster(tuple(int(rows[i]) for i in inside), terms))
    return clusters
