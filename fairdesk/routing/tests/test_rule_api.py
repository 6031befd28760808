"""The routing-rules API: supervisors only, workspace-scoped (another workspace's rule is
a 404), unknown fields refused with 422 (no channel, no followers, no priority), audited."""

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from fairdesk.routing.models import RoutingRule, RoutingRuleChange
from fairdesk.routing.services import create_rule
from fairdesk.routing.tests.builders import colleague
from fairdesk.workspaces.models import Agent, Team, Workspace
from fairdesk.workspaces.services import issue_token

URL = "/api/v1/routing-rules"


class Api:
    def __init__(self, agent: Agent) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {issue_token(agent=agent)}"}

    def get(self, path: str = URL) -> Any:
        return self.client.get(path, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else None
        call = getattr(self.client, method)
        return call(path, data, content_type="application/json", headers=self.headers)


def team(workspace: Workspace, slug: str) -> Team:
    return Team.objects.get(workspace=workspace, slug=slug)


@pytest.fixture
def boss_api(supervisor: Agent) -> Api:
    return Api(supervisor)


@pytest.fixture
def foreign_rule(other_workspace: Workspace) -> RoutingRule:
    admin = colleague(other_workspace, "globex-admin", role=Agent.Role.ADMIN)
    return create_rule(
        agent=admin,
        name="Globex refunds",
        conditions={"text_contains": ["refund"]},
        team=team(other_workspace, "billing"),
    )


def body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Refunds",
        "conditions": {"text_contains": ["refund"], "topic": ["billing"]},
        "actions": {"team": "billing"},
        **fields,
    }


def test_create_list_update_and_delete(
    workspace: Workspace, supervisor: Agent, boss_api: Api
) -> None:
    biller = colleague(workspace, "bill", team=team(workspace, "billing"))
    created = boss_api.send("post", URL, body(actions={"team": "billing", "assignee": "bill"}))
    assert created.status_code == 201, created.content
    rule = created.json()
    assert {k: rule[k] for k in ("name", "position", "enabled", "conditions", "actions")} == {
        "name": "Refunds",
        "position": 1,
        "enabled": True,
        "conditions": {"topic": ["billing"], "text_contains": ["refund"]},
        "actions": {"team": "billing", "assignee": "bill"},
    }
    second = boss_api.send(
        "post", URL, body(name="German", conditions={"language": ["de"]}, position=1)
    )
    assert second.status_code == 201
    listed = boss_api.get().json()
    assert [(r["name"], r["position"]) for r in listed] == [("German", 1), ("Refunds", 2)]

    path = f"{URL}/{rule['id']}"
    patched = boss_api.send("patch", path, {"enabled": False, "position": 1})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["enabled"], patched.json()["position"]) == (False, 1)
    assert patched.json()["actions"] == {"team": "billing", "assignee": "bill"}
    moved = boss_api.send(
        "patch", path, {"actions": {"team": "field-service"}, "conditions": {"topic": ["repair"]}}
    )
    assert moved.json()["actions"] == {"team": "field-service", "assignee": None}
    assert moved.json()["conditions"] == {"topic": ["repair"]}

    assert boss_api.send("delete", path).status_code == 204
    assert [r["name"] for r in boss_api.get().json()] == ["German"]
    assert list(
        RoutingRuleChange.objects.filter(workspace=workspace)
        .order_by("id")
        .values_list("action", "actor")
    ) == [
        ("created", supervisor.pk),
        ("created", supervisor.pk),
        ("updated", supervisor.pk),  # disabled and moved at once
        ("updated", supervisor.pk),
        ("deleted", supervisor.pk),
    ]
    assert biller.routing_rules.count() == 0


@pytest.mark.parametrize(
    "bad",
    [
        body(conditions={"channel": ["email"]}),
        body(conditions={"topic": ["billing"], "channel": ["x"]}),
        body(conditions={"visibility": ["private"]}),
        body(conditions={"text_contains": ["!!!"]}),
        body(conditions={"followers_gt": 1000}),
        body(conditions={"topic": ["billing"], "verified": True}),
        body(conditions={"reach": 10}),
        body(actions={"team": "billing", "priority": "high"}),
        body(actions={"team": "billing", "severity": "critical"}),
        body(actions={"team": "billing", "deadline": "2026-11-02T10:00:00Z"}),
        body(workspace=2),
        body(followers=1000),
        body(order_by="-followers"),
        body(name=""),
        body(position=0),
        body(actions={}),
        body(conditions={"signals": ["vip"]}),
    ],
)
def test_unknown_or_bad_fields_are_422_and_change_nothing(
    boss_api: Api, bad: dict[str, Any]
) -> None:
    response = boss_api.send("post", URL, bad)
    assert response.status_code == 422, response.content
    assert RoutingRule.objects.count() == 0
    assert RoutingRuleChange.objects.count() == 0


