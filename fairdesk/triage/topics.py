"""Topic: which team's area a text is about, chosen from concrete nouns and verbs.

Each topic counts how many DISTINCT cue groups occur (never how often), so repetition and
filler leave the choice unchanged; ties go to the earlier topic in ``TOPIC_CUES``.
"""

from __future__ import annotations

import re
from collections.abc import Set

from fairdesk.triage.lexicon import CANT, phrases

TOPIC_CUES: dict[str, tuple[re.Pattern[str], ...]] = {
    "security": (
        phrases([r"security|secure|insecure|vulnerab\w*|exploit\w*|cve(?:-\d{4}-\d+)?"]),
        phrases([r"hack(?:ed|er|ers|ing)?|breach(?:ed)?|phishing|malware|xss|sql ?injection"]),
        phrases([r"data (?:leak|breach)|leak(?:ed|ing)?|exposed|disclos(?:e|ure)"]),
    ),
    "repair": (
        phrases([r"repair(?:s|ed|ing)?|technician|engineer visit|engineer|warranty|fix(?:ed)? it"]),
        phrases([r"broken|broke|faulty|defective|cracked|leak(?:ing|s)|damaged|stopped working"]),
        phrases(
            [
                r"boiler|heater|heating element|washing machine|dishwasher|fridge|oven|router|"
                r"modem|screen|battery|charger|engine|tyre|tire|appliance|replacement part"
            ]
        ),
    ),
    "billing": (
        phrases([r"bill|bills|billing|billed|invoice\w*|statement"]),
        phrases([r"charg(?:e|ed|es|ing)|overcharg\w*|refund\w*|payment\w*|paid|pay|fee|fees"]),
        phrases(
            [
                r"price|pricing|subscription|direct debit|credit card|debit card|money|"
                r"\$\d+|£\d+|€\d+"
            ]
        ),
    ),
    "integration": (
        phrases([r"api|apis|webhooks?|integration\w*|integrat(?:e|ed|ing)|plugin|plug-in|sdk"]),
        phrases([r"sync(?:ing|ed|s)?|oauth|zapier|third[- ]party app|connector"]),
    ),
    "delivery": (
        phrases([r"deliver(?:y|ies|ed|ing)?|shipping|shipment|shipped|courier|dispatch(?:ed)?"]),
        phrases(
            [
                r"package|parcel|tracking|order (?:hasn'?t|has not|never|still)|"
                r"arriv(?:e|ed|al)"
            ]
        ),
        phrases([r"luggage|baggage|bags?|suitcase"]),
    ),
    "account": (
        phrases([r"account|accounts|profile|username|user name"]),
        phrases(
            [
                rf"{CANT} (?:log ?in|sign ?in|login)|log ?in|login|sign ?in|locked out|"
                r"password|2fa|two[- ]factor|verification code|reset"
            ]
        ),
    ),
}


LEXICON_ENTRIES = {
    f"topic:{topic}:{i}": [rx] for topic, cues in TOPIC_CUES.items() for i, rx in enumerate(cues)
}
_LABELS = tuple(
    (topic, tuple(f"topic:{topic}:{i}" for i in range(len(cues))))
    for topic, cues in TOPIC_CUES.items()
)
_LABEL_SET = frozenset(label for _, labels in _LABELS for label in labels)


def topic_of(found: Set[str]) -> str:
    """The topic with the most distinct cue groups ``found``, else ``"other"``."""
    best, best_hits = "other", 0
    if _LABEL_SET.isdisjoint(found):
        return best
    for topic, labels in _LABELS:
        hits = sum(1 for label in labels if label in found)
        if hits > best_hits:
            best, best_hits = topic, hits
    return best
