"""Routing-rule writes: who may make them, what is refused (and then nothing changes),
dense positions, and one audit row per change."""

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from fairdesk.routing.models import RoutingRule, RoutingRuleChange
from fairdesk.routing.services import (
    RuleInvalid,
    create_rule,
    delete_rule,
    move_rule,
    set_rule_enabled,
    update_rule,
)
from fairdesk.routing.tests.builders import colleague
from fairdesk.workspaces.models import Agent, Team, Workspace


def team(workspace: Workspace, slug: str) -> Team:
    return Team.objects.get(workspace=workspace, slug=slug)


def add(agent: Agent, name: str, slug: str = "billing", **fields: Any) -> RoutingRule:
    fields.setdefault("conditions", {"topic": ["billing"]})
    return create_rule(agent=agent, name=name, team=team(agent.workspace, slug), **fields)


def order(workspace: Workspace) -> list[tuple[int, str]]:
    return list(
        RoutingRule.objects.filter(workspace=workspace)
        .order_by("position", "id")
        .values_list("position", "name")
    )


def changes(workspace: Workspace) -> list[tuple[str, str]]:
    return list(
        RoutingRuleChange.objects.filter(workspace=workspace)
        .order_by("id")
        .values_list("action", "rule_name")
    )


def test_supervisor_creates_rules_last_or_at_a_position(
    workspace: Workspace, supervisor: Agent
) -> None:
    first = add(
        supervisor, "  Refunds \r\n to   billing ", conditions={"text_contains": ["refund"]}
    )
    add(supervisor, "Repairs", "field-service", conditions={"topic": ["repair"]})
    add(supervisor, "German first", "front-line", conditions={"language": ["de"]}, position=1)
    assert first.name == "Refunds to billing"
    assert order(workspace) == [(1, "German first"), (2, "Refunds to billing"), (3, "Repairs")]
    stored = RoutingRule.objects.get(pk=first.pk)
    assert stored.conditions == {"text_contains": ["refund"]}
    assert (stored.team.slug, stored.assignee, stored.enabled) == ("billing", None, True)
    audit = RoutingRuleChange.objects.filter(rule_public_id=first.public_id).get()
    assert (audit.action, audit.actor, audit.before) == ("created", supervisor, None)
    assert audit.after == {
        "name": "Refunds to billing",
        "position": 1,
        "enabled": True,
        "conditions": {"text_contains": ["refund"]},
        "team": "billing",
        "assignee": None,
    }


def test_agents_cannot_change_rules(workspace: Workspace, agent: Agent, supervisor: Agent) -> None:
    rule = add(supervisor, "Billing")
    with pytest.raises(PermissionDenied):
        add(agent, "Mine")
    billing = team(workspace, "billing")
    with pytest.raises(PermissionDenied):
        update_rule(
            agent=agent,
            rule=rule,
            name="Hijacked",
            conditions={},
            team=billing,
            assignee=None,
            enabled=True,
        )
    with pytest.raises(PermissionDenied):
        set_rule_enabled(agent=agent, rule=rule, enabled=False)
    with pytest.raises(PermissionDenied):
        move_rule(agent=agent, rule=rule, position=1)
    with pytest.raises(PermissionDenied):
        delete_rule(agent=agent, rule=rule)
    assert order(workspace) == [(1, "Billing")]
    assert RoutingRule.objects.get().enabled is True
    assert changes(workspace) == [("created", "Billing")]


