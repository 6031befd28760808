"""Hashed word + ``char_wb`` n-gram counts, hash ``"poly64"``: the bundle format 2 features.

The n-grams are exactly those of ``ngrams.py`` (scikit-learn's ``HashingVectorizer`` with
``analyzer="word"`` and ``"char_wb"``): every maximal run of two or more word characters
(``\\w\\w+``) and their n-grams joined by one space; every window of n characters inside a
whitespace-separated word padded with one space on each side, and a padded word shorter
than the smallest n once, whole. Only the hash differs. MurmurHash3 reads the UTF-8 bytes
of each n-gram four at a time, which in numpy means one gather per block per n-gram; here
the hashes are polynomials over codepoints modulo 2**64 (R odd), built for a whole chunk of
texts at once with no per-n-gram step:

- char_wb: the padded words are laid out one after the other and every window of n is
  ``chain_n[i] = chain_{n-1}[i] * R + cp[i + n - 1]`` (Horner, sum cp[i+k] R**(n-1-k)): one
  multiply-add over the chunk per n, then the windows inside one word are kept;
- word: each token's ``sum cp[a+k] R**k`` comes from prefix sums, ``(pref[b] - pref[a]) *
  R**-a`` (R is invertible modulo 2**64), and ``"t1 t2"`` is composed from its tokens,
  ``H(t1) + R**len(t1) * (32 + R * H(t2))``, with no joined string.

Each hash is salted with the n-gram's kind and length in characters and finished with
MurmurHash3's 64-bit mixer (``fmix64``); the column is the high 32 bits scaled to
``n_features`` (``(h >> 32) * n_features >> 32``). ``tests/test_polyhash.py`` checks the
matrix against a plain Python version hashing scikit-learn's own n-gram strings.

Word characters and whitespace are those of Python (``\\w``: ``str.isalnum()`` or ``_``;
whitespace: ``str.isspace()``), read from two tables over every codepoint built once per
process (about 0.2 s, 2 MB).
Texts are cut at :data:`~fairdesk.triage.ngrams.MAX_CHARS` characters; a lone surrogate
is hashed as the codepoint it is, so it needs no replacement.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from functools import cache

import numpy as np
import scipy.sparse as sp

from fairdesk.triage.ngrams import MAX_CHARS, stacked_counts

# Texts per hashing pass. The (row, column) keys of a pass are sorted, and sorting many
# small arrays is quicker than one large one (they stay in cache): 200 tweets make about
# 60,000 keys; with the 1,000 of ``ngrams.CHUNK`` (300,000 keys) counting took 1.1x as long.
CHUNK = 200

_R = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_R_INV = pow(_R, -1, 2**64)
_U64 = np.uint64
_SPACE = _U64(32)
_CHAR_SALT, _WORD_SALT = _U64(0x243F6A8885A308D3), _U64(0x13198A2E03707344)
_LENGTH_SALT = _U64(0xA4093822299F31D0)
_M1, _M2 = _U64(0xFF51AFD7ED558CCD), _U64(0xC4CEB9FE1A85EC53)


@cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(is_word, is_space) for every codepoint, as Python's ``re`` sees them."""
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    is_word = np.zeros(sys.maxunicode + 1, dtype=bool)
    is_space = np.zeros(sys.maxunicode + 1, dtype=bool)
    is_word[[m.start() for m in re.finditer(r"\w", everything)]] = True
    is_space[[m.start() for m in re.finditer(r"\s", everything)]] = True
    return is_word, is_space


_CACHED_POWERS = 1 << 20


@cache
def _cached_powers(count: int) -> tuple[np.ndarray, np.ndarray]:
    return _powers(count)


