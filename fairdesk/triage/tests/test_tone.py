from __future__ import annotations

import csv

import pytest

from fairdesk.triage import ToneIssue, check_tone
from fairdesk.triage.tests.corpora import require


@pytest.mark.parametrize(
    ("reply", "kinds"),
    [
        ("you are frauds, this is over your pay scale", ["insult", "condescension"]),
        (
            "Oh great, another genius who can't read the manual",
            ["insult", "condescension", "sarcasm"],
        ),
        ("Calm down, it's obviously your fault", ["condescension", "blame"]),
        ("Do that again and we'll ban you", ["threat"]),
        ("Sure, because we have nothing better to do", ["sarcasm"]),
        ("That's user error, not our problem", ["blame"]),
        ("Yeah right, good luck with that", ["sarcasm"]),
    ],
)
def test_blocks_unprofessional_replies(reply: str, kinds: list[str]) -> None:
    verdict = check_tone(reply)
    assert verdict.allowed is False
    assert [issue.kind for issue in verdict.issues] == kinds
    assert verdict.suggestion != ""


@pytest.mark.parametrize(
    "reply",
    [
        "Sorry for the trouble, Dana. I've booked a technician for Tuesday 9-12.",
        "Thanks for flagging this — our security team is on it now.",
        "We're sorry, that's not good enough from us. Could you DM us your order number?",
        "Oh perfect! :) Thanks for letting me know! ^JC",
        "Have a discount code? Learn how to redeem it here: https://t.co/abc",
        "You can watch it live on the app from 8pm.",
    ],
)
def test_allows_professional_replies(reply: str) -> None:
    verdict = check_tone(reply)
    assert (verdict.allowed, verdict.issues, verdict.suggestion) == (True, (), "")


def test_issue_carries_excerpt_and_explanation() -> None:
    verdict = check_tone("Honestly, you are frauds.")
    assert verdict.issues == (
        ToneIssue(
            "insult",
            "you are frauds",
            "Insults the customer. Name-calling is never acceptable from the brand.",
        ),
    )
    assert verdict.suggestion.startswith("Remove the insult and acknowledge")


def test_hidden_characters_do_not_bypass_the_guard() -> None:
    assert check_tone("Calm\u200b down").allowed is False
    assert check_tone("<b>Calm</b> down").allowed is False


def test_real_brand_replies_pass() -> None:
    """2,222 outbound brand tweets from TWCS: measured 0 blocked."""
    path = require("twcs/head-5000/twcs.csv")
    with path.open(encoding="utf-8") as handle:
        replies = [row["text"] for row in csv.DictReader(handle) if row["inbound"] == "False"]
    blocked = [reply for reply in replies if not check_tone(reply).allowed]
    assert len(replies) == 2_222
    assert len(blocked) <= 5
