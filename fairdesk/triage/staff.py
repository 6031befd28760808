"""Find which staff members a compliment names (fuzzy, but strict).

Matching is only attempted on praise. A full name or alias may carry one typo
(``"Marla Lopez"`` for ``"Maria Lopez"``); a first name alone must be unambiguous in the
directory, must match exactly unless it is long (>= 6 letters, one edit allowed), and a
first name that is also an everyday word ("Will", "Grace") must be written capitalised.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from fairdesk.triage.normalise import fold
from fairdesk.triage.types import StaffMember

_WORD_RE = re.compile(r"[^\W\d_]+(?:[-'.][^\W\d_]+)*\.?")
# The same words in ASCII text, where a letter is [a-zA-Z]: a plain class is quicker for
# ``re`` than the negated one above.
_ASCII_WORD_RE = re.compile(r"[a-zA-Z]+(?:[-'.][a-zA-Z]+)*\.?")
_NAMES_THAT_ARE_WORDS = (
    "will grace joy hope faith mark bill rose may june april summer sky art bob pat sue "
    "dawn rob amber ruby jack chase frank guy max page rich ray sunny victor iris ivy"
)
_COMMON_WORD_NAMES = frozenset(_NAMES_THAT_ARE_WORDS.split())
_MIN_FUZZY_FIRST_NAME = 6


def _name_tokens(name: str) -> tuple[str, ...]:
    return tuple(m.group(0).rstrip(".") for m in _WORD_RE.finditer(fold(name)))


class StaffMatcher:
    """Index of a staff directory for praise attribution."""

    def __init__(self, staff: Sequence[StaffMember]) -> None:
        self._full: dict[tuple[str, ...], set[str]] = defaultdict(set)
        first: dict[str, set[str]] = defaultdict(set)
        for member in staff:
            for form in (member.name, *member.aliases):
                tokens = _name_tokens(form)
                if len(tokens) > 1:
                    self._full[tokens].add(member.key)
                elif tokens:
                    first[tokens[0]].add(member.key)
            tokens = _name_tokens(member.name)
            if tokens:
                first[tokens[0]].add(member.key)
        self._first = {name: next(iter(keys)) for name, keys in first.items() if len(keys) == 1}
        self._long_first = [n for n in self._first if len(n) >= _MIN_FUZZY_FIRST_NAME]
        # One edit changes the length by at most one: other words need no fuzzy search.
        self._fuzzy_lengths = {len(n) + d for n in self._long_first for d in (-1, 0, 1)}
        self._by_last: dict[tuple[int, str], list[tuple[str, ...]]] = defaultdict(list)
        for tokens in self._full:
            self._by_last[(len(tokens), tokens[-1])].append(tokens)
        self._max_len = max((len(t) for t in self._full), default=1)
        # A full name matches (exactly, or with one typo) only a window ending in its own
        # last name token (see _match_full): other windows are skipped unseen.
        self._lasts = {tokens[-1] for tokens in self._full}

    def match(self, clean_text: str) -> tuple[str, ...]:
        """Keys of staff members named in ``clean_text`` (casing preserved), sorted."""
        if not self._full and not self._first:
            return ()
        text = clean_text[:2_000]
        ascii_only = text.isascii()
        # The patterns have no groups: findall gives each whole match.
        found_words = (_ASCII_WORD_RE if ascii_only else _WORD_RE).findall(text)
        words = [word.rstrip(".") for word in found_words]
        # For ASCII words (letters, - ' .) folding is lower-casing; skip NFKC per word.
        folded = [w.lower() for w in words] if ascii_only else [fold(w) for w in words]
        found: set[str] = set()
        used: set[int] = set()
        lasts = self._lasts
        # Windows ending in some full name's last token, in the order of their start.
        ends = [i for i, word in enumerate(folded) if word in lasts] if lasts else []
        for size in range(self._max_len, 1, -1):
            for end in ends:
                i = end - size + 1
                if i < 0:
                    continue
                keys = self._match_full(tuple(folded[i : end + 1]))
                if keys:
                    found.update(keys)
                    used.update(range(i, end + 1))
        # Only a word that is a first name, or has a length one edit from a long one, can
        # match one (see _match_first).
        first, lengths = self._first, self._fuzzy_lengths
        for i, word in enumerate(folded):
            if (word in first or len(word) in lengths) and i not in used:
                key = self._match_first(words[i], word)
                if key is not None:
                    found.add(key)
        return tuple(sorted(found))

    def _match_full(self, window: tuple[str, ...]) -> set[str]:
        keys = self._full.get(window)
        if keys:
            return keys
        joined = " ".join(window)
        for tokens in self._by_last.get((len(window), window[-1]), ()):
            if Levenshtein.distance(" ".join(tokens), joined, score_cutoff=1) <= 1:
                return self._full[tokens]
        return set()

    def _match_first(self, word: str, folded: str) -> str | None:
        key = self._first.get(folded)
        if (
            key is None
            and len(folded) >= _MIN_FUZZY_FIRST_NAME
            and len(folded) in self._fuzzy_lengths
        ):
            key = self._fuzzy_first(folded)
        if key is None:
            return None
        if folded in _COMMON_WORD_NAMES and not word[:1].isupper():
            return None
        return key

    def _fuzzy_first(self, folded: str) -> str | None:
        hits = process.extract(
            folded, self._long_first, scorer=Levenshtein.distance, score_cutoff=1, limit=2
        )
        return self._first[hits[0][0]] if len(hits) == 1 else None
