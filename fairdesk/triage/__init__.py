"""Triage of inbound texts and a tone guard for outbound replies (pure Python, no Django)."""

from fairdesk.triage.duplicates import NearDuplicateIndex
from fairdesk.triage.fast import FastTriage
from fairdesk.triage.tone import check_tone
from fairdesk.triage.types import StaffMember, ToneIssue, ToneVerdict, TriageResult

__all__ = [
    "FastTriage",
    "NearDuplicateIndex",
    "StaffMember",
    "ToneIssue",
    "ToneVerdict",
    "TriageResult",
    "check_tone",
]
