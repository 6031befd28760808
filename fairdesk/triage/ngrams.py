"""Hashed word + ``char_wb`` n-gram counts for a whole batch, in a few numpy passes.

The matrix is bit for bit the one scikit-learn's ``HashingVectorizer`` builds with
``alternate_sign=False, norm=None`` (a test compares them): the same n-grams, hashed with
the same 32-bit MurmurHash3 (seed 0) of their UTF-8 bytes, column ``abs(hash) %
n_features``, duplicates summed. scikit-learn hashes in C but first builds one Python string
per n-gram (about 350 per tweet), which was most of a trained head's time. Here each
n-gram is only a (byte offset, byte length) pair into one UTF-8 buffer per chunk of texts,
and MurmurHash3 runs on all pairs at once.

How the n-grams are laid out, so that pairs never need a Python string:

- char_wb: each text's words, each padded with one space on both sides, are written one
  after the other (``" w1  w2 "``) and texts are separated by ``"\\n"``. Every character
  belongs to one *segment* (a padded word, or a lone ``"\\n"``); a window is an n-gram
  exactly when it lies inside one segment.
- word: each text's tokens (sklearn's default pattern) joined by single spaces, texts
  separated by ``"\\n"``; a bigram "a b" is then the contiguous span from the start of
  "a" to the end of "b".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

CHUNK = 1_000  # texts per pass: keeps the temporary arrays small and cache-friendly
MAX_CHARS = 20_000  # per text; far beyond any message, and bounds the work on 100 KB input
# scikit-learn's default token_pattern is r"(?u)\b\w\w+\b": every maximal run of two or more
# word characters. Without the \b checks the regex finds exactly the same runs, faster.
_TOKEN_RE = re.compile(r"\w\w+")
_SPACE, _NEWLINE = 32, 10
_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
_TAIL_MASKS = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF], dtype=np.uint32)


def safe_text(text: object) -> str:
    """A string that encodes to UTF-8: non-strings become ``""``, lone surrogates ``"?"``."""
    if not isinstance(text, str):
        return ""
    return text[:MAX_CHARS].encode("utf-8", "replace").decode("utf-8")


def ngram_counts(
    texts: Sequence[str],
    *,
    n_features: int,
    word_range: tuple[int, int],
    char_range: tuple[int, int],
    lowercase: bool,
) -> sp.csr_matrix:
    """Summed counts (float32, sorted column indices) of every hashed n-gram per text."""
    docs = [safe_text(t) for t in texts]
    if lowercase:
        docs = [d.lower() for d in docs]
    return stacked_counts(docs, _chunk_counts, n_features, word_range, char_range)


ChunkCounts = Callable[
    [list[str], int, tuple[int, int], tuple[int, int]], tuple[np.ndarray, np.ndarray, np.ndarray]
]


def stacked_counts(
    docs: list[str],
    chunk_counts: ChunkCounts,
    n_features: int,
    word_range: tuple[int, int],
    char_range: tuple[int, int],
    chunk: int = CHUNK,
) -> sp.csr_matrix:
    """One CSR matrix from ``chunk_counts`` (entries per text, columns and counts of
    ``chunk`` texts at a time, whichever hash makes the columns)."""
    sizes, cols, counts = [], [], []
    for start in range(0, len(docs), chunk):
        n, c, d = chunk_counts(docs[start : start + chunk], n_features, word_range, char_range)
        sizes.append(n)
        cols.append(c)
        counts.append(d)
    indptr = np.zeros(len(docs) + 1, dtype=np.int64)
    if sizes:
        np.cumsum(np.concatenate(sizes), out=indptr[1:])
    data = _joined(counts, np.float32)
    col = _joined(cols, np.int32)
    return sp.csr_matrix((data, col, indptr), shape=(len(docs), n_features))


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    if len(parts) == 1:  # one chunk: no copy
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


class _Grams(NamedTuple):
    """N-grams as byte spans of one buffer; ``size``: their length in characters, when
    they all have the same (char_wb n-grams of one n), so ASCII ones share a byte length."""

    offsets: np.ndarray
    lengths: np.ndarray
    rows: np.ndarray
    size: int | None


def _chunk_counts(
    docs: list[str], n_features: int, word_range: tuple[int, int], char_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entries per text, column, count) of every distinct (text, hashed n-gram), sorted."""
    char_bytes, char_grams = _char_wb_grams(docs, *char_range)
    word_bytes, word_grams = _word_grams(docs, *word_range)
    words32 = _words32(char_bytes + word_bytes)
    shift = len(char_bytes)
    groups = [*char_grams, *(g._replace(offsets=g.offsets + shift) for g in word_grams)]
    hashes = np.concatenate([np.zeros(0, np.uint32), *(_hash(words32, g) for g in groups)])
    rows = np.concatenate([np.zeros(0, np.int64), *(g.rows for g in groups)])
    # sklearn's column: abs() of the hash read as int32 (abs(-2**31) is 2**31), modulo.
    column = np.abs(hashes.view(np.int32)).view(np.uint32) % np.uint32(n_features)
    # One sort of (row, column) keys groups equal pairs; 32-bit keys when they fit.
    bits = max(1, (n_features - 1).bit_length())
    kind = np.dtype(np.uint32 if (len(docs) - 1).bit_length() + bits <= 32 else np.uint64)
    key = np.left_shift(rows.astype(kind), bits) | column.astype(kind)
    key.sort()
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
    count = np.diff(np.r_[first, len(key)]).astype(np.float32)
    distinct = key[first]
    return (
        np.bincount(np.right_shift(distinct, bits).astype(np.int64), minlength=len(docs)),
        np.bitwise_and(distinct, (1 << bits) - 1).astype(np.int32),
        count,
    )


