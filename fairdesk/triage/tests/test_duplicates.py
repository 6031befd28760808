from __future__ import annotations

import pytest

from fairdesk.triage import NearDuplicateIndex
from fairdesk.triage.tests.corpora import airline_tweets

OUTAGE = "Is the app down for everyone? I can't log in since 9am and my meeting starts soon"


def test_near_duplicate_returns_earlier_key() -> None:
    index = NearDuplicateIndex()
    assert index.add("a", OUTAGE) is None
    assert index.add("b", "My parcel never arrived and tracking says delivered") is None
    assert index.add("c", OUTAGE.upper() + "!!!") == "a"
    assert index.add("d", "@acme " + OUTAGE + " https://t.co/xyz") == "a"
    assert len(index) == 2  # copies point at the first text of their cluster, not indexed


def test_different_texts_are_not_duplicates() -> None:
    index = NearDuplicateIndex()
    assert index.add("a", OUTAGE) is None
    assert index.add("b", "Is the website down for anyone? Nobody can pay for groceries") is None


def test_window_evicts_oldest() -> None:
    index = NearDuplicateIndex(max_items=2)
    index.add("a", OUTAGE)
    index.add("b", "Completely unrelated message about a broken heater in flat 4")
    index.add("c", "Another unrelated one about a refund for order 5521")
    assert len(index) == 2
    assert index.add("d", OUTAGE) is None  # "a" was evicted


def test_readding_a_key_replaces_it() -> None:
    index = NearDuplicateIndex()
    index.add("a", OUTAGE)
    assert index.add("a", OUTAGE) is None
    assert len(index) == 1


@pytest.mark.parametrize("text", ["", "   ", "!!!", "@user https://t.co/x"])
def test_texts_without_content_are_ignored(text: str) -> None:
    index = NearDuplicateIndex()
    assert index.add("a", text) is None
    assert len(index) == 0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        NearDuplicateIndex(threshold=0)
    with pytest.raises(ValueError):
        NearDuplicateIndex(max_items=0)


def test_finds_the_copies_in_real_tweets() -> None:
    # Speed is measured by `python -m fairdesk.triage.benchmark`, never asserted here.
    texts = [text for text, _ in airline_tweets(3_000)]
    index = NearDuplicateIndex()
    matches = sum(index.add(str(i), text) is not None for i, text in enumerate(texts))
    assert 20 <= matches <= 300  # the airline set has retweets and copy-paste complaints
