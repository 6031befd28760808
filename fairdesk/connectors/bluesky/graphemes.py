"""Counting user-perceived characters (extended grapheme clusters), as Bluesky limits them.

A post's text may hold at most 300 graphemes (``app.bsky.feed.post`` lexicon:
``maxGraphemes: 300``), a chat message 1,000. Python's standard library has no grapheme
segmentation, so this follows the boundary rules of Unicode UAX #29 with properties
taken from ``unicodedata``: CR LF, controls, combining marks and other extenders
(variation selectors, emoji skin-tone modifiers, tag characters), zero-width-joiner emoji
sequences, regional-indicator flag pairs and Hangul syllable sequences each count as one.

Known simplification: the Indic conjunct rule of Unicode 15.1 (GB9c) is not applied, so
a conjunct such as "क्ष" counts as two, never fewer than the platform counts: a text this
module accepts is never over the platform's limit because of it.
"""

import unicodedata
from enum import Enum, auto


class _Kind(Enum):
    CR = auto()
    LF = auto()
    CONTROL = auto()
    EXTEND = auto()
    ZWJ = auto()
    REGIONAL = auto()
    SPACING_MARK = auto()
    L = auto()
    V = auto()
    T = auto()
    LV = auto()
    LVT = auto()
    PICTOGRAPHIC = auto()
    OTHER = auto()


_PICTOGRAPHIC_EXTRA = frozenset({0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D})
_BREAK_AFTER = frozenset({_Kind.CR, _Kind.LF, _Kind.CONTROL})
_HANGUL_FOLLOWS = {
    _Kind.L: frozenset({_Kind.L, _Kind.V, _Kind.LV, _Kind.LVT}),
    _Kind.LV: frozenset({_Kind.V, _Kind.T}),
    _Kind.V: frozenset({_Kind.V, _Kind.T}),
    _Kind.LVT: frozenset({_Kind.T}),
    _Kind.T: frozenset({_Kind.T}),
}


def count(text: str) -> int:
    """How many grapheme clusters ``text`` holds."""
    clusters = 0
    previous: _Kind | None = None
    regional_run = 0  # regional indicators just before this character (flags pair up)
    emoji_sequence = False  # the characters so far match Extended_Pictographic Extend* ZWJ?
    for char in text:
        kind = _kind(char)
        if previous is None or _breaks(previous, kind, regional_run, emoji_sequence):
            clusters += 1
        regional_run = regional_run + 1 if kind is _Kind.REGIONAL else 0
        emoji_sequence = _continues_emoji(previous, kind, emoji_sequence)
        previous = kind
    return clusters


def _continues_emoji(previous: _Kind | None, kind: _Kind, emoji_sequence: bool) -> bool:
    """Track GB11's left side, ``Extended_Pictographic Extend* ZWJ``, one character on."""
    if kind is _Kind.PICTOGRAPHIC:
        return True
    if kind in (_Kind.EXTEND, _Kind.ZWJ):
        return emoji_sequence and previous is not _Kind.ZWJ
    return False


def _breaks(previous: _Kind, kind: _Kind, regional_run: int, emoji_sequence: bool) -> bool:
    """Whether a cluster boundary lies between ``previous`` and ``kind`` (UAX #29 GB3 to GB999)."""
    if previous is _Kind.CR and kind is _Kind.LF:
        return False
    if previous in _BREAK_AFTER or kind in _BREAK_AFTER:
        return True
    if kind in _HANGUL_FOLLOWS.get(previous, ()):
        return False
    if kind in (_Kind.EXTEND, _Kind.ZWJ, _Kind.SPACING_MARK):
        return False
    if previous is _Kind.ZWJ and kind is _Kind.PICTOGRAPHIC and emoji_sequence:
        return False
    return not (previous is _Kind.REGIONAL and kind is _Kind.REGIONAL and regional_run % 2 == 1)


def _kind(char: str) -> _Kind:
    code = ord(char)
    special = _special(code)
    if special is not None:
        return special
    category = unicodedata.category(char)
    if category in ("Mn", "Me") or _is_extender(code):
        return _Kind.EXTEND
    if category == "Mc":
        return _Kind.SPACING_MARK
    if category in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return _Kind.CONTROL
    if category == "So" or code in _PICTOGRAPHIC_EXTRA or 0x1F000 <= code <= 0x1FAFF:
        return _Kind.PICTOGRAPHIC
    return _Kind.OTHER


def _special(code: int) -> _Kind | None:
    """CR, LF, ZWJ, regional indicators and Hangul jamo/syllables, by code point."""
    if code == 0x0D:
        return _Kind.CR
    if code == 0x0A:
        return _Kind.LF
    if code == 0x200D:
        return _Kind.ZWJ
    if 0x1F1E6 <= code <= 0x1F1FF:
        return _Kind.REGIONAL
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return _Kind.L
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return _Kind.V
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return _Kind.T
    if 0xAC00 <= code <= 0xD7A3:
        return _Kind.LV if (code - 0xAC00) % 28 == 0 else _Kind.LVT
    return None


def _is_extender(code: int) -> bool:
    """Grapheme_Extend characters outside categories Mn/Me: ZWNJ, variation selectors,
    emoji skin-tone modifiers and tag characters (emoji flag sequences)."""
    return (
        code == 0x200C
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )
