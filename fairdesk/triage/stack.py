"""Every trained head over ONE featurisation of a batch.

Heads trained with the same vectoriser parameters see the same feature matrix, so the
batch is hashed once (``ngrams.py``) and every head is scored from it. The heads' weight
rows are stacked into dense float32 blocks that hold only the columns some head of the
block uses (a hashed model touches a fraction of the 2^20 columns), and each block is one
sparse x dense product. Dense weights over all 2^20 columns would be 4 MiB per head row
(348 MiB for the 87 rows of sentiment, offensive, irony, hate, emotion and Banking77); a
block is started afresh when the current one would pass :data:`MAX_BLOCK_BYTES`, so a wide
head such as Banking77 gets its own small block. A block whose heads use most columns
anyway is kept over all of them (see :data:`FULL_WIDTH_RATIO`): the product then reads the
hashed columns as they are, with no look-up of each one in a column table first.

A batch is featurised a span at a time (about :data:`SPAN_CHARS` characters), and each
block then scores the whole span before the next block starts: a block's weights (tens of
MiB) stay in the cache over the span, where taking turns with the other block and the
hashing after every thousand texts evicted them (10,000 tweets: 16.6 -> 12.6 us a tweet
for hashing and products; a batch of 1,000 texts or fewer, such as the worker's 500, was
one pass before too). Every row is summed as before, so the scores are the same bits.

The scores equal each head's own ``HashedLinearModel.decision`` up to float32 rounding
(the sums run in another order); a test checks the labels on real tweets are the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fairdesk.triage.hashed import HashedFeatures, HashedLinearModel
from fairdesk.triage.ngrams import MAX_CHARS

MAX_BLOCK_BYTES = 48 * 2**20
# A block is kept over all hashed columns where that fits in MAX_BLOCK_BYTES and takes at
# most this many times the memory of its used columns plus their 4 MiB column table: the
# five TweetEval heads (10 rows, 63% of the columns used) take 40 MiB instead of 29 MiB,
# and their product no longer looks up every n-gram's column (9.0 -> 5.7 us a tweet).
FULL_WIDTH_RATIO = 1.5
# Characters featurised (and held as one sparse matrix) before the blocks score them: about
# 10,000 tweets, up to ~6 n-gram entries (8 bytes each) a character, so at most ~50 MiB.
SPAN_CHARS = 1_000_000


@dataclass(frozen=True, slots=True)
class _Block:
    """Heads whose stacked weight rows share one dense matrix."""

    names: tuple[str, ...]
    rows: tuple[slice, ...]  # each head's columns in the block's scores
    # hashed column -> row of ``weights`` (0: a column no head uses); None: full width
    column: np.ndarray | None
    weights: np.ndarray  # (1 + used columns, head rows), row 0 all zeros; or full width
    intercept: np.ndarray

    def scores(self, x: sp.csr_matrix) -> np.ndarray:
        if self.column is None:
            return np.asarray(x @ self.weights) + self.intercept
        compact = sp.csr_matrix(
            (x.data, self.column[x.indices], x.indptr), shape=(x.shape[0], len(self.weights))
        )
        return np.asarray(compact @ self.weights) + self.intercept


def _block(heads: Sequence[tuple[str, HashedLinearModel]]) -> _Block:
    coef = sp.vstack([model.coef for _, model in heads]).tocsc()
    used = np.flatnonzero(np.diff(coef.indptr))
    full_bytes = 4 * coef.shape[1] * coef.shape[0]
    compact_bytes = 4 * (len(used) + 1) * coef.shape[0] + 4 * coef.shape[1]
    column: np.ndarray | None = None
    if full_bytes <= min(MAX_BLOCK_BYTES, FULL_WIDTH_RATIO * compact_bytes):
        weights = np.asarray(coef.T.toarray(), dtype=np.float32)
    else:
        column = np.zeros(coef.shape[1], dtype=np.int32)
        column[used] = np.arange(1, len(used) + 1, dtype=np.int32)
        weights = np.zeros((len(used) + 1, coef.shape[0]), dtype=np.float32)
        weights[1:] = coef[:, used].T.toarray()
    rows, start = [], 0
    for _, model in heads:
        rows.append(slice(start, start + model.coef.shape[0]))
        start += model.coef.shape[0]
    return _Block(
        names=tuple(name for name, _ in heads),
        rows=tuple(rows),
        column=column,
        weights=weights,
        intercept=np.concatenate([model.intercept for _, model in heads]),
    )


def _dense_bytes(heads: Sequence[tuple[str, HashedLinearModel]]) -> int:
    columns = np.unique(np.concatenate([model.coef.indices for _, model in heads]))
    return 4 * len(columns) * sum(model.coef.shape[0] for _, model in heads)


def _plan(heads: Sequence[tuple[str, HashedLinearModel]]) -> list[_Block]:
    """Group heads into blocks of at most MAX_BLOCK_BYTES of dense weights, those with the
    fewest weight rows first (then by name), whatever order they come in: the narrow heads
    share a block (kept over all columns where it is worth it) and a head with many rows,
    such as Banking77's 77, gets a compact one of its own. For the six heads of
    docs/TRIAGE.md the products take 9.6 us a tweet so, against 10.9 with Banking77 and
    emotion in one block (the order ``load_heads`` gave them before)."""
    groups: list[list[tuple[str, HashedLinearModel]]] = []
    for head in sorted(heads, key=lambda item: (item[1].coef.shape[0], item[0])):
        if groups and _dense_bytes([*groups[-1], head]) <= MAX_BLOCK_BYTES:
            groups[-1].append(head)
        else:
            groups.append([head])
    return [_block(group) for group in groups]


def spans(texts: Sequence[str]) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive runs of ``texts`` of about :data:`SPAN_CHARS`
    characters each (as hashed: at most ``MAX_CHARS`` a text), at least one text a run."""
    start, size = 0, 0
    for end, text in enumerate(texts, 1):
        size += min(len(text), MAX_CHARS) + 1 if isinstance(text, str) else 1
        if size >= SPAN_CHARS:
            yield start, end
            start, size = end, 0
    if start < len(texts):
        yield start, len(texts)


class HeadStack:
    """``decisions(texts) -> {head: scores}`` for heads that share one vectoriser."""

    def __init__(self, heads: Mapping[str, HashedLinearModel]) -> None:
        if not heads:
            raise ValueError("a head stack needs at least one head")
        items = list(heads.items())
        params = items[0][1].features.params
        for name, model in items:
            if model.features.params != params:
                raise ValueError(
                    f"head {name!r} was trained with other vectoriser parameters than "
                    f"{items[0][0]!r}; heads in one stack must share the featurisation"
                )
        self.models = dict(items)
        self.features = HashedFeatures(params)
        self._blocks = _plan(items)

    def decisions(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Each head's scores (n_texts, head rows), as ``HashedLinearModel.decision``."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.models}
        for start, end in spans(texts):
            x = self.features.transform(texts[start:end])
            for block in self._blocks:
                scores = block.scores(x)
                for name, rows in zip(block.names, block.rows, strict=True):
                    parts[name].append(scores[:, rows])
        return {
            name: np.concatenate(chunks)
            if chunks
            else np.zeros((0, self.models[name].coef.shape[0]), dtype=np.float32)
            for name, chunks in parts.items()
        }

    def predict(self, texts: Sequence[str]) -> dict[str, list[str]]:
        return {
            name: self.models[name].labels_of(scores)
            for name, scores in self.decisions(texts).items()
        }