def _hash(words32: np.ndarray, grams: _Grams) -> np.ndarray:
    if grams.size is None:
        return murmurhash3(words32, grams.offsets, grams.lengths)
    ascii_like = grams.lengths == grams.size  # one byte per character
    if ascii_like.all():
        return murmurhash3_fixed(words32, grams.offsets, grams.size)
    hashes = np.empty(len(grams.offsets), dtype=np.uint32)
    hashes[ascii_like] = murmurhash3_fixed(words32, grams.offsets[ascii_like], grams.size)
    other = ~ascii_like
    hashes[other] = murmurhash3(words32, grams.offsets[other], grams.lengths[other])
    return hashes


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _utf8_offsets(text: str, cps: np.ndarray) -> np.ndarray:
    """Byte offset in ``text.encode("utf-8")`` of every character, plus the total length."""
    if text.isascii():
        return np.arange(len(cps) + 1, dtype=np.int64)
    width = np.ones(len(cps), dtype=np.int64)
    width += cps >= 0x80
    width += cps >= 0x800
    width += cps >= 0x10000
    offsets = np.zeros(len(cps) + 1, dtype=np.int64)
    np.cumsum(width, out=offsets[1:])
    return offsets


def _rows_before(cps: np.ndarray) -> np.ndarray:
    """``rows[p]``: how many text separators precede position ``p`` (length n + 1)."""
    rows = np.zeros(len(cps) + 1, dtype=np.int64)
    np.cumsum(cps == _NEWLINE, out=rows[1:])
    return rows


def _char_wb_grams(docs: list[str], low: int, high: int) -> tuple[bytes, list[_Grams]]:
    """The UTF-8 buffer and every char_wb n-gram of ``docs`` in it, one group per n."""
    text = "\n".join(" " + "  ".join(words) + " " if (words := d.split()) else "" for d in docs)
    cps = _codepoints(text)
    n = len(cps)
    newline = cps == _NEWLINE
    starts = newline.copy()  # a segment starts at a newline, or a space before a word
    starts[:-1] |= (cps[:-1] == _SPACE) & (cps[1:] != _SPACE) & ~newline[1:]
    segment = np.cumsum(starts, dtype=np.int32)
    byte_at, row_at = _utf8_offsets(text, cps), _rows_before(cps)
    groups = []
    for size in range(low, min(high, n) + 1):
        at = np.flatnonzero(segment[: n - size + 1] == segment[size - 1 :])
        if size == 1:
            at = at[~newline[at]]
        offsets = byte_at[at]
        groups.append(_Grams(offsets, byte_at[at + size] - offsets, row_at[at], size))
    # scikit-learn emits a padded word shorter than the smallest n once, whole.
    first = np.flatnonzero(starts)
    length = np.diff(np.r_[first, n])
    short = ~newline[first] & (length < low)
    first, length = first[short], length[short]
    offsets = byte_at[first]
    groups.append(_Grams(offsets, byte_at[first + length] - offsets, row_at[first], None))
    return text.encode("utf-8"), groups


