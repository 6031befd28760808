"""Near-duplicate detection over a bounded window of recent texts (MinHash + LSH).

Texts are compared as sets of character 5-grams of the folded text with URLs, mentions,
punctuation and spacing removed, so "SAME TEXT!!!" and "same text" are duplicates.
Shingles are hashed with CRC32 (a C call; datasketch's default SHA-1 per shingle is
about 10x slower), and every MinHash copies one seeded template, so permutations are
generated once.
"""

from __future__ import annotations

import re
import zlib
from collections import OrderedDict
from itertools import islice

import numpy as np
from datasketch import MinHash, MinHashLSH

from fairdesk.triage.normalise import MENTION_TOKEN, URL_TOKEN, normalise

SHINGLE = 5
MAX_CHECKS = 8
_NON_WORD_RE = re.compile(r"[\W_]+")


def shingles(text: str) -> set[bytes]:
    """Character shingles of the text's letters and digits, space-separated words."""
    folded = normalise(text).folded.replace(URL_TOKEN, " ").replace(MENTION_TOKEN, " ")
    compact = _NON_WORD_RE.sub(" ", folded).strip()
    if not compact:
        return set()
    if len(compact) <= SHINGLE:
        return {compact.encode()}
    return {compact[i : i + SHINGLE].encode() for i in range(len(compact) - SHINGLE + 1)}


class NearDuplicateIndex:
    """Remembers up to ``max_items`` recent texts; ``add`` reports an earlier near-duplicate."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 64, max_items: int = 50_000) -> None:
        if not 0.0 < threshold <= 1.0 or max_items < 1:
            raise ValueError("threshold must be in (0, 1] and max_items >= 1")
        self.threshold = threshold
        self.max_items = max_items
        self._template = MinHash(num_perm=num_perm, seed=1, hashfunc=zlib.crc32)
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._items: OrderedDict[str, tuple[int, MinHash, str]] = OrderedDict()  # oldest first
        self._added = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, key: str, text: str) -> str | None:
        """Remember ``text`` under ``key``; return the oldest remembered near-duplicate."""
        grams = shingles(text)
        if not grams:
            return None
        minhash = self._template.copy()
        minhash.update_batch(grams)
        match = self._oldest_match(minhash, exclude=key)
        if match is None:
            # Only the first text of a cluster is indexed: later copies point at it, and
            # LSH buckets stay small even when a pile-on repeats one text thousands of times.
            self._remember(key, minhash)
        return match

    def _oldest_match(self, minhash: MinHash, *, exclude: str) -> str | None:
        # A pile-on can make thousands of candidates; checking a bounded sample keeps
        # ``add`` constant-time, and any verified match is a true near-duplicate.
        candidates = islice((k for k in self._lsh.query(minhash) if k != exclude), MAX_CHECKS)
        mine = minhash.hashvalues
        need = self.threshold * len(mine)
        matches = [
            self._items[key]
            for key in candidates
            if np.count_nonzero(mine == self._items[key][1].hashvalues) >= need
        ]
        return min(matches, key=lambda pair: pair[0])[2] if matches else None

    def _remember(self, key: str, minhash: MinHash) -> None:
        if key in self._items:
            self._lsh.remove(key)
            del self._items[key]
        while len(self._items) >= self.max_items:
            oldest, _ = self._items.popitem(last=False)
            self._lsh.remove(oldest)
        self._lsh.insert(key, minhash)
        self._added += 1
        self._items[key] = (self._added, minhash, key)
