"""The case events the pipeline writes: one small builder per event type (STYLE 10)."""

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

from fairdesk.cases.models import Case, CaseEvent, DeliveryStatus, Direction, Message
from fairdesk.replies.models import OutboxMessage
from fairdesk.triage.pileon import PileOn
from fairdesk.workspaces.models import Employee

if TYPE_CHECKING:
    from fairdesk.inbound.pipeline import Parsed

SECURITY_ACK = (
    "Thank you for reporting this. Our security team has it now (reference {reference}). "
    "You don't need to call a hotline or repeat anything: we will follow up with you here, "
    "and privately if we need details."
)


def _event(case: Case, type_: str, at: datetime, **params: object) -> CaseEvent:
    return CaseEvent(workspace_id=case.workspace_id, case=case, type=type_, params=params, at=at)


def case_opened(case: Case, item: "Parsed", *, at: datetime) -> list[CaseEvent]:
    events = [
        _event(
            case,
            CaseEvent.Type.OPENED,
            at,
            channel=item.message.channel,
            external_id=item.message.external_id,
            severity=case.severity,
            reason=case.reason,
        )
    ]
    if case.team is not None:
        events.append(
            _event(case, CaseEvent.Type.ROUTED, at, team=case.team.name, topic=case.topic)
        )
    return events


def rerouted(case: Case, team: str, *, at: datetime) -> CaseEvent:
    return _event(case, CaseEvent.Type.ROUTED, at, team=team, topic=case.topic)


def severity_changed(
    case: Case, previous: str, signals: Sequence[str], *, at: datetime
) -> CaseEvent:
    return _event(
        case,
        CaseEvent.Type.SEVERITY_CHANGED,
        at,
        previous=previous,
        severity=case.severity,
        signals=list(signals),
    )


def pileon_raised(case: Case, previous: str, pileon: PileOn) -> CaseEvent:
    """The severity rose because many different customers reported the same problem."""
    return _event(
        case,
        CaseEvent.Type.SEVERITY_CHANGED,
        pileon.last_at,
        previous=previous,
        severity=case.severity,
        signals=[],
        reason="pileon",
        pileon=pileon.summary(),
    )


def pileon_alerted(case: Case, team: str, pileon: PileOn) -> CaseEvent:
    """The owning team's alert, on each case of the pile-on; the one e-mail per team is a
    ``TeamAlert`` (``inbound.team_alerts``)."""
    return _event(
        case,
        CaseEvent.Type.ESCALATED,
        pileon.last_at,
        kind="pileon",
        team=team,
        pileon=pileon.summary(),
    )


def acknowledge_security_report(
    case: Case, item: "Parsed", *, brand_handle: str
) -> tuple[CaseEvent, tuple[Message, OutboxMessage]]:
    """Queue an acknowledgement to the reporter through the outbox, on their channel."""
    msg = item.message
    message = Message(
        workspace_id=case.workspace_id,
        case=case,
        channel=msg.channel,
        direction=Direction.OUTBOUND,
        visibility=msg.visibility,
        in_reply_to=msg.external_id,
        brand_handle=brand_handle,
        text="",  # filled in by security_ack_text once the case has its reference
        sent_at=msg.created_at,
        delivery_status=DeliveryStatus.QUEUED,
    )
    outbox = OutboxMessage(
        workspace_id=case.workspace_id,
        case=case,
        message=message,
        idempotency_key=f"ack-security-{msg.channel}-{msg.external_id}"[:100],
        channel=msg.channel,
        available_at=msg.created_at,
        tone_verdict={"allowed": True, "automatic": True},
    )
    event = _event(
        case,
        CaseEvent.Type.ACKNOWLEDGED,
        msg.created_at,
        kind="security_report",
        channel=msg.channel,
    )
    return event, (message, outbox)


def security_ack_text(case: Case) -> str:
    return SECURITY_ACK.format(reference=case.reference)


def praise_forwarded(
    case: Case, employee: Employee, item: "Parsed"
) -> tuple[CaseEvent, tuple[str, str, str, list[str]] | None]:
    """Record that praise reached the employee and their manager, and the mail to send."""
    manager = employee.manager
    recipients = [e for e in (employee.email, manager.email if manager else "") if e]
    event = _event(
        case,
        CaseEvent.Type.PRAISE_FORWARDED,
        item.message.created_at,
        employee_id=employee.pk,
        employee=employee.name,
        manager_id=manager.pk if manager else None,
        manager=manager.name if manager else "",
        recipients=recipients,
    )
    if not recipients:
        return event, None
    body = (
        f"A customer praised {employee.name} on {item.message.channel}:\n\n"
        f"{item.message.text[:2000]}\n\n"
        "Forwarded by Fairdesk so that praise reaches the people it is meant for."
    )
    subject = "A customer thanked " + " ".join(employee.name.split())
    return event, (subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
