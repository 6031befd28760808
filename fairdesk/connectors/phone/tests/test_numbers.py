import pytest

from fairdesk.connectors.phone.numbers import PhoneNumberError, to_e164


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+14155552671", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("tel:+49-30-1234567", "+49301234567"),
        ("TEL:+33.1.23.45.67.89", "+33123456789"),
        (" +61 2 9876 5432 ", "+61298765432"),
        ("+6834002", "+6834002"),  # 7 digits (Niue): the shortest accepted
        ("+123456789012345", "+123456789012345"),  # 15 digits: the longest
    ],
)
def test_international_spellings_normalise(raw: str, e164: str) -> None:
    assert to_e164(raw) == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("020 7946 0958", "international form"),  # national: country unknown
        ("(415) 555-2671", "international form"),
        ("011 44 20 7946 0958", "international form"),
        ("+0 20 7946 0958", "the first not 0"),
        ("+1234567890123456", "7 to 15 digits"),
        ("+123456", "7 to 15 digits"),
        ("+44 20 7946 0958 ext 12", "7 to 15 digits"),
        ("+44 20 ٧٩٤٦ 0958", "7 to 15 digits"),  # non-ASCII digits
        ("+44\r\nBcc: x@example.com", "7 to 15 digits"),
        ('=HYPERLINK("x")', "international form"),
        ("", "1 to 40 characters"),
        ("+" + "1" * 40, "1 to 40 characters"),
    ],
)
def test_what_is_not_an_international_number_is_refused(raw: str, reason: str) -> None:
    with pytest.raises(PhoneNumberError, match=reason):
        to_e164(raw)
