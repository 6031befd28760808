"""API for routing rules (supervisors and admins): list, create, update, delete.

Every query is scoped to the caller's workspace (a rule of another workspace is a 404);
bodies reject unknown fields with 422, so a rule can never carry ``followers``,
``priority`` or ``deadline``: the schemas have no such field.
"""

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict

from fairdesk.api_auth import current_agent
from fairdesk.routing import services
from fairdesk.routing.models import RoutingRule
from fairdesk.routing.queries import routing_rule_for, routing_rules
from fairdesk.routing.rules import MAX_RULES, RuleActions, RuleConditions
from fairdesk.workspaces.models import Agent, Team

router = Router()


class RuleActionsOut(Schema):
    team: str = Field(description="Team slug.")
    assignee: str | None = Field(description="Username of the agent, or null: the team decides.")


class RuleOut(Schema):
    id: uuid.UUID
    name: str
    position: int = Field(description="1 is tried first.")
    enabled: bool
    conditions: dict[str, Any]
    actions: RuleActionsOut
    created_at: datetime
    updated_at: datetime


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=services.MAX_RULE_NAME)
    enabled: bool = True
    position: int | None = Field(
        default=None, ge=1, le=MAX_RULES, description="Where to insert it; default: last."
    )
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    actions: RuleActions


class RulePatch(Schema):
    """Only the fields given change; ``conditions`` and ``actions`` are replaced whole."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=services.MAX_RULE_NAME)
    enabled: bool | None = None
    position: int | None = Field(default=None, ge=1, le=MAX_RULES)
    conditions: RuleConditions | None = None
    actions: RuleActions | None = None


def _editor(request: Any) -> Agent:
    agent = current_agent(request)
    if not agent.is_supervisor:
        raise HttpError(403, "Only supervisors and admins manage routing rules.")
    return agent


def _rule_or_404(agent: Agent, public_id: uuid.UUID) -> RoutingRule:
    rule = routing_rule_for(agent.workspace, public_id)
    if rule is None:
        raise HttpError(404, "No such routing rule.")
    return rule


def _resolve(agent: Agent, actions: RuleActions) -> tuple[Team, Agent | None]:
    team = Team.objects.filter(workspace_id=agent.workspace_id, slug=actions.team).first()
    if team is None:
        raise HttpError(422, "Name a team of this workspace.")
    if actions.assignee is None:
        return team, None
    assignee = Agent.objects.filter(
        workspace_id=agent.workspace_id, user__username=actions.assignee
    ).first()
    if assignee is None:
        raise HttpError(422, "Name an agent of this workspace.")
    return team, assignee


def _out(rule: RoutingRule) -> RuleOut:
    return RuleOut(
        id=rule.public_id,
        name=rule.name,
        position=rule.position,
        enabled=rule.enabled,
        conditions=rule.conditions,
        actions=RuleActionsOut(
            team=rule.team.slug,
            assignee=rule.assignee.user.get_username() if rule.assignee else None,
        ),
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


@router.get("/routing-rules", response=list[RuleOut], summary="Routing rules, in order")
def list_rules(request: Any) -> list[RuleOut]:
    """The workspace's rules in the order they are tried on a new case."""
    return [_out(rule) for rule in routing_rules(_editor(request).workspace)]


@router.post("/routing-rules", response={201: RuleOut}, summary="Add a routing rule")
def create_rule(request: Any, body: RuleIn) -> Status[RuleOut]:
    agent = _editor(request)
    team, assignee = _resolve(agent, body.actions)
    try:
        rule = services.create_rule(
            agent=agent,
            name=body.name,
            conditions=body.conditions,
            team=team,
            assignee=assignee,
            enabled=body.enabled,
            position=body.position,
        )
    except services.RuleInvalid as error:
        raise HttpError(422, str(error)) from error
    except PermissionDenied as error:
        raise HttpError(403, str(error)) from error
    return Status(201, _out(_rule_or_404(agent, rule.public_id)))


@router.patch("/routing-rules/{public_id}", response=RuleOut, summary="Change a routing rule")
def update_rule(request: Any, public_id: uuid.UUID, body: RulePatch) -> RuleOut:
    """Rename, change conditions or actions, switch on or off, or move (``position``)."""
    agent = _editor(request)
    rule = _rule_or_404(agent, public_id)
    if body.actions is not None:
        team, assignee = _resolve(agent, body.actions)
    else:
        team, assignee = rule.team, rule.assignee
    try:
        services.update_rule(
            agent=agent,
            rule=rule,
            name=body.name if body.name is not None else rule.name,
            conditions=body.conditions if body.conditions is not None else rule.conditions,
            team=team,
            assignee=assignee,
            enabled=body.enabled if body.enabled is not None else rule.enabled,
            position=body.position,
        )
    except services.RuleInvalid as error:
        raise HttpError(422, str(error)) from error
    except PermissionDenied as error:
        raise HttpError(403, str(error)) from error
    return _out(_rule_or_404(agent, public_id))


@router.delete("/routing-rules/{public_id}", response={204: None}, summary="Delete a rule")
def delete_rule(request: Any, public_id: uuid.UUID) -> Status[None]:
    agent = _editor(request)
    rule = _rule_or_404(agent, public_id)
    try:
        services.delete_rule(agent=agent, rule=rule)
    except services.RuleInvalid as error:
        raise HttpError(422, str(error)) from error
    except PermissionDenied as error:
        raise HttpError(403, str(error)) from error
    return Status(204, None)
