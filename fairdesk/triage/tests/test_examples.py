"""Precise expectations for the examples in the triage brief."""

from __future__ import annotations

import json

import pytest

from fairdesk.triage import FastTriage, StaffMember, TriageResult
from fairdesk.triage.severity import severity_of

MARIA = StaffMember("7", "Maria Lopez", ("Maria L.",))
STAFF = (MARIA, StaffMember("8", "Dana Kim"), StaffMember("9", "Will Turner"))


def classify(text: str) -> TriageResult:
    return FastTriage(STAFF).classify([text])[0]


def test_praise_names_staff_member() -> None:
    result = classify("Huge thanks to Maria on flight AC123, she was so kind to my kids")
    assert result.praise is True
    assert result.praised_staff == ("7",)
    assert result.intent == "praise"
    assert result.sentiment == "positive"
    assert result.signals == ()
    assert severity_of(result) == "low"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kudos to Marla Lopez at the Leeds desk, she went above and beyond", ("7",)),
        ("Shout out to Maria L. for sorting my refund", ("7",)),
        ("thank you dana kim, amazing help today", ("8",)),
        ("Thanks, will do that tomorrow", ()),  # "will" is a word, not Will Turner
        ("Thanks Will, you were so helpful!", ("9",)),
        ("Thanks Marla, you were so helpful!", ()),  # one typo in a short first name: too risky
        ("Maria was rude and hung up on me", ()),  # no praise, no attribution
        ("Thanks for nothing, Maria", ()),
    ],
)
def test_praised_staff_matching(text: str, expected: tuple[str, ...]) -> None:
    assert classify(text).praised_staff == expected


def test_first_name_shared_by_two_staff_is_ambiguous() -> None:
    triage = FastTriage([MARIA, StaffMember("12", "Maria Chen")])
    [result] = triage.classify(["Thank you Maria, you were amazing"])
    assert result.praise is True
    assert result.praised_staff == ()


@pytest.mark.parametrize(
    ("text", "signals", "severity", "topic"),
    [
        (
            "Your debug panel is public at https://shop.example/debug, a hacker could read "
            "every order. Happy to do responsible disclosure.",
            ("security_report",),
            "critical",
            "security",
        ),
        ("Found an XSS in your search box", ("security_report",), "critical", "security"),
        (
            "SQL injection on the login form, see CVE-2024-1234",
            ("security_report",),
            "critical",
            "security",
        ),
        ("My heater caught fire last night", ("safety",), "critical", "repair"),
        (
            "There's a gas smell from the new boiler you installed",
            ("safety",),
            "critical",
            "repair",
        ),
        ("Got an electric shock from the charger", ("safety",), "critical", "repair"),
        ("Is the app down for everyone else?", ("outage", "service_down"), "high", "other"),
        ("Everyone in our office can't log in since 9am", ("outage",), "high", "account"),
        ("My internet is not working again", ("service_down",), "high", "other"),
        ("The app crashes every time I open it", ("service_down",), "high", "other"),
        ("You charged me twice for the same invoice", ("money_lost",), "high", "billing"),
        ("Still waiting on my refund after 3 weeks", ("money_lost",), "high", "billing"),
        (
            "My lawyer will hear about this, see you in small claims",
            ("legal_threat",),
            "high",
            "other",
        ),
        ("How do I change the email on my account?", (), "normal", "account"),
        ("My parcel never arrived", (), "normal", "delivery"),
        ("Please can you cancel my subscription", (), "normal", "billing"),
        ("Love the new seats on the A321, great job team", (), "low", "other"),
    ],
)
def test_signals_severity_topic(
    text: str, signals: tuple[str, ...], severity: str, topic: str
) -> None:
    result = classify(text)
    assert result.signals == signals
    assert severity_of(result) == severity
    assert result.topic == topic


@pytest.mark.parametrize(
    "text",
    [
        "I'm so fired up for the game tonight",
        "Turn the volume down please",
        "Prices are going down, nice",
        "That new track is fire",
        "Adding insult to injury, the coffee was cold",
        "Sue and I loved the flight",
        "Ok lar... Joking wif u oni...",
    ],
)
def test_no_signal_on_ordinary_text(text: str) -> None:
    assert classify(text).signals == ()


