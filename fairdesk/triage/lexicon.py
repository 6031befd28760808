"""Phrase lexicons over folded text, matched in one pass per text.

Python's ``re`` tries every alternative at every word start, so thirty phrase lists
searched one by one cost ~150 us per tweet. ``Lexicon`` instead indexes each phrase
fragment by the literal prefix (up to 8 characters) that every match of it must start
with, walks the text's word starts once, and runs ``fragment.match`` only where the
prefix occurs. Fragments without a literal prefix fall back to a full ``search``.
The prefixes are derived from the regex parse tree, so the index can't drift from the
fragments.

``find_all`` does the same for a whole batch with far fewer Python steps: the texts are
joined by ``"\n"`` (a folded text never contains one) and a regex scan, a trie of the
keys tried after each non-word character, reports each position where a key starts; Python
only runs there. A fragment match that runs past its own text's end (possible only through
a class that matches a newline, such as ``\\s``) sends that text back to
:meth:`Lexicon.find`; fragments with anchors or lookarounds of their own, whose result could
depend on the neighbouring text, are searched text by text. A test compares ``find_all``
with ``find`` on real tweets and random text.
"""

from __future__ import annotations

import importlib
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import accumulate, chain
from typing import Any

# The regex parser's internals (to derive literal prefixes from a pattern's parse tree);
# imported by name so type checkers treat them as the untyped modules they are.
sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

# Folded text spells negations several ways; fragments use these to stay short.
CANT = r"(?:can'?t|cannot|can not|unable to|couldn'?t)"
NEG = r"(?:not|isn'?t|aren'?t|doesn'?t|don'?t|won'?t|wasn'?t|weren'?t|ain'?t|never)"

# Longer keys are tried at fewer places where no fragment then matches: on 10,000 tweets
# 5 characters gave 30,346 places and 6.0 us a tweet, 8 give 15,743 and 5.0 us (10: 4.9 us,
# but twice the 0.14 s it takes to build the index at import).
KEY_LEN = 8


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


_CLASSES = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_WORD: r"\w", sre.CATEGORY_SPACE: r"\s"}


def _first_chars(items: Sequence[Any]) -> str | None:
    """The body of a character class holding every character a match of ``items`` can
    start with; None when unknown (or when it can match the empty string)."""
    for index, (op, arg) in enumerate(items):
        rest = items[index + 1 :]
        if op is sre.LITERAL:
            return re.escape(chr(arg))
        if op is sre.IN:
            return _class_body(arg)
        if op is sre.SUBPATTERN:
            return _first_chars([*arg[-1], *rest])
        if op is sre.BRANCH:
            return _join_classes(_first_chars([*branch, *rest]) for branch in arg[1])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and arg[0] == 0:
            return _join_classes([_first_chars([*arg[2], *rest]), _first_chars(rest)])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            return _first_chars(list(arg[2]))
        if op not in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):  # zero-width: look past them
            return None
    return None


def _class_body(items: Sequence[Any]) -> str | None:
    parts = []
    for op, arg in items:
        if op is sre.LITERAL:
            parts.append(re.escape(chr(arg)))
        elif op is sre.RANGE:
            parts.append(f"{re.escape(chr(arg[0]))}-{re.escape(chr(arg[1]))}")
        elif op is sre.CATEGORY and arg in _CLASSES:
            parts.append(_CLASSES[arg])
        else:  # a negated class, say
            return None
    return "".join(parts)


def _join_classes(parts: Iterable[str | None]) -> str | None:
    joined = ""
    for part in parts:
        if part is None:
            return None
        joined += part
    return joined


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
        self._batch = _BatchIndex(self._by_key, self._unkeyed)

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

    def find_all(self, folded: Sequence[str]) -> list[set[str]]:
        """``[self.find(text) for text in folded]``, for a batch at once."""
        return self._batch.find_all(folded, self.find)