def _powers(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``R**i`` and ``R**-i`` for i < ``count``."""
    with np.errstate(over="ignore"):
        up = np.cumprod(np.full(count, _R, dtype=_U64))
        down = np.cumprod(np.full(count, _R_INV, dtype=_U64))
    up[1:], down[1:] = up[:-1].copy(), down[:-1].copy()
    up[0] = down[0] = 1
    return up, down


def _powers_for(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Powers for spans of an array of ``count`` (cached up to a megabyte-sized chunk;
    a chunk of 100 KB texts gets its own, freed with it)."""
    if count > _CACHED_POWERS:
        return _powers(count)
    return _cached_powers(1 << max(10, (count - 1).bit_length()))


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place (one scratch array for the shifts)."""
    shifted = np.empty_like(h)
    for multiplier in (_M1, _M2, None):
        np.right_shift(h, _U64(33), out=shifted)
        h ^= shifted
        if multiplier is not None:
            h *= multiplier
    return h


class _Spans:
    """Hashes of arbitrary spans ``cp[a:b]`` of one codepoint array."""

    def __init__(self, cps: np.ndarray) -> None:
        self.up, self.down = _powers_for(len(cps) + 2)
        self.pref = np.zeros(len(cps) + 1, dtype=_U64)
        np.cumsum(cps * self.up[: len(cps)], out=self.pref[1:])

    def hash(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return (self.pref[end] - self.pref[start]) * self.down[start]


def poly_counts(
    texts: Sequence[str],
    *,
    n_features: int,
    word_range: tuple[int, int],
    char_range: tuple[int, int],
    lowercase: bool,
) -> sp.csr_matrix:
    """Summed counts (float32, sorted column indices) of every hashed n-gram per text."""
    docs = [t[:MAX_CHARS] if isinstance(t, str) else "" for t in texts]
    if lowercase:
        docs = [d.lower() for d in docs]
    return stacked_counts(docs, _chunk_counts, n_features, word_range, char_range, CHUNK)


def _chunk_counts(
    docs: list[str], n_features: int, word_range: tuple[int, int], char_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entries per text, column, count) of every distinct (text, hashed n-gram), sorted."""
    # Texts joined by a space (whitespace and no word character: it ends every n-gram);
    # a newline inside a text is whitespace like any other.
    joined = " ".join(docs)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    # Equal (text, column) pairs are grouped by one sort of keys ``text << bits | column``,
    # 32-bit where they fit. ``row_at[p]``: the key's text part for position p.
    bits = max(1, (n_features - 1).bit_length())
    kind = np.dtype(np.uint32 if (len(docs) - 1).bit_length() + bits <= 32 else np.uint64)
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs)) + 1
    row_keys = np.left_shift(np.arange(len(docs), dtype=kind), bits)
    row_at = np.repeat(row_keys, lengths)[: len(cps)]
    is_word, is_space = _tables()
    hashes: list[np.ndarray] = [np.zeros(0, _U64)]
    rows: list[np.ndarray] = [np.zeros(0, kind)]
    with np.errstate(over="ignore"):
        _char_wb(cps, is_space[cps], row_at, *char_range, hashes, rows)
        _words(cps, is_word[cps], row_at, *word_range, hashes, rows)
        mixed = _fmix64(np.concatenate(hashes))
    key = _column(mixed, n_features, bits).astype(kind)
    np.bitwise_or(key, np.concatenate(rows), out=key)
    key.sort()
    # Runs of equal keys: ``bounds`` holds where each starts, and the end.
    new = np.empty(len(key) + 1, dtype=bool)
    new[0] = new[-1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:-1])
    bounds = np.flatnonzero(new)
    count = np.empty(len(bounds) - 1, dtype=np.float32)
    np.subtract(bounds[1:], bounds[:-1], out=count, casting="unsafe")
    distinct = key.take(bounds[:-1])
    ends = np.zeros(len(docs) + 1, dtype=np.int64)  # where each text's keys end
    ends[1:-1] = np.searchsorted(distinct, row_keys[1:])
    ends[-1] = len(distinct)
    column = np.bitwise_and(distinct, (1 << bits) - 1).astype(np.int32)
    return np.diff(ends), column, count


def _column(hashes: np.ndarray, n_features: int, bits: int) -> np.ndarray:
    """The high 32 bits scaled to [0, n_features): a multiply and a shift, no division;
    for a power of two, the same as the top ``bits`` bits alone."""
    if n_features == 1 << bits and bits <= 32:
        return hashes >> _U64(64 - bits)
    return ((hashes >> _U64(32)) * _U64(n_features)) >> _U64(32)