def _word_grams(docs: list[str], low: int, high: int) -> tuple[bytes, list[_Grams]]:
    """The UTF-8 buffer and every word n-gram of ``docs`` in it, one group per n."""
    text = "\n".join(" ".join(_TOKEN_RE.findall(d)) for d in docs)
    cps = _codepoints(text)
    gaps = np.flatnonzero((cps == _SPACE) | (cps == _NEWLINE))
    starts, ends = np.r_[0, gaps + 1], np.r_[gaps, len(cps)]
    token = ends > starts  # a text without tokens leaves an empty span
    starts, ends = starts[token], ends[token]
    byte_at = _utf8_offsets(text, cps)
    row = _rows_before(cps)[starts]
    groups = []
    for size in range(low, min(high, len(starts)) + 1):
        same = np.flatnonzero(row[: len(starts) - size + 1] == row[size - 1 :])
        offsets = byte_at[starts[same]]
        lengths = byte_at[ends[same + size - 1]] - offsets
        groups.append(_Grams(offsets, lengths, row[same], None))
    return text.encode("utf-8"), groups


def _words32(buffer: bytes) -> np.ndarray:
    """``w[i]``: the little-endian uint32 made of bytes ``i .. i+3`` (zero past the end)."""
    padded = buffer + b"\0\0\0\0\0\0\0"
    out = np.empty(len(buffer), dtype=np.uint32)
    for align in range(4):
        count = len(out[align::4])
        out[align::4] = np.frombuffer(padded, dtype="<u4", count=count, offset=align)
    return out


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix_block(k: np.ndarray) -> np.ndarray:
    k *= _C1
    k = _rotl(k, 15)
    k *= _C2
    return k


def murmurhash3(words32: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """MurmurHash3 x86 32-bit, seed 0, of ``buffer[offset : offset + length]`` for each pair
    (``words32`` from :func:`_words32` of that buffer); uint32, as sklearn's murmurhash3_32
    before it is read as signed."""
    h = np.zeros(len(offsets), dtype=np.uint32)
    blocks = lengths >> 2
    todo = np.flatnonzero(blocks)
    j = 0
    while len(todo):
        h[todo] = _mix_into(h[todo], words32[offsets[todo] + 4 * j])
        j += 1
        todo = todo[blocks[todo] > j]
    tail = lengths & 3
    todo = np.flatnonzero(tail)
    if len(todo):
        h[todo] ^= _mix_block(words32[offsets[todo] + 4 * blocks[todo]] & _TAIL_MASKS[tail[todo]])
    h ^= lengths.astype(np.uint32)
    return _finish(h)


def murmurhash3_fixed(words32: np.ndarray, offsets: np.ndarray, length: int) -> np.ndarray:
    """:func:`murmurhash3` when every span is ``length`` bytes long (no per-span masks)."""
    h = np.zeros(len(offsets), dtype=np.uint32)
    for j in range(length // 4):
        h = _mix_into(h, words32[offsets + 4 * j])
    if length & 3:
        h ^= _mix_block(words32[offsets + 4 * (length // 4)] & _TAIL_MASKS[length & 3])
    h ^= np.uint32(length)
    return _finish(h)


def _mix_into(h: np.ndarray, block: np.ndarray) -> np.ndarray:
    h ^= _mix_block(block)
    return _rotl(h, 13) * np.uint32(5) + np.uint32(0xE6546B64)


def _finish(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h
