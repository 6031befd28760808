"""The case events routing writes: one small builder per event type (STYLE 10).

Builders return unsaved rows so that callers can write a batch with one INSERT.
"""

from datetime import datetime
from typing import Any

from fairdesk.cases.models import Case, CaseEvent
from fairdesk.workspaces.models import Agent, Team


def _event(
    case: Case, type_: str, *, at: datetime, actor: Agent | None, **params: Any
) -> CaseEvent:
    return CaseEvent(
        workspace_id=case.workspace_id, case=case, type=type_, params=params, actor=actor, at=at
    )


def assigned(
    case: Case, *, to: Agent, previous: Agent | None, actor: Agent | None, how: str, at: datetime
) -> CaseEvent:
    return _event(
        case,
        CaseEvent.Type.ASSIGNED,
        at=at,
        actor=actor,
        assignee=to.display_name,
        previous=previous.display_name if previous else None,
        how=how,
    )


def unassigned(
    case: Case, *, previous: Agent, actor: Agent | None, reason: str, at: datetime
) -> CaseEvent:
    return _event(
        case,
        CaseEvent.Type.UNASSIGNED,
        at=at,
        actor=actor,
        previous=previous.display_name,
        reason=reason,
    )


def routed(
    case: Case, *, team: Team, previous: Team | None, actor: Agent, at: datetime
) -> CaseEvent:
    return _event(
        case,
        CaseEvent.Type.ROUTED,
        at=at,
        actor=actor,
        team=team.name,
        previous=previous.name if previous else None,
        topic=case.topic,
    )


def routed_on_arrival(
    case: Case,
    *,
    team: Team,
    at: datetime,
    rule: tuple[str, str] | None = None,
    assignment: str | None = None,
) -> CaseEvent:
    """Where a new case went: by a routing rule (its id and name, as they were then, so
    the timeline says why), or by the team's skills when no rule matched."""
    params: dict[str, Any] = {"team": team.name, "topic": case.topic}
    if rule is not None:
        params["rule"] = rule[1]
        params["rule_id"] = rule[0]
    if assignment is not None:
        params["assignment"] = assignment
    return _event(case, CaseEvent.Type.ROUTED, at=at, actor=None, **params)


def status_changed(
    case: Case, *, status: str, previous: str, actor: Agent, at: datetime
) -> CaseEvent:
    return _event(
        case, CaseEvent.Type.STATUS_CHANGED, at=at, actor=actor, status=status, previous=previous
    )


def escalated(case: Case, *, deadline: datetime, which: str, at: datetime) -> CaseEvent:
    minutes_left = int((deadline - at).total_seconds() // 60)
    return _event(
        case,
        CaseEvent.Type.ESCALATED,
        at=at,
        actor=None,
        deadline=deadline.isoformat(),
        which=which,
        minutes_left=minutes_left,
    )
