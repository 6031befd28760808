"""Fairness is a correctness property: loudness must not move severity, signals or topic.

Hypothesis shouts, repeats and pads ~30 realistic texts with angry or reach-based filler
and asserts that what decides queue position is unchanged (DESIGN.md section 5).
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from fairdesk.triage import FastTriage, TriageResult
from fairdesk.triage.severity import severity_of

BASE_TEXTS = [
    "Your debug panel is public at https://shop.example/debug, anyone can see orders",
    "I found a security vulnerability in your password reset flow",
    "Possible SQL injection on the search page, happy to share details privately",
    "My dryer caught fire this morning, the kids are fine but the kitchen is a mess",
    "There is a strong gas smell since your engineer visited yesterday",
    "Is the website down for everyone else? Nobody in my office can log in",
    "Major outage in Leeds, no internet since 6am",
    "My broadband is not working again, third time this week",
    "The app crashes every time I try to pay",
    "You charged me twice for my March bill",
    "Still waiting for my refund from the cancelled flight",
    "I will be talking to my lawyer about this",
    "My parcel never arrived and tracking says delivered",
    "How do I reset my password?",
    "Can you tell me when the sale starts?",
    "Please cancel my subscription from next month",
    "The technician didn't show up for the repair appointment",
    "My suitcase is missing after flight BA117",
    "The API webhook stopped sending events after your update",
    "I'd like to change the email address on my account",
    "Huge thanks to Maria on flight AC123, she was so kind to my kids",
    "Love the new app design, great job",
    "Kudos to the support team, sorted in five minutes",
    "The new menu is a bit confusing to be honest",
    "Why is my invoice higher than last month?",
    "My boiler is leaking water onto the floor",
    "Delivery driver left my package in the rain",
    "I got locked out of my account after the update",
    "The checkout page is not loading on my phone",
    "Your courier damaged my new TV",
]
FILLER = [
    "This is ridiculous!!!",
    "WORST SERVICE EVER",
    "I have 200k followers",
    "@everyone look at this",
    "Absolutely furious right now.",
    "Unbelievable. Just unbelievable",
    "RT if you agree",
    "😡😡😡",
]


def decisive(result: TriageResult) -> tuple[str, tuple[str, ...], str]:
    return severity_of(result), result.signals, result.topic


@st.composite
def louder(draw: st.DrawFn, text: str) -> str:
    """The same message, shouted, repeated and padded in random ways."""
    if draw(st.booleans()):
        text = text.upper()
    if draw(st.booleans()):
        text = text.rstrip(".!?") + "!" * draw(st.integers(1, 8))
    text = " ".join([text] * draw(st.integers(1, 3)))
    extra = draw(st.lists(st.sampled_from(FILLER), max_size=4))
    if draw(st.booleans()):
        extra = [e.upper() for e in extra]
    return " ".join([text, *extra])


TRIAGE = FastTriage()
BASELINE = {text: decisive(TRIAGE.classify([text])[0]) for text in BASE_TEXTS}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), index=st.integers(0, len(BASE_TEXTS) - 1))
def test_loudness_does_not_change_severity_signals_or_topic(
    data: st.DataObject, index: int
) -> None:
    text = BASE_TEXTS[index]
    loud = data.draw(louder(text))
    assert decisive(TRIAGE.classify([loud])[0]) == BASELINE[text]


def test_baseline_covers_every_severity() -> None:
    severities = {severity for severity, _, _ in BASELINE.values()}
    assert severities == {"critical", "high", "normal", "low"}


def test_severity_ignores_sentiment() -> None:
    calm = TRIAGE.classify(["My broadband is not working again"])[0]
    furious = TRIAGE.classify(["My broadband is not working again, you disgusting awful crooks"])[0]
    assert calm.sentiment_score > furious.sentiment_score
    assert decisive(calm) == decisive(furious) == ("high", ("service_down",), "other")


def test_severity_reads_only_what_is_wrong() -> None:
    base = TRIAGE.classify(["You charged me twice for my March bill"])[0]
    variants = [
        replace(base, sentiment="negative", sentiment_score=-1.0),
        replace(base, sentiment="positive", sentiment_score=1.0),
        replace(base, stance="detracts", offensive=True, spam=True, spam_reason="promotion"),
        replace(base, praise=True, praised_staff=("7",), language="und"),
    ]
    assert [severity_of(v) for v in variants] == ["high"] * 4
