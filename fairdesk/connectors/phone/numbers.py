"""Phone numbers in E.164 form, the one spelling a customer's number is stored and
matched in ("+" and 7 to 15 digits, the first not 0).

Built against ITU-T Recommendation E.164 as summarised in Twilio's glossary "What is
E.164?": at most 15 digits in all, a country code of 1 to 3 digits that never starts
with 0, written after a "+". Telephony systems (Twilio, SignalWire, Asterisk set up for
it) report numbers in this form already; the routine only removes what people and
older systems add around it:

- a ``tel:`` prefix (RFC 3966), spaces, hyphens, dots, slashes and parentheses;
- a national trunk prefix written as ``(0)`` after the country code (``+44 (0)20 …``);
- the international call prefix ``00`` instead of ``+``.

A number without its country code (``020 7946 0958``, ``(415) 555-0100``) is refused
rather than guessed: which country it belongs to is not in the number. No library is
used (``phonenumbers`` is not a dependency): this checks the shape of a number, not
whether a country's numbering plan has assigned it.
"""

import re

SEPARATORS = re.compile(r"[\s\-./()]")
TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")
E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")
MAX_INPUT_CHARS = 40


class PhoneNumberError(ValueError):
    """Not a phone number in international form."""


def to_e164(raw: str) -> str:
    """``raw`` as ``+`` followed by its digits, or ``PhoneNumberError`` saying why not."""
    text = raw.strip()
    if not text or len(text) > MAX_INPUT_CHARS:
        raise PhoneNumberError(f"a phone number has 1 to {MAX_INPUT_CHARS} characters")
    if text.lower().startswith("tel:"):
        text = text[4:]
    text = SEPARATORS.sub("", TRUNK_ZERO.sub("", text))
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        raise PhoneNumberError(
            "give the number in international form with its country code, e.g. +44 20 7946 0958"
        )
    if not E164_DIGITS.fullmatch(digits):
        raise PhoneNumberError(
            "an international number is 7 to 15 digits after the +, the first not 0"
        )
    return "+" + digits
