"""Writes of the queue: saved views, bulk actions and routing rules. Keyword-only,
workspace-checked.

A bulk action runs in one transaction over the agent's own workspace only: ids of
another workspace (or unknown ids) are not touched and are counted as refused, without
saying which of them exist. Each changed case gets its own CaseEvent.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError

from fairdesk.cases.lifecycle import refresh_deadlines
from fairdesk.cases.models import OPEN_STATUSES, Case, CaseEvent, CaseStatus
from fairdesk.followthrough.models import WorkOrder
from fairdesk.routing import events
from fairdesk.routing.conditions import Conditions
from fairdesk.routing.locks import lock_cases, lock_rules
from fairdesk.routing.models import RoutingRule, RoutingRuleChange, SavedView
from fairdesk.routing.queries import targets_table
from fairdesk.routing.rules import MAX_RULES, RuleConditions
from fairdesk.workspaces.models import Agent, Team, Workspace

MAX_BULK = 200
MAX_VIEW_NAME = 80
MAX_RULE_NAME = 80
SETTABLE_STATUSES = (
    CaseStatus.OPEN,
    CaseStatus.PENDING_CUSTOMER,
    CaseStatus.PENDING_INTERNAL,
    CaseStatus.RESOLVED,
    CaseStatus.CLOSED,
)
DONE_STATUSES = (CaseStatus.RESOLVED, CaseStatus.CLOSED)


class ViewInvalid(ValueError):
    """A saved view that cannot be stored: bad name, bad conditions, duplicate name."""


class BulkInvalid(ValueError):
    """A bulk request that cannot run at all; nothing was changed."""


# --- saved views ---------------------------------------------------------------------


def save_view(
    *, agent: Agent, name: str, conditions: Conditions | dict[str, Any], shared: bool = False
) -> SavedView:
    """Store a view for ``agent``; only supervisors may share one with the workspace."""
    if shared and not agent.is_supervisor:
        raise PermissionDenied("Only supervisors share views with the workspace.")
    name = " ".join(name.split())
    if not name or len(name) > MAX_VIEW_NAME:
        raise ViewInvalid(f"Give the view a name of 1 to {MAX_VIEW_NAME} characters.")
    if not isinstance(conditions, Conditions):
        try:
            conditions = Conditions.model_validate(conditions)
        except ValidationError as error:
            raise ViewInvalid(str(error)) from error
    try:
        with transaction.atomic():
            return SavedView.objects.create(
                workspace_id=agent.workspace_id,
                owner=agent,
                name=name,
                shared=shared,
                conditions=conditions.model_dump(mode="json", exclude_defaults=True),
            )
    except IntegrityError:
        raise ViewInvalid(f"You already have a view named {name!r}.") from None


def delete_view(*, agent: Agent, view: SavedView) -> None:
    """The owner deletes their view; a supervisor may also delete a shared one."""
    if view.workspace_id != agent.workspace_id:
        raise PermissionDenied("This view belongs to another workspace.")
    if view.owner_id != agent.pk and not (view.shared and agent.is_supervisor):
        raise PermissionDenied("Only its owner or a supervisor may delete this view.")
    view.delete()


# --- bulk actions --------------------------------------------------------------------


@dataclass(slots=True)
class BulkResult:
    changed: int = 0
    unchanged: int = 0
    refused: int = 0
    reasons: list[str] = field(default_factory=list)


def bulk_assign(
    *, agent: Agent, case_ids: Sequence[uuid.UUID], assignee: Agent | None
) -> BulkResult:
    """Assign the cases to ``assignee`` (None: back to the pool)."""
    if assignee is not None and assignee.workspace_id != agent.workspace_id:
        raise BulkInvalid("Choose an agent of this workspace.")
    now = timezone.now()
    with transaction.atomic():
        cases, result = _locked(agent, case_ids)
        changed = [c for c in cases if c.assignee_id != (assignee.pk if assignee else None)]
        rows = []
        for case in changed:
            previous = case.assignee
            case.assignee = assignee
            case.updated_at = now
            if assignee is None:
                assert previous is not None
                rows.append(
                    events.unassigned(case, previous=previous, actor=agent, reason="bulk", at=now)
                )
            else:
                rows.append(
                    events.assigned(
                        case, to=assignee, previous=previous, actor=agent, how="bulk", at=now
                    )
                )
        _write(changed, rows, fields=["assignee", "updated_at"])
    return _counted(result, changed=len(changed), total=len(cases))


def bulk_route(*, agent: Agent, case_ids: Sequence[uuid.UUID], team: Team) -> BulkResult:
    """Move the cases to another team, with a ROUTED event naming both teams."""
    if team.workspace_id != agent.workspace_id:
        raise BulkInvalid("Choose a team of this workspace.")
    now = timezone.now()
    with transaction.atomic():
        cases, result = _locked(agent, case_ids)
        changed = [c for c in cases if c.team_id != team.pk]
        rows = []
        for case in changed:
            previous = case.team
            case.team = team
            case.updated_at = now
            rows.append(events.routed(case, team=team, previous=previous, actor=agent, at=now))
        _write(changed, rows, fields=["team", "updated_at"])
    return _counted(result, changed=len(changed), total=len(cases))


def bulk_set_status(*, agent: Agent, case_ids: Sequence[uuid.UUID], status: str) -> BulkResult:
    """Change the cases' status. A case with open work orders is not resolved or closed:
    it is done when the work behind it is done (DESIGN principle 4)."""
    if status not in SETTABLE_STATUSES:
        raise BulkInvalid(f"Choose one of: {', '.join(SETTABLE_STATUSES)}.")
    now = timezone.now()
    with transaction.atomic():
        cases, result = _locked(agent, case_ids)
        cases = _without_open_work(cases, status=status, result=result)
        changed = [c for c in cases if c.status != status]
        targets = targets_table(agent.workspace) if changed else {}
        rows = []
        for case in changed:
            previous = case.status
            _move(case, status=status, now=now)
            refresh_deadlines(case, targets)
            rows.append(
                events.status_changed(case, status=status, previous=previous, actor=agent, at=now)
            )
        _write(changed, rows, fields=STATUS_FIELDS)
    return _counted(result, changed=len(changed), total=len(cases))


STATUS_FIELDS = [
    "status",
    "resolved_at",
    "closed_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "escalation_at",
    "updated_at",
]


def _locked(agent: Agent, case_ids: Sequence[uuid.UUID]) -> tuple[list[Case], BulkResult]:
    wanted = set(case_ids)
    if not wanted:
        raise BulkInvalid("Select at least one case.")
    if len(wanted) > MAX_BULK:
        raise BulkInvalid(f"Select at most {MAX_BULK} cases at a time.")
    cases = lock_cases(Case.objects.filter(workspace_id=agent.workspace_id), public_ids=wanted)
    result = BulkResult(refused=len(wanted) - len(cases))
    merged = [c for c in cases if c.status == CaseStatus.MERGED]
    if merged:
        # A merged case is kept only so the merge can be undone: act on the case it joined.
        result.refused += len(merged)
        result.reasons.append(f"{len(merged)} merged into another case: act on that one.")
    return [c for c in cases if c.status != CaseStatus.MERGED], result


def _without_open_work(cases: list[Case], *, status: str, result: BulkResult) -> list[Case]:
    if status not in DONE_STATUSES:
        return cases
    busy = set(
        WorkOrder.objects.filter(
            case_id__in=[c.pk for c in cases],
            status__in=[WorkOrder.Status.OPEN, WorkOrder.Status.IN_PROGRESS],
        ).values_list("case_id", flat=True)
    )
    for case in cases:
        if case.pk in busy:
            result.refused += 1
            result.reasons.append(f"{case.reference} has open work orders.")
    return [c for c in cases if c.pk not in busy]


def _move(case: Case, *, status: str, now: datetime) -> None:
    case.status = status
    case.updated_at = now
    if status == CaseStatus.RESOLVED:
        case.resolved_at = now
    elif status == CaseStatus.CLOSED:
        case.closed_at = now
    elif status in OPEN_STATUSES:
        case.resolved_at = None
        case.closed_at = None


def _write(cases: list[Case], rows: list[CaseEvent], *, fields: list[str]) -> None:
    if cases:
        Case.objects.bulk_update(cases, fields)
        CaseEvent.objects.bulk_create(rows)


def _counted(result: BulkResult, *, changed: int, total: int) -> BulkResult:
    result.changed = changed
    result.unchanged = total - changed
    return result


def sweep(*, now: datetime | None = None) -> tuple[int, int, int]:
    """One routing pass over every workspace: escalate nearing deadlines, take back idle
    cases, auto-assign. Returns (escalated, unassigned, assigned)."""
    from fairdesk.routing.assignment import auto_assign, auto_unassign
    from fairdesk.routing.escalation import escalate_due

    escalated = released = assigned = 0
    for workspace in Workspace.objects.order_by("id"):
        at = now or timezone.now()
        escalated += escalate_due(workspace=workspace, now=at)
        released += auto_unassign(workspace=workspace, now=at)
        assigned += auto_assign(workspace=workspace, now=at)
    return escalated, released, assigned


# --- routing rules ---------------------------------------------------------------------
# Supervisors and admins only. Each change runs under the workspace's rule lock, keeps
# positions dense (1, 2, 3, …) and writes one RoutingRuleChange row (the audit log).


class RuleInvalid(ValueError):
    """A rule that cannot be stored as asked; nothing was changed."""


def create_rule(
    *,
    agent: Agent,
    name: str,
    conditions: RuleConditions | dict[str, Any],
    team: Team,
    assignee: Agent | None = None,
    enabled: bool = True,
    position: int | None = None,
) -> RoutingRule:
    """Add a rule, last unless ``position`` says where (1 is tried first)."""
    _require_rule_editor(agent)
    checked = _rule_fields(agent, name=name, conditions=conditions, team=team, assignee=assignee)
    with transaction.atomic():
        lock_rules(agent.workspace_id)
        count = RoutingRule.objects.filter(workspace_id=agent.workspace_id).count()
        if count >= MAX_RULES:
            raise RuleInvalid(f"A workspace has at most {MAX_RULES} routing rules.")
        _unique_name(agent, checked["name"], rule=None)
        rule = RoutingRule.objects.create(
            workspace_id=agent.workspace_id,
            position=count + 1,
            enabled=enabled,
            **checked,
        )
        if position is not None:
            _place(rule, position)
        _audit(agent, rule, RoutingRuleChange.Action.CREATED, before=None, after=_snapshot(rule))
    return rule


def update_rule(
    *,
    agent: Agent,
    rule: RoutingRule,
    name: str,
    conditions: RuleConditions | dict[str, Any],
    team: Team,
    assignee: Agent | None,
    enabled: bool,
    position: int | None = None,
) -> RoutingRule:
    """Replace a rule's name, conditions, actions and state; move it if ``position``."""
    _require_rule_editor(agent, rule)
    checked = _rule_fields(
        agent, name=name, conditions=conditions, team=team, assignee=assignee, kept=rule
    )
    with transaction.atomic():
        lock_rules(agent.workspace_id)
        current = _fresh(rule)
        before = _snapshot(current)
        _unique_name(agent, checked["name"], rule=current)
        for key, value in checked.items():
            setattr(current, key, value)
        current.enabled = enabled
        current.save()
        if position is not None:
            _place(current, position)
        after = _snapshot(current)
        if after != before:
            _audit(agent, current, _change_kind(before, after), before=before, after=after)
    return current


