"""Severity from what is wrong, and nothing else (DESIGN.md section 5).

Reads only ``signals`` and ``intent``, which the fast tier derives from content cues;
sentiment, loudness, reach and repetition cannot reach this function.
"""

from __future__ import annotations

from fairdesk.triage.types import TriageResult

CRITICAL_SIGNALS = frozenset({"security_report", "safety"})
HIGH_SIGNALS = frozenset({"outage", "service_down", "money_lost", "legal_threat"})
NORMAL_INTENTS = frozenset({"question", "complaint", "request"})
SEVERITIES: tuple[str, ...] = ("critical", "high", "normal", "low")


def severity_of(result: TriageResult) -> str:
    """``critical``, ``high``, ``normal`` or ``low``."""
    signals = set(result.signals)
    if signals & CRITICAL_SIGNALS:
        return "critical"
    if signals & HIGH_SIGNALS:
        return "high"
    if result.intent in NORMAL_INTENTS:
        return "normal"
    return "low"
