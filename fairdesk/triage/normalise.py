"""One cleaning pass per text: cap length, strip markup and invisible characters, fold case.

``clean`` keeps the writer's casing (VADER and the tone guard need it); ``folded`` is
case-folded, NFKC-normalised and has URLs and mentions replaced by placeholders, so the
lexicon rules see the same string however loud the original was.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

MAX_CHARS = 5_000
URL_TOKEN = "<url>"  # noqa: S105 (a placeholder, not a secret)
MENTION_TOKEN = "@@"  # noqa: S105

_SCRIPT_RE = re.compile(r"<(script|style)\b[^>]{0,500}>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[a-zA-Z/!][^<>]{0,500}>")
# Zero-width, bidi controls, BOM, soft hyphen and C0/C1 controls (except whitespace).
_INVISIBLE_RE = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]"
)
_URL_RE = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|net|org|io|ly|co)/\S*", re.I)
# "@" not preceded by a word character or another "@": the "@" comes first in the pattern,
# so ``re`` skips ahead to each "@" in C rather than trying the lookbehind everywhere.
_MENTION_RE = re.compile(r"@(?<![\w@]@)\w{1,30}")
_SPACE_RE = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "#": " "})


@dataclass(frozen=True, slots=True)
class Normalised:
    """A text after the single cleaning pass."""

    clean: str
    folded: str
    url_count: int
    mention_count: int


def strip_markup(text: str) -> str:
    """Remove scripts, tags, entities and invisible characters; cap the length."""
    text = text[: MAX_CHARS * 2]
    if "<" in text:
        text = _TAG_RE.sub(" ", _SCRIPT_RE.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    if not (text.isascii() and text.isprintable()):
        text = _SPACE_RE.sub(" ", _INVISIBLE_RE.sub("", text))
    elif "  " in text:
        text = _SPACE_RE.sub(" ", text)
    return text[:MAX_CHARS].strip()


def fold(text: str) -> str:
    """NFKC + case folding + apostrophe unification (no placeholder handling)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii():
        return folded.translate(_QUOTES)
    # ASCII holds only two of the _QUOTES keys; str.replace is far quicker than translate
    if "`" in folded:
        folded = folded.replace("`", "'")
    if "#" in folded:
        folded = folded.replace("#", " ")
    return folded


def normalise(text: str) -> Normalised:
    """Clean ``text`` once for every downstream rule."""
    clean = strip_markup(text)
    folded = fold(clean)
    url_count = mention_count = 0
    if "/" in folded or "www." in folded:
        folded, url_count = _URL_RE.subn(f" {URL_TOKEN} ", folded)
    if "@" in folded:
        folded, mention_count = _MENTION_RE.subn(f" {MENTION_TOKEN} ", folded)
    if url_count or mention_count or "  " in folded:
        # = _SPACE_RE.sub(" ", folded).strip(): str.split() and \s agree on whitespace
        folded = " ".join(folded.split())
    return Normalised(clean, folded, url_count, mention_count)
