"""The documented text rules, case by case (pure Python)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fairdesk.followthrough.rules import (
    asks_for_callback,
    is_confirmation,
    preferred_time,
    self_service_deflection,
)

MONDAY_9 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "confirms"),
    [
        ("Yes", True),
        ("yes, thanks!", True),
        ("It works now, thank you @AcmeSupport", True),
        ("Fixed \N{THUMBS UP SIGN}", True),
        ("all good now", True),
        ("THANK YOU SO MUCH", True),
        ("no", False),
        ("Not fixed", False),
        ("it doesn\u2019t work", False),
        ("thanks, but it is happening again", False),
        ("still broken", False),
        ("is it fixed on your side?", False),
        ("ok", False),
        ("", False),
        ("yes " * 31, False),
        ("<script>alert('yes')</script>", True),
    ],
)
def test_confirmation(text: str, confirms: bool) -> None:
    assert is_confirmation(text) is confirms


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("Call me back please", True),
        ("can someone call me?", True),
        ("Give me a call at 3", True),
        ("ring me tomorrow", True),
        ("I'd like a callback", True),
        ("Don't call me, email only", False),
        ("no need to call", False),
        ("I called you three times already", False),
        ("What is this called?", False),
    ],
)
def test_callback_request(text: str, asks: bool) -> None:
    assert asks_for_callback(text) is asks


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("call me back at 3pm", datetime(2026, 11, 2, 15, 0, tzinfo=UTC)),
        ("call me at 3", datetime(2026, 11, 2, 15, 0, tzinfo=UTC)),
        ("tomorrow at 10:30 please", datetime(2026, 11, 3, 10, 30, tzinfo=UTC)),
        ("call at 10.15 am", datetime(2026, 11, 2, 10, 15, tzinfo=UTC)),
        ("at 8:30", datetime(2026, 11, 3, 8, 30, tzinfo=UTC)),  # passed today: tomorrow
        ("friday morning", datetime(2026, 11, 6, 9, 0, tzinfo=UTC)),
        ("monday at 9", datetime(2026, 11, 9, 9, 0, tzinfo=UTC)),
        ("after 14:00", datetime(2026, 11, 2, 14, 0, tzinfo=UTC)),
        ("call me back", None),
        ("today at 8am", None),  # already passed: no time rather than a wrong one
        ("call me after 2 days", None),
        ("at 25:00", None),
        ("at 13pm", None),
    ],
)
def test_preferred_time(text: str, wanted: datetime | None) -> None:
    assert preferred_time(text, after=MONDAY_9, zone=UTC) == wanted


def test_preferred_time_is_read_in_the_given_zone() -> None:
    zone = timezone(timedelta(hours=-5))
    wanted = preferred_time("call me at 3pm", after=MONDAY_9, zone=zone)
    assert wanted == datetime(2026, 11, 2, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "excerpt"),
    [
        ("See https://help.acme.test/a/1", "https://help.acme.test/a/1"),
        ("Visit our website.", "our website"),
        ("Check our Help Centre", "help centre"),
        ("It is in the FAQ", "faq"),
        ("We'll call you at 3pm; the FAQ has more.", ""),
        ("Sorry about this, Dana.", ""),
    ],
)
def test_self_service_deflection(text: str, excerpt: str) -> None:
    assert self_service_deflection(text) == excerpt
