"""The one-pass prefix index must find exactly what plain ``re.search`` finds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
        (r"(?:highly |strongly )?recommend(?:ed|ing)?", {"highly r", "strongly", "recommen"}),
        (r"is (?:it )?down", {"is it do", "is down"}),
        (r"[$£€]\s?\d", {"$", "£", "€"}),
        (r"fu+c*k+\w*", {"fu"}),
        (
            r"(?:oh|yeah),? (?:great|sure)",
            {"oh great", "oh sure", "oh, grea", "oh, sure"}
            | {"yeah gre", "yeah sur", "yeah, gr", "yeah, su"},
        ),
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


def test_batch_finds_what_each_text_finds_on_real_text() -> None:
    texts = [t for t, _ in tweeteval_sentiment(2_000)]
    texts += [t for t, _ in airline_tweets(5_000)] + [t for t, _ in sms_spam()]
    folded = [normalise(text).folded for text in texts]
    assert LEXICON.find_all(folded) == [LEXICON.find(text) for text in folded]


# Texts whose matches could run into the next text if the batch were matched naively.
ACROSS = ["win $", "5 reward now", "£", "100 prize", "50p /", "min", "", "you have", "won a prize"]


def test_batch_keeps_texts_apart() -> None:
    assert LEXICON.find_all(ACROSS) == [LEXICON.find(text) for text in ACROSS]
    assert LEXICON.find_all([]) == []
    lexicon = Lexicon({"money": [phrases([r"\$\s?\d+"])], "up": [phrases([r"fired up"])]})
    assert lexicon.find_all(["pay $", "5 now", "fired", "up"]) == [set(), set(), set(), set()]
    assert lexicon.find_all(["a\nfired up", "$ 5"]) == [{"up"}, {"money"}]


def test_a_key_after_a_non_ascii_letter_is_inside_a_word() -> None:
    # The batch scan stops after any character outside [a-zA-Z0-9_]; the fragment's own
    # boundary must reject the places where that character is a letter.
    lexicon = Lexicon({"fire": [phrases([r"caught fire"])], "won": [phrases([r"ünter"])]})
    texts = ["écaught fire", "é caught fire", "1caught fire", "dünter", "-ünter", "ßünter"]
    assert lexicon.find_all(texts) == [set(), {"fire"}, set(), set(), {"won"}, set()]
    assert lexicon.find_all(texts) == [lexicon.find(t) for t in texts]


def test_fragments_with_lookarounds_are_matched_text_by_text() -> None:
    lexicon = Lexicon(
        {
            "ends": [phrases([r"done(?=\s*$)"])],
            "starts": [phrases([r"^hello"])],
            "plain": [phrases([r"hello"])],
        }
    )
    texts = ["all done", "hello", "done\nhello", "say hello", "done now"]
    assert lexicon.find_all(texts) == [lexicon.find(t) for t in texts]
    assert lexicon.find_all(texts)[:2] == [{"ends"}, {"starts", "plain"}]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab $£5\n0p/ mnrewzidé!'", max_size=25), max_size=12))
def test_batch_equals_text_by_text_on_random_text(texts: list[str]) -> None:
    folded = [normalise(text).folded for text in texts]
    assert LEXICON.find_all(folded) == [LEXICON.find(text) for text in folded]
    assert LEXICON.find_all(texts) == [LEXICON.find(text) for text in texts]


@pytest.mark.parametrize(
    ("fragment", "first"),
    [
        (r"(?:[$£€]\s?[\d,]+ ?|\d+ ?(?:pounds|dollars) )(?:reward|prize)", r"\$£€\d"),
        (r"\d+% off", r"\d"),
        (r"(?:x)?\d+p", r"x\d"),
        (r"[a-c_]z|q", "a-c_q"),
        (r"[^a]x", None),  # a negated class: searched whole
        (r"\W+x", None),
        (r"a?", None),  # can match nothing
    ],
)
def test_first_characters_of_unkeyed_fragments(fragment: str, first: str | None) -> None:
    from fairdesk.triage import lexicon

    assert lexicon._first_chars(list(lexicon.sre_parse.parse(fragment))) == first


def test_unkeyed_fragments_found_from_their_first_characters() -> None:
    assert {label for label, _ in LEXICON._batch._started} == {
        "spam:prize scam",
        "spam:premium-rate marketing",
        "spam:link_promo",
    }
    lexicon = Lexicon(
        {
            "pct": [phrases([r"\d+% off"])],
            "neg": [phrases([r"[^a ]x\d"])],  # no first characters known: a full search
        }
    )
    assert [label for label, _ in lexicon._batch._unkeyed] == ["neg"]
    texts = ["50% off", "a50% off", "zx1 and 5% off", "bx", "x5% off\n7% off", "", "9%", " off"]
    assert lexicon.find_all(texts) == [lexicon.find(t) for t in texts]
    assert lexicon.find_all(texts)[:3] == [{"pct"}, set(), {"neg", "pct"}]
