"""The one-pass prefix index must find exactly what plain ``re.search`` finds."""

from __future__ import annotations

import pytest

from fairdesk.triage import abuse, intent, signals, spam, stance, topics
from fairdesk.triage.fast import LEXICON
from fairdesk.triage.lexicon import Lexicon, literal_prefixes, phrases
from fairdesk.triage.normalise import normalise
from fairdesk.triage.tests.corpora import airline_tweets, sms_spam, tweeteval_sentiment

ENTRIES = {
    **signals.LEXICON_ENTRIES,
    **topics.LEXICON_ENTRIES,
    **intent.LEXICON_ENTRIES,
    **stance.LEXICON_ENTRIES,
    **spam.LEXICON_ENTRIES,
    **abuse.LEXICON_ENTRIES,
}


@pytest.mark.parametrize(
    ("fragment", "keys"),
    [
        (r"(?:highly |strongly )?recommend(?:ed|ing)?", {"highl", "stron", "recom"}),
        (r"is (?:it )?down", {"is it", "is do"}),
        (r"[$£€]\s?\d", {"$", "£", "€"}),
        (r"fu+c*k+\w*", {"fu"}),
        (r"(?:oh|yeah),? (?:great|sure)", {"oh, g", "oh, s", "oh gr", "oh su", "yeah,", "yeah "}),
        (r"\d+p ?/ ?min", None),
    ],
)
def test_literal_prefixes(fragment: str, keys: set[str] | None) -> None:
    assert literal_prefixes(fragment) == keys


def test_lexicon_labels() -> None:
    lexicon = Lexicon({"fire": [phrases([r"caught fire"])], "money": [phrases([r"\$\d+"])]})
    assert lexicon.find("it caught fire, cost $300") == {"fire", "money"}
    assert lexicon.find("i'm fired up, caughtfire") == set()


def test_index_matches_plain_search_on_real_text() -> None:
    texts = [t for t, _ in tweeteval_sentiment(2_000)]
    texts += [t for t, _ in airline_tweets(5_000)] + [t for t, _ in sms_spam()]
    mismatches = []
    for text in texts:
        folded = normalise(text).folded
        expected = {label for label, rxs in ENTRIES.items() if any(rx.search(folded) for rx in rxs)}
        if LEXICON.find(folded) != expected:
            mismatches.append(folded)
    assert mismatches == []
