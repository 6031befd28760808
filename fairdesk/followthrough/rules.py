"""The small text rules follow-through lives by. Pure Python: no Django, no database.

They are deliberately simple and written down here, because an agent must be able to
predict them:

* **Confirmation** (``is_confirmation``): a customer's answer to "Is this fixed for
  you?" confirms when it says yes / thanks / fixed / works / solved / sorted / all good
  (and the like), says nothing negative (no, not, never, still, again, but, broken …)
  and asks nothing (no question mark), in at most ``CONFIRMATION_MAX_WORDS`` words.
  Anything else — a "no", a question, a longer story — reopens the case. The rule errs
  on the customer's side: a wrongly reopened case costs an agent a look, a wrongly
  closed one leaves the customer stranded — so "thanks, it's happening again" reopens,
  and so does "works again".
* **Callback request** (``asks_for_callback``): "call me (back)", "give me a call",
  "ring me", "phone me", "callback", "can someone call …", unless negated ("don't call
  me", "no need to call").
* **Preferred time** (``preferred_time``): an optional day ("today", "tomorrow" or a
  weekday) and a clock time ("at 3pm", "after 14:30", "around 9", "10.15 am"), or
  "morning" (09:00), "noon" (12:00), "afternoon" (14:00), "evening" (18:00). A bare
  hour below 8 without am/pm means the afternoon ("at 3" → 15:00). Times are read in
  the zone given (the project's ``TIME_ZONE``); a time that has already passed moves to
  the next day; anything more than ``MAX_AHEAD`` away, or unreadable, gives None.
* **Satisfaction score** (``csat_score``): a reply to "How did we do, from 1 to 5?" that
  starts (after any @mentions) with one digit from 1 to 5, alone or as "4/5" or "4 out of 5",
  optionally "stars"; the rest of the text, without its leading punctuation, is the
  comment. "45", "4.5", "5pm", "2 days later…", "1 more thing…", "3 times…" are not
  scores: a message that is not plainly a score is never taken for one (it must reach
  an agent as a new message, not vanish into a rating).
* **Self-service deflection** (``self_service_deflection``): a reply that points to a
  link, the help center, the website, the FAQ or the knowledge base and says nothing
  about calling — what a customer who asked for a call should never get alone.
"""

import re
import unicodedata
from datetime import date, datetime, time, timedelta, tzinfo

CONFIRMATION_MAX_WORDS = 30
MAX_AHEAD = timedelta(days=14)

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"[@#]\w+")
_YES = re.compile(
    r"\b(?:yes|yess+|yep|yeah|yup|ya|sure|fixed|works|working|worked|solved|resolved|"
    r"sorted|perfect|great|awesome|excellent|brilliant|confirmed|thanks|thank you|"
    r"thankyou|thx|ty|cheers|all good|all set|good now|fine now|ok now|okay now)\b"
)
_NEGATIVE = re.compile(
    r"\b(?:no|nope|nah|not|never|none|nothing|neither|nor|still|again|but|however|"
    r"although|though|except|broken|broke|fails?|failed|failing|error|wrong|worse|"
    r"problem|issue|cannot|cant|won't|wont|isn't|isnt|doesn't|doesnt|didn't|didnt|"
    r"hasn't|hasnt|haven't|havent|wasn't|wasnt|aren't|arent|unfortunately|stopped)\b|n't\b"
)
_CALLBACK = re.compile(
    r"\b(?:call(?:ing)? me(?: back)?|call back|call-back|callback|"
    r"give (?:me|us) a (?:call|ring)|ring me|phone me|"
    r"(?:can|could|would|will) (?:you|someone|somebody|anyone|an agent) "
    r"(?:please )?(?:call|phone|ring)|please (?:call|phone|ring)|"
    r"speak to (?:someone|a person|a human) (?:on|by|over) (?:the )?phone)\b"
)
_NO_CALL = re.compile(
    r"\b(?:don'?t|do not|dont|never|no need to|stop|no) (?:\w+ )?"
    r"(?:call|calls|calling|phone|ring)\b"
)
_SELF_SERVICE = re.compile(
    r"(?:https?://|www\.)\S+|\b(?:help ?cent(?:er|re)|help page|support page|support site|"
    r"(?:our|the) (?:web ?site|site|online guide)|faqs?|knowledge ?base|help articles?|"
    r"self[- ]service|check (?:out )?the link|see the link|link below|link above)\b",
    re.IGNORECASE,
)
_MENTIONS_CALL = re.compile(r"\b(?:call|calls|calling|phone|ring|callback|speak)\b")
_SCORE = re.compile(
    r"^\s*(?:[@#][\w.-]+[\s,:]*)*([1-5])(?:\s*(?:/|out of)\s*5)?(?:\s*stars?)?(?![\w/%]|[.,:]?\d)"
    r"(?!\s*(?:[-+*x]\s*\d|(?:a\.?m|p\.?m|am|pm|o'?clock|days?|hours?|hrs?|h|weeks?|"
    r"min\w*|months?|years?|times?|more|other|things?|questions?|issues?|problems?|items?|"
    r"people|persons?|of|parts?|units?|orders?|euros?|dollars?|pounds?|percent)\b))",
    re.IGNORECASE,
)
_COMMENT_LEAD = re.compile("^[\\s\\-\u2013\u2014:,.;!)/|]+")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = re.compile(r"\b(today|tomorrow|" + "|".join(_WEEKDAYS) + r")\b")
_CLOCK = re.compile(
    r"(?:\b(?:at|after|around|from|by|about)\s+|@\s*)(\d{1,2})(?:[:.](\d{2}))?\s*"
    r"(am|pm|a\.m\.|p\.m\.)?(?![\w:])(?!\s*(?:days?|hours?|hrs?|weeks?|min\w*|months?|years?|"
    r"times?|people|of|percent|%)(?!\w))"
    r"|\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)(?!\w)"
    r"|\b(\d{1,2}):(\d{2})\b"
)
_PERIODS = {"morning": 9, "noon": 12, "midday": 12, "afternoon": 14, "evening": 18}
_PERIOD = re.compile(r"\b(" + "|".join(_PERIODS) + r")\b")


