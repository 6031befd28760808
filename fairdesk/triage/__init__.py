"""Triage of inbound texts and a tone guard for outbound replies (pure Python, no Django).

The names below load on first use: the fast tier pulls in scikit-learn, SciPy (through
datasketch) and its lexicons, about a second of start-up that a web process, a CLI command
or a module needing only ``check_tone`` or the types should not pay at import.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fairdesk.triage.duplicates import NearDuplicateIndex
    from fairdesk.triage.fast import FastTriage
    from fairdesk.triage.tone import check_tone
    from fairdesk.triage.types import StaffMember, ToneIssue, ToneVerdict, TriageResult

_HOMES = {
    "FastTriage": "fairdesk.triage.fast",
    "NearDuplicateIndex": "fairdesk.triage.duplicates",
    "StaffMember": "fairdesk.triage.types",
    "ToneIssue": "fairdesk.triage.types",
    "ToneVerdict": "fairdesk.triage.types",
    "TriageResult": "fairdesk.triage.types",
    "check_tone": "fairdesk.triage.tone",
}

__all__ = [
    "FastTriage",
    "NearDuplicateIndex",
    "StaffMember",
    "ToneIssue",
    "ToneVerdict",
    "TriageResult",
    "check_tone",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fairdesk.triage' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