def set_rule_enabled(*, agent: Agent, rule: RoutingRule, enabled: bool) -> RoutingRule:
    """Switch a rule on or off; it keeps its place."""
    _require_rule_editor(agent, rule)
    with transaction.atomic():
        lock_rules(agent.workspace_id)
        current = _fresh(rule)
        if current.enabled != enabled:
            before = _snapshot(current)
            current.enabled = enabled
            current.save(update_fields=["enabled", "updated_at"])
            after = _snapshot(current)
            _audit(agent, current, _change_kind(before, after), before=before, after=after)
    return current


def move_rule(*, agent: Agent, rule: RoutingRule, position: int) -> RoutingRule:
    """Put a rule at ``position`` (1 is tried first; past the end means last)."""
    _require_rule_editor(agent, rule)
    with transaction.atomic():
        lock_rules(agent.workspace_id)
        current = _fresh(rule)
        before = _snapshot(current)
        _place(current, position)
        after = _snapshot(current)
        if after != before:
            _audit(agent, current, RoutingRuleChange.Action.MOVED, before=before, after=after)
    return current


def delete_rule(*, agent: Agent, rule: RoutingRule) -> None:
    """Delete a rule; the audit log keeps what it was. Cases it routed keep their team."""
    _require_rule_editor(agent, rule)
    with transaction.atomic():
        lock_rules(agent.workspace_id)
        current = _fresh(rule)
        before = _snapshot(current)
        _audit(agent, current, RoutingRuleChange.Action.DELETED, before=before, after=None)
        current.delete()
        _renumber(agent.workspace_id)


