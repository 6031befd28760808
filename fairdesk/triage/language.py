"""Cheap English detector: share of common English function words among the tokens."""

from __future__ import annotations

import re

_TOKEN_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# The same tokens in ASCII text, where a letter is [a-zA-Z]: a plain class is quicker for
# ``re`` than the negated one above.
_ASCII_TOKEN_RE = re.compile(r"[a-zA-Z]+(?:'[a-zA-Z]+)?")
_ENGLISH_WORDS = (
    "the a an and or but of to in on at for with from by is are was were be been am i "
    "you he she it we they me my your our their this that these those not no do does did "
    "have has had can can't cannot will would should could just so what why how when "
    "where who there here if as about get got still again any all up out please thanks "
    "thank hi hello don't didn't isn't won't it's i'm i've you're"
)
_ENGLISH = frozenset(_ENGLISH_WORDS.split())
_MIN_SHARE = 0.15


def detect_language(folded: str) -> str:
    """``"en"`` when enough tokens are English function words, else ``"und"``."""
    head = folded[:1_000]
    tokens = (_ASCII_TOKEN_RE if head.isascii() else _TOKEN_RE).findall(head)
    if not tokens:
        return "und"
    hits = sum(map(_ENGLISH.__contains__, tokens))
    return "en" if hits >= 1 and hits / len(tokens) >= _MIN_SHARE else "und"
