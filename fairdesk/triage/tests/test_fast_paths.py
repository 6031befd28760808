"""Shortcuts taken for speed must give exactly what the plain forms give."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from fairdesk.triage import language, normalise
from fairdesk.triage.tests.corpora import airline_tweets, tweeteval_sentiment

# The forms before the shortcuts.
PLAIN_MENTION_RE = re.compile(r"(?<![\w@])@\w{1,30}")
QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "#": " "})
TRICKY = (
    "ab@c @@x a@b @_ é@x @é ``#`# \u2019\u2018\u02bc \uff20user \uff03tag \u00e9\u0301 İ ß @"
    + "x" * 40
)


def plain_fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(QUOTES)


def real_texts() -> list[str]:
    texts = [t for t, _ in tweeteval_sentiment(2_000)] + [t for t, _ in airline_tweets(2_000)]
    return [*texts, TRICKY, "", "@", "@@", "a@", "#", "`"]


def check(text: str) -> None:
    assert " ".join(text.split()) == re.sub(r"\s+", " ", text).strip()
    assert normalise.fold(text) == plain_fold(text)
    folded = normalise.fold(text)
    assert normalise._MENTION_RE.findall(folded) == PLAIN_MENTION_RE.findall(folded)
    assert [m.span() for m in normalise._MENTION_RE.finditer(text)] == [
        m.span() for m in PLAIN_MENTION_RE.finditer(text)
    ]
    assert language._ASCII_TOKEN_RE.findall(folded) == language._TOKEN_RE.findall(folded) or (
        not folded.isascii()
    )


def test_on_real_and_tricky_text() -> None:
    for text in real_texts():
        check(text)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("ab_1 @#`'\u2019é\u0301İ\uff20\n\t\x1c\x85\xa0\u2028\u3000\u200b"),
        max_size=40,
    )
)
def test_on_random_text(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=80))
def test_on_any_ascii_text(text: str) -> None:
    check(text)
    folded = normalise.normalise(text).folded
    assert language._ASCII_TOKEN_RE.findall(folded) == language._TOKEN_RE.findall(folded)