class _BatchIndex:
    """The batch form of a :class:`Lexicon`'s index (see the module docstring)."""

    def __init__(
        self,
        by_key: Mapping[str, tuple[tuple[str, re.Pattern[str]], ...]],
        unkeyed: Sequence[tuple[str, re.Pattern[str]]],
    ) -> None:
        # A key's candidates include those of every key that is a prefix of it, because
        # the trie regex reports only the longest key starting at a position.
        pairs = [*(pair for pairs in by_key.values() for pair in pairs), *unkeyed]
        free = {compiled: _context_free(compiled) for _, compiled in pairs}
        self._candidates = {
            key: tuple(
                (label, compiled)
                for size in range(1, len(key) + 1)
                for label, compiled in by_key.get(key[:size], ())
                if free[compiled]
            )
            for key in by_key
        }
        # Where keys start, with the longest key there as group 1: a key of word characters
        # at the start of the batch or just after a non-word character, a key of symbols at
        # one of its first characters. Each scan is led by a character class, so ``re``
        # skips in C to the few places worth trying (one lookahead tried at every position
        # took about 1.5x as long). The class is "not an ASCII word character", a table
        # look-up where ``\W`` asks Unicode's categories (2.3 -> 1.9 us a tweet): it also
        # stops after a non-ASCII letter, where every fragment's own ``(?<!\w)`` fails.
        word = _trie([k for k in by_key if _is_word(k[0])])
        other = [k for k in by_key if not _is_word(k[0])]
        self._first = re.compile(f"({word})") if word else None
        self._scans = [re.compile(f"[^a-zA-Z0-9_](?=({word}))")] if word else []
        if other:
            symbols = "".join(sorted({re.escape(k[0]) for k in other}))
            self._scans.append(re.compile(f"[{symbols}](?<=(?=({_trie(other)})).)"))
        # Fragments without a literal key: where their first character is known, one scan
        # for those characters finds every place one of them matches (a pattern led by a
        # character class lets ``re`` skip ahead in C; the fragments are tried there in C
        # too, as most digits at a word start begin none of them); the rest are searched
        # whole.
        firsts = {c: _first_chars(list(sre_parse.parse(_unbounded(c)))) for _, c in unkeyed}
        started = [(label, c) for label, c in unkeyed if free[c] and firsts[c]]
        self._started = tuple(started)
        chars = "".join(sorted({firsts[c] or "" for _, c in started}))
        anywhere = "|".join(f"(?:{c.pattern})" for _, c in started)
        self._starts = re.compile(f"[{chars}](?<=(?={anywhere}).)") if started else None
        self._unkeyed = tuple(
            (label, c) for label, c in unkeyed if free[c] and (label, c) not in started
        )
        self._per_text = tuple((label, c) for label, c in pairs if not free[c])

    def find_all(
        self, folded: Sequence[str], find_one: Callable[[str], set[str]]
    ) -> list[set[str]]:
        # A text holding the separator itself is left to find_one (folded text never does).
        redo = {row for row, text in enumerate(folded) if "\n" in text}
        pieces = ["" if row in redo else text for row, text in enumerate(folded)]
        joined = "\n".join(pieces)
        ends = list(accumulate(len(piece) + 1 for piece in pieces))  # one past each "\n"
        found: list[set[str]] = [set() for _ in folded]
        first = self._first.match(joined) if self._first is not None else None
        scans = (scan.finditer(joined) for scan in self._scans)
        for hit in chain([first] if first else (), *scans):
            start = hit.start(1)
            row = bisect_right(ends, start)
            for label, compiled in self._candidates[hit.group(1)]:
                if label not in found[row]:
                    match = compiled.match(joined, start)
                    if match is not None:
                        _record(label, match, row, ends, found, redo)
        if self._starts is not None:
            for hit in self._starts.finditer(joined):
                start = hit.start()
                row = bisect_right(ends, start)
                for label, compiled in self._started:
                    if label not in found[row]:
                        match = compiled.match(joined, start)
                        if match is not None:
                            _record(label, match, row, ends, found, redo)
        for label, compiled in self._unkeyed:
            for match in compiled.finditer(joined):
                _record(label, match, bisect_right(ends, match.start()), ends, found, redo)
        for label, compiled in self._per_text:
            for row, text in enumerate(folded):
                if label not in found[row] and compiled.search(text):
                    found[row].add(label)
        for row in redo:
            found[row] = find_one(folded[row])
        return found


def _record(
    label: str,
    match: re.Match[str] | None,
    row: int,
    ends: list[int],
    found: list[set[str]],
    redo: set[int],
) -> None:
    """Note ``label`` for ``row``, or send every text a cross-text match touched to redo."""
    if match is None:
        return
    if match.end() < ends[row]:
        found[row].add(label)
        return
    last = min(bisect_right(ends, match.end() - 1), len(ends) - 1)
    redo.update(range(row, last + 1))


def _trie(keys: Iterable[str]) -> str:
    """A regex matching the longest of ``keys`` at a position (greedy optional tails)."""
    root: dict[str, Any] = {}
    for key in keys:
        node = root
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


_CONTEXT_FREE_AT = (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY)


def _context_free(compiled: re.Pattern[str]) -> bool:
    """True when the fragments inside :func:`bounded` have no anchors or lookarounds of
    their own, so a match depends only on the characters it covers (and the word boundary
    around it, which a newline gives as a text's start or end would)."""
    return _no_context(sre_parse.parse(_unbounded(compiled)))


def _no_context(items: Iterable[Any]) -> bool:
    for op, arg in items:
        if op in (sre.ASSERT, sre.ASSERT_NOT) or (op is sre.AT and arg not in _CONTEXT_FREE_AT):
            return False
        for child in _children(op, arg):
            if not _no_context(child):
                return False
    return True


def _children(op: Any, arg: Any) -> list[Any]:
    if op is sre.SUBPATTERN:
        return [arg[-1]]
    if op is sre.BRANCH:
        return list(arg[1])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        return [arg[2]]
    if op is sre.ATOMIC_GROUP:
        return [arg]
    return []


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
