"""The case events follow-through writes about resolution: one small builder per event
(STYLE 10). They reuse the timeline's ``status_changed`` type with a ``reason`` (the
case event types belong to the cases app), and are returned unsaved."""

from datetime import datetime

from fairdesk.cases.models import Case, CaseEvent
from fairdesk.followthrough.models import Resolution


def _status_event(
    case: Case, resolution: Resolution, *, previous: str, reason: str, at: datetime
) -> CaseEvent:
    return CaseEvent(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.STATUS_CHANGED,
        params={
            "status": case.status,
            "previous": previous,
            "reason": reason,
            "resolution": str(resolution.public_id),
        },
        actor=resolution.proposed_by if reason == "resolution_proposed" else None,
        at=at,
    )


def resolution_proposed(
    case: Case, resolution: Resolution, *, previous: str, at: datetime
) -> CaseEvent:
    return _status_event(case, resolution, previous=previous, reason="resolution_proposed", at=at)


def case_closed(case: Case, resolution: Resolution, *, previous: str, at: datetime) -> CaseEvent:
    """Closed on the customer's yes, or after the quiet period."""
    reason = (
        "customer_confirmed"
        if resolution.outcome == Resolution.Outcome.CONFIRMED
        else "quiet_period_over"
    )
    return _status_event(case, resolution, previous=previous, reason=reason, at=at)


def resolution_rejected(case: Case, resolution: Resolution, *, at: datetime) -> CaseEvent:
    """The proposal did not hold: the customer wrote back (or an agent reopened it)."""
    reason = "customer_replied" if resolution.answer_id else "case_reopened"
    return _status_event(case, resolution, previous="resolved", reason=reason, at=at)
