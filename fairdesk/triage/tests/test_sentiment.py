from __future__ import annotations

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from fairdesk.triage import sentiment
from fairdesk.triage.normalise import normalise
from fairdesk.triage.tests.corpora import airline_tweets, tweeteval_sentiment


def test_fast_path_scores_equal_stock_vader() -> None:
    stock = SentimentIntensityAnalyzer()
    texts = [t for t, _ in tweeteval_sentiment(2_000)] + [t for t, _ in airline_tweets(3_000)]
    texts += ["Kind of ok", "I am kind", "The book was kind of good.", "   padded  ", "NOT GOOD!!!"]
    cleaned = [normalise(text).clean for text in texts]
    differing = [t for t in cleaned if sentiment.score(t) != stock.polarity_scores(t)["compound"]]
    assert differing == []


@pytest.mark.parametrize(
    ("compound", "label"),
    [(0.9, "positive"), (0.4, "positive"), (0.2, "neutral"), (0.0, "neutral"), (-0.05, "negative")],
)
def test_label_bounds(compound: float, label: str) -> None:
    assert sentiment.label(compound) == label


def test_empty_text_is_neutral() -> None:
    assert sentiment.score("") == 0.0
