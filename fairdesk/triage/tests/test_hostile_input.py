"""classify() must never raise, whatever arrives from the internet."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fairdesk.triage import FastTriage, check_tone
from fairdesk.triage.fast import UNREADABLE
from fairdesk.triage.normalise import MAX_CHARS, normalise
from fairdesk.triage.severity import severity_of

TRIAGE = FastTriage()

HOSTILE = [
    "",
    " ",
    "\r\n\r\n",
    "<script>alert('the app is not working')</script>Hi",
    "<img src=x onerror=alert(1)>my internet is not working",
    "my\u200b internet\u200d is\ufeff not\u2060 working",
    "caught\r\nfire",
    "A" * 100_000,
    "not working " * 10_000,
    "😡" * 3_000,
    "\x00\x01\x02 control chars \x7f",
    "\ud800 lone surrogate",
    "&lt;b&gt;refund&lt;/b&gt; &#0; &#xD800; &amp;&amp;&amp;",
    "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in "MY INTERNET IS NOT WORKING"),
    "@" * 500,
    "http://" + "a" * 5_000,
]


def test_hostile_inputs_classify_without_fallback() -> None:
    results = TRIAGE.classify(HOSTILE)
    assert len(results) == len(HOSTILE)
    assert [r is UNREADABLE for r in results] == [False] * len(HOSTILE)


def test_markup_and_invisible_characters_do_not_hide_signals() -> None:
    signals = [r.signals for r in TRIAGE.classify(HOSTILE[3:7])]
    assert signals == [(), ("service_down",), ("service_down",), ("safety",)]
    assert TRIAGE.classify([HOSTILE[13]])[0].signals == ("service_down",)


def test_script_content_is_dropped() -> None:
    assert normalise(HOSTILE[3]).folded == "hi"


def test_work_is_capped() -> None:
    assert len(normalise("A" * 100_000).clean) == MAX_CHARS


def test_non_string_items_are_treated_as_empty() -> None:
    results = TRIAGE.classify([None, 42])  # type: ignore[list-item]
    assert [severity_of(r) for r in results] == ["low", "low"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_classifies_and_tone_checks(text: str) -> None:
    [result] = TRIAGE.classify([text])
    assert result.sentiment in {"negative", "neutral", "positive"}
    assert -1.0 <= result.sentiment_score <= 1.0
    assert isinstance(check_tone(text).allowed, bool)
