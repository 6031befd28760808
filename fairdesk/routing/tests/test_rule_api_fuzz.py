"""Schemathesis on the routing-rules operations, as a supervisor (the project-wide fuzz
test calls as an agent, who gets 403 here): no body may make them answer 5xx."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from fairdesk.routing.models import RoutingRule
from fairdesk.routing.services import create_rule
from fairdesk.workspaces.models import Agent, Team, Workspace
from fairdesk.workspaces.services import issue_token

EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Like Django's test client: calling the WSGI app must not close the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_fuzz_routing_rules_never_answer_5xx(
    workspace: Workspace, supervisor: Agent, keep_test_connection: None
) -> None:
    create_rule(
        agent=supervisor,
        name="Billing",
        conditions={"topic": ["billing"]},
        team=Team.objects.get(workspace=workspace, slug="billing"),
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    headers = {"Authorization": f"Bearer {issue_token(agent=supervisor)}"}
    operations = [
        r.ok()
        for r in schema.get_all_operations()
        if isinstance(r, Ok) and r.ok().path.startswith("/api/v1/routing-rules")
    ]
    assert sorted((o.method.upper(), o.path) for o in operations) == [
        ("DELETE", "/api/v1/routing-rules/{public_id}"),
        ("GET", "/api/v1/routing-rules"),
        ("PATCH", "/api/v1/routing-rules/{public_id}"),
        ("POST", "/api/v1/routing-rules"),
    ]
    for operation in operations:

        @given(generated=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(generated: Any) -> None:
            response = generated.call(headers=headers)
            assert response.status_code < 500, (generated.method, generated.path, response.text)

        no_server_error()
    assert RoutingRule.objects.filter(workspace=workspace).count() >= 1
