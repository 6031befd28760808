"""Phrase lexicons over folded text, matched in one pass per text.

Python's ``re`` tries every alternative at every word start, so thirty phrase lists
searched one by one cost ~150 us per tweet. ``Lexicon`` instead indexes each phrase
fragment by the literal prefix (up to 5 characters) that every match of it must start
with, walks the text's word starts once, and runs ``fragment.match`` only where the
prefix occurs. Fragments without a literal prefix fall back to a full ``search``.
The prefixes are derived from the regex parse tree, so the index can't drift from the
fragments.
"""

from __future__ import annotations

import importlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The regex parser's internals (to derive literal prefixes from a pattern's parse tree);
# imported by name so type checkers treat them as the untyped modules they are.
sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

# Folded text spells negations several ways; fragments use these to stay short.
CANT = r"(?:can'?t|cannot|can not|unable to|couldn'?t)"
NEG = r"(?:not|isn'?t|aren'?t|doesn'?t|don'?t|won'?t|wasn'?t|weren'?t|ain'?t|never)"

KEY_LEN = 5


def bounded(fragment: str) -> str:
    return rf"(?<!\w)(?:{fragment})(?!\w)"


def phrases(fragments: Iterable[str]) -> re.Pattern[str]:
    """One alternation, each fragment bounded by non-word characters on both sides."""
    return re.compile(bounded("|".join(f"(?:{fragment})" for fragment in fragments)))


def _unbounded(pattern: re.Pattern[str]) -> str:
    head, tail = "(?<!\\w)(?:", ")(?!\\w)"
    text = pattern.pattern
    if not (text.startswith(head) and text.endswith(tail)):
        raise ValueError("Lexicon takes patterns built by phrases()")
    return text[len(head) : -len(tail)]


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _extend(acc: str, char: str) -> tuple[str, bool]:
    """Add ``char`` to a key; the bool says the key is complete."""
    acc += char
    return acc, len(acc) >= KEY_LEN


def _prefixes(items: Sequence[Any], acc: str = "") -> set[str] | None:
    """Literal keys every match of ``items`` starts with; None when there is none."""
    for index, (op, arg) in enumerate(items):
        rest = items[index + 1 :]
        if op is sre.LITERAL:
            acc, done = _extend(acc, chr(arg))
            if done:
                return {acc}
        elif op is sre.SUBPATTERN:
            return _prefixes([*arg[-1], *rest], acc)
        elif op is sre.BRANCH:
            return _union(_prefixes([*branch, *rest], acc) for branch in arg[1])
        elif op is sre.IN and all(kind is sre.LITERAL for kind, _ in arg) and len(arg) <= 4:
            return _union(_prefixes([(sre.LITERAL, c), *rest], acc) for _, c in arg)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and arg[0] == 0:
            return _union([_prefixes([*arg[2], *rest], acc), _prefixes(rest, acc)])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            return _prefixes(list(arg[2]), acc)
        elif op not in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            break
    return {acc} if acc else None


def _union(parts: Iterable[set[str] | None]) -> set[str] | None:
    keys: set[str] = set()
    for part in parts:
        if part is None:
            return None
        keys |= part
    return keys


def literal_prefixes(fragment: str) -> set[str] | None:
    return _prefixes(list(sre_parse.parse(fragment)))


class Lexicon:
    """Labels whose fragments occur in a folded text, found in one pass."""

    def __init__(self, entries: Mapping[str, Sequence[re.Pattern[str]]]) -> None:
        """``entries`` maps a label to patterns built by :func:`phrases`."""
        grouped: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        unkeyed: dict[str, list[str]] = defaultdict(list)
        for label, patterns in entries.items():
            for pattern in patterns:
                for alternative in _alternatives(pattern):
                    keys = literal_prefixes(alternative)
                    for key in keys or ():
                        grouped[key][label].append(alternative)
                    if keys is None:
                        unkeyed[label].append(alternative)
        self._by_key = {
            key: tuple((label, _compile(alts)) for label, alts in labels.items())
            for key, labels in grouped.items()
        }
        self._unkeyed = tuple((label, _compile(alts)) for label, alts in unkeyed.items())
        lengths: dict[str, set[int]] = defaultdict(set)
        for key in self._by_key:
            lengths[key[0]].add(len(key))
        self._lengths = {first: tuple(sorted(found)) for first, found in lengths.items()}
        symbols = "".join(sorted({re.escape(k[0]) for k in self._by_key if not _is_word(k[0])}))
        self._starts = re.compile(r"(?<!\w)\w" + (f"|[{symbols}]" if symbols else ""))

    def find(self, folded: str) -> set[str]:
        found: set[str] = set()
        by_key, lengths = self._by_key, self._lengths
        for start in self._starts.finditer(folded):
            pos = start.start()
            for length in lengths.get(start.group(0), ()):
                for label, compiled in by_key.get(folded[pos : pos + length], ()):
                    if label not in found and compiled.match(folded, pos):
                        found.add(label)
        for label, compiled in self._unkeyed:
            if label not in found and compiled.search(folded):
                found.add(label)
        return found


def _compile(alternatives: list[str]) -> re.Pattern[str]:
    return re.compile(bounded("|".join(f"(?:{a})" for a in alternatives)))


def _alternatives(pattern: re.Pattern[str]) -> list[str]:
    """The fragments :func:`phrases` joined, each split at its own top-level bars."""
    return [
        alternative
        for wrapped in _top_level_alternatives(_unbounded(pattern))
        for alternative in _top_level_alternatives(wrapped[3:-1])  # unwrap "(?:...)"
    ]


def _top_level_alternatives(fragment: str) -> list[str]:
    """Split ``a|b|(?:c|d)`` at its top-level bars (respecting groups and classes)."""
    parts: list[str] = []
    current: list[str] = []
    depth, escaped, in_class = 0, False, False
    for char in fragment:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts
