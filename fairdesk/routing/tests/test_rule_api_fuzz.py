"""Schemathesis on the routing-rules operations, as a supervisor (the project-wide fuzz
test calls as an agent, who gets 403 here): no body may make them answer 5xx."""

from fairdesk.routing.models import RoutingRule
from fairdesk.routing.services import create_rule
from fairdesk.testing.api_fuzz import assert_never_5xx, operations, served_schema
from fairdesk.workspaces.models import Agent, Team, Workspace
from fairdesk.workspaces.services import issue_token

EXAMPLES_PER_OPERATION = 40


def test_fuzz_routing_rules_never_answer_5xx(workspace: Workspace, supervisor: Agent) -> None:
    create_rule(
        agent=supervisor,
        name="Billing",
        conditions={"topic": ["billing"]},
        team=Team.objects.get(workspace=workspace, slug="billing"),
    )
    headers = {"Authorization": f"Bearer {issue_token(agent=supervisor)}"}
    with served_schema() as schema:
        rules = operations(schema, prefix="/api/v1/routing-rules")
        assert sorted((o.method.upper(), o.path) for o in rules) == [
            ("DELETE", "/api/v1/routing-rules/{public_id}"),
            ("GET", "/api/v1/routing-rules"),
            ("PATCH", "/api/v1/routing-rules/{public_id}"),
            ("POST", "/api/v1/routing-rules"),
        ]
        for operation in rules:
            assert_never_5xx(operation, headers=headers, examples=EXAMPLES_PER_OPERATION)
    assert RoutingRule.objects.filter(workspace=workspace).count() >= 1
