"""Public recommendation stance (promoter / detractor), for the Social Promoter Score."""

from __future__ import annotations

from collections.abc import Set

from fairdesk.triage.lexicon import phrases

_DETRACT_RE = phrases(
    [
        r"avoid (?:them|this|it|at all costs|like the plague|@@)|stay away",
        r"never (?:buy|buying|fly|flying|shop|shopping|use|using|order|ordering|book|booking)"
        r"(?: \w+){0,3}|never again",
        r"(?:don'?t|do not|dont) (?:fly|buy|shop|use|order|book|bother|waste)(?: with| from| at)?",
        r"(?:would|will|could) (?:not|never)(?: ever)? recommend|(?:wouldn'?t|won'?t|don'?t|"
        r"can'?t|do not) recommend|not recommended",
        r"worst (?:airline|company|service|customer service|bank|isp|provider|experience)",
        r"switching to|cancel(?:l)?ing my (?:subscription|account|contract|membership)|boycott|"
        r"unfollow(?:ing|ed)?|take my business elsewhere|lost a customer",
    ]
)
_PROMOTE_RE = phrases(
    [
        r"(?:highly |strongly |definitely |totally |100% )?recommend(?:ed|ing)?",
        r"love (?:@@|you|you guys|this (?:company|airline|app|brand)|flying with)",
        r"best (?:airline|company|service|customer service|support|bank|app) (?:ever|around)",
        r"(?:will|would) (?:definitely )?(?:fly|buy|shop|order|book) (?:with|from) (?:you|them) "
        r"again|(?:loyal|lifelong) customer|go-to",
    ]
)
_RAVE_RE = phrases([r"can'?t recommend (?:\w+ )?(?:highly )?enough"])
_STRONGLY_NEGATIVE = -0.6
_STRONGLY_POSITIVE = 0.7


LEXICON_ENTRIES = {
    "stance:rave": [_RAVE_RE],
    "stance:detracts": [_DETRACT_RE],
    "stance:promotes": [_PROMOTE_RE],
}


def stance_of(found: Set[str], *, sentiment_score: float, intent: str) -> str:
    """``promotes``, ``detracts`` or ``neutral``; negated recommendations detract."""
    if "stance:rave" in found:
        return "promotes"
    if "stance:detracts" in found:
        return "detracts"
    if "stance:promotes" in found:
        return "promotes"
    if intent == "complaint" and sentiment_score <= _STRONGLY_NEGATIVE:
        return "detracts"
    # Warm public praise is promotion in the social sense, as a bitter complaint detracts.
    if intent in ("praise", "feedback") and sentiment_score >= _STRONGLY_POSITIVE:
        return "promotes"
    return "neutral"