def test_another_workspace_cannot_be_touched_or_named(
    workspace: Workspace, other_workspace: Workspace, supervisor: Agent
) -> None:
    boss = colleague(other_workspace, "globex-boss", role=Agent.Role.ADMIN)
    theirs = add(boss, "Globex billing")
    with pytest.raises(PermissionDenied):
        delete_rule(agent=supervisor, rule=theirs)
    with pytest.raises(PermissionDenied):
        move_rule(agent=supervisor, rule=theirs, position=2)
    with pytest.raises(RuleInvalid, match="team of this workspace"):
        create_rule(
            agent=supervisor,
            name="Foreign team",
            conditions={},
            team=team(other_workspace, "billing"),
        )
    foreign_agent = colleague(
        other_workspace, "globex-agent", team=team(other_workspace, "billing")
    )
    with pytest.raises(RuleInvalid, match="agent of the team"):
        add(supervisor, "Foreign agent", assignee=foreign_agent)
    assert RoutingRule.objects.filter(workspace=workspace).count() == 0
    assert order(other_workspace) == [(1, "Globex billing")]
    assert changes(workspace) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "   "}, "name of 1 to 80"),
        ({"name": "x" * 81}, "name of 1 to 80"),
        ({"conditions": {"followers_gt": 1000}}, "Extra inputs are not permitted"),
        ({"conditions": {"channel": ["email"]}}, "channel\n  Extra inputs are not permitted"),
        ({"conditions": {"text_contains": ["!!!"]}}, "has no letter or digit"),
        ({"conditions": {"topic": "billing"}}, "valid list"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_written(
    workspace: Workspace, supervisor: Agent, fields: dict[str, Any], message: str
) -> None:
    fields = {"name": "Fine", "conditions": {}, **fields}
    with pytest.raises(RuleInvalid, match=message):
        create_rule(agent=supervisor, team=team(workspace, "billing"), **fields)
    assert RoutingRule.objects.count() == 0
    assert RoutingRuleChange.objects.count() == 0


def test_names_are_unique_per_workspace(
    workspace: Workspace, other_workspace: Workspace, supervisor: Agent
) -> None:
    add(supervisor, "Billing")
    with pytest.raises(RuleInvalid, match="already a rule named"):
        add(supervisor, " Billing ")
    boss = colleague(other_workspace, "globex-boss", role=Agent.Role.SUPERVISOR)
    add(boss, "Billing")  # another workspace may use the same name
    assert RoutingRule.objects.filter(name="Billing").count() == 2


def test_assignee_must_be_on_the_rules_team(workspace: Workspace, supervisor: Agent) -> None:
    billing = team(workspace, "billing")
    biller = colleague(workspace, "bill", team=billing)
    fixer = colleague(workspace, "fix", team=team(workspace, "field-service"))
    rule = add(supervisor, "Billing", assignee=biller)
    assert rule.assignee == biller
    with pytest.raises(RuleInvalid, match="agent of the team Billing"):
        add(supervisor, "Wrong team", assignee=fixer)


def test_update_replaces_fields_and_audits_before_and_after(
    workspace: Workspace, supervisor: Agent
) -> None:
    rule = add(supervisor, "Billing")
    repair = team(workspace, "field-service")
    update_rule(
        agent=supervisor,
        rule=rule,
        name="Repairs",
        conditions={"topic": ["repair"], "language": ["en"]},
        team=repair,
        assignee=None,
        enabled=True,
    )
    stored = RoutingRule.objects.get()
    assert (stored.name, stored.team, stored.conditions) == (
        "Repairs",
        repair,
        {"topic": ["repair"], "language": ["en"]},
    )
    change = RoutingRuleChange.objects.get(action="updated")
    assert change.before is not None and change.after is not None
    assert (change.before["name"], change.after["name"]) == ("Billing", "Repairs")
    assert (change.before["team"], change.after["team"]) == ("billing", "field-service")
    # Saving the same values again is no change and writes no audit row.
    update_rule(
        agent=supervisor,
        rule=stored,
        name="Repairs",
        conditions={"language": ["en"], "topic": ["repair"]},
        team=repair,
        assignee=None,
        enabled=True,
    )
    assert changes(workspace) == [("created", "Billing"), ("updated", "Repairs")]


def test_enable_disable_move_and_delete_keep_positions_dense(
    workspace: Workspace, supervisor: Agent
) -> None:
    a, b, c = (add(supervisor, name) for name in ("A", "B", "C"))
    set_rule_enabled(agent=supervisor, rule=b, enabled=False)
    set_rule_enabled(agent=supervisor, rule=b, enabled=False)  # already off: no change
    assert RoutingRule.objects.get(pk=b.pk).enabled is False
    move_rule(agent=supervisor, rule=c, position=1)
    assert order(workspace) == [(1, "C"), (2, "A"), (3, "B")]
    move_rule(agent=supervisor, rule=c, position=99)
    assert order(workspace) == [(1, "A"), (2, "B"), (3, "C")]
    with pytest.raises(RuleInvalid, match="start at 1"):
        move_rule(agent=supervisor, rule=a, position=0)
    delete_rule(agent=supervisor, rule=a)
    assert order(workspace) == [(1, "B"), (2, "C")]
    assert changes(workspace) == [
        ("created", "A"),
        ("created", "B"),
        ("created", "C"),
        ("disabled", "B"),
        ("moved", "C"),
        ("moved", "C"),
        ("deleted", "A"),
    ]
    deleted = RoutingRuleChange.objects.get(action="deleted")
    assert (deleted.rule_public_id, deleted.after) == (a.public_id, None)
    assert deleted.before is not None and deleted.before["name"] == "A"


def test_a_rule_deleted_meanwhile_is_reported(workspace: Workspace, supervisor: Agent) -> None:
    rule = add(supervisor, "Gone")
    RoutingRule.objects.filter(pk=rule.pk).delete()
    with pytest.raises(RuleInvalid, match="deleted meanwhile"):
        set_rule_enabled(agent=supervisor, rule=rule, enabled=False)
    assert changes(workspace) == [("created", "Gone")]


def test_a_rule_whose_agent_left_the_team_can_still_be_renamed_or_switched_off(
    workspace: Workspace, supervisor: Agent
) -> None:
    billing = team(workspace, "billing")
    biller = colleague(workspace, "bill", team=billing)
    rule = add(supervisor, "Billing", assignee=biller)
    biller.team = team(workspace, "front-line")
    biller.save()
    update_rule(
        agent=supervisor,
        rule=rule,
        name="Billing (old)",
        conditions={"topic": ["billing"]},
        team=billing,
        assignee=biller,
        enabled=False,
    )
    assert RoutingRule.objects.filter(name="Billing (old)", enabled=False).count() == 1
    with pytest.raises(RuleInvalid, match="agent of the team"):
        update_rule(
            agent=supervisor,
            rule=rule,
            name="Billing (old)",
            conditions={},
            team=team(workspace, "field-service"),
            assignee=biller,
            enabled=False,
        )
