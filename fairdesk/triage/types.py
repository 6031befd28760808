"""Value types returned by the triage tier (pure Python, JSON-friendly)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIGNALS: frozenset[str] = frozenset(
    {"security_report", "safety", "outage", "money_lost", "legal_threat", "service_down"}
)
TOPICS: tuple[str, ...] = (
    "security",
    "repair",
    "billing",
    "integration",
    "delivery",
    "account",
    "other",
)
INTENTS: tuple[str, ...] = ("question", "complaint", "praise", "feedback", "request")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
STANCES: tuple[str, ...] = ("promotes", "detracts", "neutral")
TONE_KINDS: tuple[str, ...] = ("insult", "condescension", "sarcasm", "threat", "blame")


@dataclass(frozen=True, slots=True)
class StaffMember:
    """An employee in the staff directory; ``key`` is the database id as a string."""

    key: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TriageResult:
    """What the fast tier learned about one inbound text.

    The last four fields come from trained heads and keep their defaults when no bundle
    for them is loaded (``irony``, ``emotion``, ``hate``, and ``support_intent``: a
    fine-grained request label such as Banking77's ``card_arrival``). None of them, nor
    ``sentiment`` or ``offensive``, feeds severity (see ``severity.py``).
    """

    language: str
    sentiment: str
    sentiment_score: float
    signals: tuple[str, ...]
    topic: str
    intent: str
    praise: bool
    praised_staff: tuple[str, ...]
    stance: str
    spam: bool
    spam_reason: str
    offensive: bool
    irony: bool = False
    emotion: str = ""
    hate: bool = False
    support_intent: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Written out by hand: dataclasses.asdict deep-copies and is the slow part here.
        return {
            "language": self.language,
            "sentiment": self.sentiment,
            "sentiment_score": self.sentiment_score,
            "signals": list(self.signals),
            "topic": self.topic,
            "intent": self.intent,
            "praise": self.praise,
            "praised_staff": list(self.praised_staff),
            "stance": self.stance,
            "spam": self.spam,
            "spam_reason": self.spam_reason,
            "offensive": self.offensive,
            "irony": self.irony,
            "emotion": self.emotion,
            "hate": self.hate,
            "support_intent": self.support_intent,
        }


@dataclass(frozen=True, slots=True)
class ToneIssue:
    """One problem the tone guard found in an outbound reply."""

    kind: str
    excerpt: str
    explanation: str


@dataclass(frozen=True, slots=True)
class ToneVerdict:
    """Whether an outbound reply may be sent, and why not."""

    allowed: bool
    issues: tuple[ToneIssue, ...]
    suggestion: str