def _salted(h: np.ndarray, salt: np.uint64, length: np.ndarray | int) -> np.ndarray:
    return h + salt + _LENGTH_SALT * np.asarray(length, dtype=_U64)


def _char_wb(
    cps: np.ndarray,
    space: np.ndarray,
    row_at: np.ndarray,
    low: int,
    high: int,
    hashes: list[np.ndarray],
    rows: list[np.ndarray],
) -> None:
    """Append the hashes (unmixed) and row keys of every char_wb n-gram, n in [low, high]."""
    keep = np.flatnonzero(~space)
    if not len(keep):
        return
    # Words: maximal runs of non-space characters; lay them out padded, " w1  w2 ".
    starts = np.r_[True, keep[1:] != keep[:-1] + 1]
    word = np.cumsum(starts) - 1
    n_words = int(word[-1]) + 1
    padded = np.full(len(keep) + 2 * n_words, _SPACE, dtype=_U64)
    padded[np.arange(len(keep)) + 2 * word + 1] = cps.take(keep)
    first = keep.take(np.flatnonzero(starts))
    size = np.diff(np.r_[np.flatnonzero(starts), len(keep)]) + 2  # padded length
    begin = np.zeros(n_words, dtype=np.int64)  # where each padded word starts
    np.cumsum(size[:-1], out=begin[1:])
    word_row = row_at[first]
    # segment[p], row[p]: the word and the text position p of ``padded`` belongs to
    segment = np.repeat(np.arange(n_words, dtype=np.int32), size)
    row = np.repeat(word_row, size)
    total = len(padded)
    # chain[i]: the polynomial of padded[i : i + n], grown one character per step
    chain = padded
    for n in range(1, min(high, total) + 1):
        if n > 1:
            chain = chain[:-1] * _U64(_R)
            chain += padded[n - 1 :]
        salt = _U64((int(_CHAR_SALT) + int(_LENGTH_SALT) * n) % 2**64)
        if n >= low:  # the windows inside one padded word
            # (flatnonzero and two takes: a third of the time of two boolean selections)
            inside = np.flatnonzero(segment[: total - n + 1] == segment[n - 1 :])
            found = chain.take(inside)
            rows.append(row.take(inside))
        else:  # a padded word shorter than the smallest n is emitted once, whole
            short = size == n
            found = chain[begin[short]]
            rows.append(word_row[short])
        found += salt
        hashes.append(found)


def _words(
    cps: np.ndarray,
    word: np.ndarray,
    row_at: np.ndarray,
    low: int,
    high: int,
    hashes: list[np.ndarray],
    rows: list[np.ndarray],
) -> None:
    """Append the hashes (unmixed) and row keys of every word n-gram, n in [low, high]."""
    bounded = np.zeros(len(word) + 2, dtype=bool)
    bounded[1:-1] = word
    edges = np.flatnonzero(bounded[1:] != bounded[:-1])  # where runs of word characters start/end
    starts, ends = edges[0::2], edges[1::2]
    token = ends - starts >= 2
    starts, ends = starts[token], ends[token]
    if not len(starts):
        return
    spans = _Spans(cps)
    base = spans.hash(starts, ends)
    length = ends - starts
    row = row_at[starts]
    count = len(starts)
    # gram[i]: the n-gram of tokens i .. i+n-1, built one token at a time
    gram, gram_len = base.copy(), length.copy()
    up, _ = _powers_for(int(length.max()) * high + high + 2)
    for n in range(1, min(high, count) + 1):
        if n > 1:
            m = count - n + 1
            gram = gram[:m] + up[gram_len[:m]] * (_SPACE + _U64(_R) * base[n - 1 :])
            gram_len = gram_len[:m] + 1 + length[n - 1 :]
        if n >= low:
            same = np.flatnonzero(row[: count - n + 1] == row[n - 1 :])
            hashes.append(_salted(gram.take(same), _WORD_SALT, gram_len.take(same)))
            rows.append(row.take(same))