def test_patch_refuses_unknown_fields(
    workspace: Workspace, supervisor: Agent, boss_api: Api
) -> None:
    rule = create_rule(agent=supervisor, name="R", conditions={}, team=team(workspace, "billing"))
    for bad in (
        {"followers": 5},
        {"priority": "high"},
        {"conditions": {"follower_count": 1}},
        {"conditions": {"channel": ["email"]}},
        {"name": "Email", "conditions": {"topic": ["billing"], "channel": ["email"]}},
    ):
        assert boss_api.send("patch", f"{URL}/{rule.public_id}", bad).status_code == 422
    assert list(RoutingRule.objects.values_list("name", "conditions")) == [("R", {})]
    assert RoutingRuleChange.objects.filter(action="updated").count() == 0


def test_other_workspace_rules_and_teams_are_unknown(
    workspace: Workspace,
    other_workspace: Workspace,
    boss_api: Api,
    foreign_rule: RoutingRule,
) -> None:
    path = f"{URL}/{foreign_rule.public_id}"
    assert boss_api.get().json() == []
    assert boss_api.send("patch", path, {"enabled": False}).status_code == 404
    assert boss_api.send("delete", path).status_code == 404
    assert boss_api.send("patch", f"{URL}/{uuid.uuid4()}", {"enabled": False}).status_code == 404
    colleague(other_workspace, "globex-bill", team=team(other_workspace, "billing"))
    foreign_agent = boss_api.send(
        "post", URL, body(actions={"team": "billing", "assignee": "globex-bill"})
    )
    assert foreign_agent.status_code == 422
    # A slug that exists in both workspaces resolves to the caller's own team.
    own = boss_api.send("post", URL, body())
    assert own.status_code == 201
    assert RoutingRule.objects.get(name="Refunds").team == team(workspace, "billing")
    foreign_rule.refresh_from_db()
    assert (foreign_rule.enabled, foreign_rule.position) == (True, 1)
    assert RoutingRuleChange.objects.filter(workspace=other_workspace).count() == 1


def test_agents_may_not_use_the_rules_api(
    workspace: Workspace, agent: Agent, supervisor: Agent
) -> None:
    rule = create_rule(agent=supervisor, name="R", conditions={}, team=team(workspace, "billing"))
    api = Api(agent)
    assert api.get().status_code == 403
    assert api.send("post", URL, body()).status_code == 403
    assert api.send("patch", f"{URL}/{rule.public_id}", {"enabled": False}).status_code == 403
    assert api.send("delete", f"{URL}/{rule.public_id}").status_code == 403
    assert list(RoutingRule.objects.values_list("name", "enabled")) == [("R", True)]
    assert Client().get(URL).status_code == 401


def test_duplicate_name_and_assignee_of_another_team_are_422(
    workspace: Workspace, boss_api: Api
) -> None:
    colleague(workspace, "fixer", team=team(workspace, "field-service"))
    assert boss_api.send("post", URL, body()).status_code == 201
    duplicate = boss_api.send("post", URL, body(name="  Refunds "))
    assert duplicate.status_code == 422
    assert "already a rule named" in duplicate.json()["detail"]
    wrong = boss_api.send(
        "post", URL, body(name="Other", actions={"team": "billing", "assignee": "fixer"})
    )
    assert wrong.status_code == 422
    assert RoutingRule.objects.count() == 1


def test_a_channel_condition_is_refused_with_the_reason(
    workspace: Workspace, boss_api: Api
) -> None:
    """The channel a case started on may not choose its team (DESIGN §5)."""
    response = boss_api.send("post", URL, body(conditions={"channel": ["email"]}))
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert [(p["loc"][-1], p["type"]) for p in problems] == [("channel", "extra_forbidden")]
    assert RoutingRule.objects.count() == 0
    schema = Client().get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "channel" not in schema["RuleConditions"]["properties"]
    assert schema["RuleConditions"]["additionalProperties"] is False


def test_hostile_names_come_back_as_plain_json(workspace: Workspace, boss_api: Api) -> None:
    name = '<img src=x onerror=alert(1)> =HYPERLINK("evil")'
    created = boss_api.send("post", URL, body(name=name))
    assert created.status_code == 201
    assert created["Content-Type"].startswith("application/json")
    assert boss_api.get().json()[0]["name"] == name