def _plain(text: str) -> str:
    """Casefolded NFKC text with typographic apostrophes made plain."""
    folded = unicodedata.normalize("NFKC", text if isinstance(text, str) else "").casefold()
    return folded.replace("\u2019", "'").replace("\u2018", "'")


def is_confirmation(text: str) -> bool:
    """True when a reply to "Is this fixed for you?" says yes and nothing else."""
    plain = _MENTION.sub(" ", _URL.sub(" ", _plain(text)))
    if "?" in plain or len(plain.split()) > CONFIRMATION_MAX_WORDS:
        return False
    return bool(_YES.search(plain)) and not _NEGATIVE.search(plain)


def csat_score(text: str) -> tuple[int, str] | None:
    """(score, comment) when ``text`` answers the satisfaction question, else None."""
    plain = unicodedata.normalize("NFKC", text if isinstance(text, str) else "")
    match = _SCORE.match(plain)
    if match is None:
        return None
    comment = _COMMENT_LEAD.sub("", plain[match.end() :]).strip()
    return int(match.group(1)), comment


def asks_for_callback(text: str) -> bool:
    """True when the customer asks us to phone them."""
    plain = _plain(text)
    return bool(_CALLBACK.search(plain)) and not _NO_CALL.search(plain)


def self_service_deflection(text: str) -> str:
    """The link or help-center phrase a reply leans on when it says nothing about a call;
    "" when the reply does talk about calling, or points nowhere."""
    plain = _plain(text)
    match = _SELF_SERVICE.search(plain)
    if match is None or _MENTIONS_CALL.search(_URL.sub(" ", plain)):
        return ""
    return match.group(0)[:80]


def preferred_time(text: str, *, after: datetime, zone: tzinfo) -> datetime | None:
    """The time the customer asked to be called, as an aware datetime, or None."""
    plain = _plain(text)
    clock = _clock(plain)
    if clock is None:
        return None
    local = after.astimezone(zone)
    day_word = _DAY.search(plain)
    day = _day(day_word.group(1) if day_word else "", local.date())
    wanted = datetime.combine(day, clock, tzinfo=zone)
    if wanted <= after:
        if day_word is not None and day_word.group(1) == "today":
            return None
        wanted += timedelta(days=1 if day_word is None else 7)
    if wanted - after > MAX_AHEAD:
        return None
    return wanted


def _clock(plain: str) -> time | None:
    match = _CLOCK.search(plain)
    if match is not None:
        groups = match.groups()
        hour_text, minute_text, suffix = next(
            (groups[i], groups[i + 1], groups[i + 2] if i < 6 else None)
            for i in (0, 3, 6)
            if groups[i] is not None
        )
        return _hour_minute(int(hour_text), int(minute_text or 0), (suffix or "").replace(".", ""))
    period = _PERIOD.search(plain)
    return time(_PERIODS[period.group(1)], 0) if period else None


def _hour_minute(hour: int, minute: int, suffix: str) -> time | None:
    if minute > 59:
        return None
    if suffix:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    elif 1 <= hour < 8:
        hour += 12  # "at 3": nobody means three in the night
    if hour > 23:
        return None
    return time(hour, minute)


def _day(word: str, today: date) -> date:
    if word == "tomorrow":
        return today + timedelta(days=1)
    if word in _WEEKDAYS:
        return today + timedelta(days=(_WEEKDAYS.index(word) - today.weekday()) % 7)
    return today