@pytest.mark.parametrize(
    ("text", "stance"),
    [
        ("Highly recommend @AcmeAir, best crew ever", "promotes"),
        ("I love @AcmeAir", "promotes"),
        ("Can't recommend them enough", "promotes"),
        ("Avoid them at all costs", "detracts"),
        ("Never buy from this company", "detracts"),
        (
            "Don't fly with @AcmeAir, they lost my bag and nobody cares. Horrible, awful.",
            "detracts",
        ),
        ("Would not recommend", "detracts"),
        ("My flight is at 9, is the lounge open?", "neutral"),
    ],
)
def test_stance(text: str, stance: str) -> None:
    assert classify(text).stance == stance


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Buy now!!! 50% off everything http://cheap.example/deal", "promotional link"),
        ("Get free followers fast, click here http://x.example", "follower scheme"),
        ("Earn $500 per day from home, DM me", "money-making scheme"),
        ("Crypto signals group, 10x guaranteed profits", "crypto promotion"),
        ("Congratulations! You have won a £1000 prize. Claim your prize now", "prize scam"),
        ("DM for promo, cheap shoutouts", "promotion"),
    ],
)
def test_spam_with_reason(text: str, reason: str) -> None:
    result = classify(text)
    assert result.spam is True
    assert result.spam_reason == reason


@pytest.mark.parametrize(
    "text",
    [
        "Order never arrived, screenshot https://imgur.com/a/abc123 - 20% off code didn't work",
        "@AcmeAir please follow me back so I can DM you my booking number",
        "The app says click here but nothing happens https://example.com/shot.png",
        "Is the £50 voucher you sent legit? https://acme.example/voucher",
    ],
)
def test_real_messages_are_not_spam(text: str) -> None:
    result = classify(text)
    assert (result.spam, result.spam_reason) == (False, "")


@pytest.mark.parametrize(
    ("text", "offensive"),
    [
        ("You useless idiots lost my bag", True),
        ("f*ck this airline", True),
        ("My bag is lost, please help", False),
    ],
)
def test_offensive_is_flagged_but_never_raises_priority(text: str, offensive: bool) -> None:
    result = classify(text)
    assert result.offensive is offensive


def test_offensive_does_not_change_severity() -> None:
    polite = classify("My bag is lost, please help")
    rude = classify("My bag is lost, please help you idiots")
    assert (severity_of(polite), severity_of(rude)) == ("normal", "normal")
    assert (polite.offensive, rude.offensive) == (False, True)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Where is my parcel? It was due on Monday", "en"),
        ("Où est mon colis ? Il devait arriver lundi", "und"),
        ("", "und"),
        ("🔥🔥🔥", "und"),
    ],
)
def test_language(text: str, language: str) -> None:
    assert classify(text).language == language


def test_to_dict_is_json_safe() -> None:
    result = classify("Huge thanks to Maria, she was so kind")
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["praised_staff"] == ["7"]
    assert data["signals"] == []
    assert set(data) == {
        "language",
        "sentiment",
        "sentiment_score",
        "signals",
        "topic",
        "intent",
        "praise",
        "praised_staff",
        "stance",
        "spam",
        "spam_reason",
        "offensive",
        "irony",
        "emotion",
        "hate",
        "support_intent",
    }


def test_classify_keeps_order_and_length() -> None:
    texts = ["My internet is not working", "Thanks Dana Kim!", ""]
    results = FastTriage(STAFF).classify(texts)
    assert [r.signals for r in results] == [("service_down",), (), ()]
    assert [r.praised_staff for r in results] == [(), ("8",), ()]


def test_to_dict_carries_every_field() -> None:
    from dataclasses import asdict, fields

    from fairdesk.triage import FastTriage, TriageResult

    result = FastTriage().classify(["Charged twice!! Thanks @acme, you're the worst"])[0]
    assert set(result.to_dict()) == {f.name for f in fields(TriageResult)}
    assert result.to_dict() == {
        **asdict(result),
        "signals": list(result.signals),
        "praised_staff": list(result.praised_staff),
    }


def test_warm_public_praise_promotes_but_a_plain_thanks_does_not() -> None:
    from fairdesk.triage import FastTriage

    warm, plain = FastTriage().classify(
        ["Huge thanks to Maria on flight AC 342, she was so kind to my kids", "ok thanks, sorted"]
    )
    assert (warm.stance, plain.stance) == ("promotes", "neutral")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks Christopher, brilliant help", ("20",)),
        ("Thanks Christoper, brilliant help", ("20",)),  # one typo in a long first name
        ("Thanks Christophers, brilliant help", ("20",)),  # one letter more
        ("Thanks Christ, brilliant help", ()),  # five letters short: no fuzzy match
        ("Great job Chris Okafor and Dana Kim", ("20", "8")),
        ("Great job Chris Okafro", ()),  # the last name must be exact
        ("Great job Chriss Okafor", ("20",)),  # one typo elsewhere in the full name
    ],
)
def test_fuzzy_names_only_where_one_edit_can_reach(text: str, expected: tuple[str, ...]) -> None:
    staff = [*STAFF, StaffMember("20", "Christopher Okafor", ("Chris Okafor",))]
    assert FastTriage(staff).classify([text])[0].praised_staff == expected