def _require_rule_editor(agent: Agent, rule: RoutingRule | None = None) -> None:
    if not agent.is_supervisor:
        raise PermissionDenied("Only supervisors and admins change routing rules.")
    if rule is not None and rule.workspace_id != agent.workspace_id:
        raise PermissionDenied("This rule belongs to another workspace.")


def _rule_fields(
    agent: Agent,
    *,
    name: str,
    conditions: RuleConditions | dict[str, Any],
    team: Team,
    assignee: Agent | None,
    kept: RoutingRule | None = None,
) -> dict[str, Any]:
    """Validated fields of a rule. An agent who has since left the rule's team may stay
    on it while neither changes (the rule can still be renamed or switched off); on
    arrival such an agent is simply not given cases."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_RULE_NAME:
        raise RuleInvalid(f"Give the rule a name of 1 to {MAX_RULE_NAME} characters.")
    if not isinstance(conditions, RuleConditions):
        try:
            conditions = RuleConditions.model_validate(conditions)
        except ValidationError as error:
            raise RuleInvalid(str(error)) from error
    if team.workspace_id != agent.workspace_id:
        raise RuleInvalid("Choose a team of this workspace.")
    unchanged = kept is not None and (kept.team_id, kept.assignee_id) == (
        team.pk,
        assignee.pk if assignee else None,
    )
    if assignee is not None and (
        assignee.workspace_id != agent.workspace_id
        or (assignee.team_id != team.pk and not unchanged)
    ):
        raise RuleInvalid(f"Choose an agent of the team {team.name}, or leave it to the team.")
    return {"name": name, "conditions": conditions.stored(), "team": team, "assignee": assignee}


def _unique_name(agent: Agent, name: str, *, rule: RoutingRule | None) -> None:
    same = RoutingRule.objects.filter(workspace_id=agent.workspace_id, name=name)
    if rule is not None:
        same = same.exclude(pk=rule.pk)
    if same.exists():
        raise RuleInvalid(f"There is already a rule named {name!r}.")


def _fresh(rule: RoutingRule) -> RoutingRule:
    """The rule as stored now, read under the lock."""
    try:
        return RoutingRule.objects.select_related("team", "assignee__user").get(
            pk=rule.pk, workspace_id=rule.workspace_id
        )
    except RoutingRule.DoesNotExist:
        raise RuleInvalid("This rule was deleted meanwhile.") from None


def _place(rule: RoutingRule, position: int) -> None:
    if position < 1:
        raise RuleInvalid("Positions start at 1.")
    _renumber(rule.workspace_id, moving=rule, to=position)


def _renumber(workspace_id: int, *, moving: RoutingRule | None = None, to: int = 0) -> None:
    """Positions 1..n in the current order, with ``moving`` put at ``to``."""
    rules = list(
        RoutingRule.objects.filter(workspace_id=workspace_id)
        .order_by("position", "id")
        .only("id", "position")
    )
    if moving is not None:
        rules = [r for r in rules if r.pk != moving.pk]
        rules.insert(min(to, len(rules) + 1) - 1, moving)
    changed = []
    for number, row in enumerate(rules, start=1):
        if row.position != number:
            row.position = number
            changed.append(row)
    RoutingRule.objects.bulk_update(changed, ["position"])


def _snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "enabled": rule.enabled,
        "conditions": rule.conditions,
        "team": rule.team.slug,
        "assignee": rule.assignee.user.get_username() if rule.assignee else None,
    }


def _change_kind(before: dict[str, Any], after: dict[str, Any]) -> str:
    changed = {key for key in after if after[key] != before[key]}
    if changed == {"enabled"}:
        return (
            RoutingRuleChange.Action.ENABLED
            if after["enabled"]
            else (RoutingRuleChange.Action.DISABLED)
        )
    if changed == {"position"}:
        return RoutingRuleChange.Action.MOVED
    return RoutingRuleChange.Action.UPDATED


def _audit(
    agent: Agent,
    rule: RoutingRule,
    action: str,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    RoutingRuleChange.objects.create(
        workspace_id=agent.workspace_id,
        rule_public_id=rule.public_id,
        rule_name=rule.name,
        action=action,
        actor=agent,
        before=before,
        after=after,
        at=timezone.now(),
    )
