"""Schemathesis against the served OpenAPI schema: no input may make the API answer 5xx.

Takes ~10-20 s. Deselect with ``-k "not fuzz"``.
"""

from datetime import UTC, datetime

from fairdesk.insights.tests.rows import case, identity
from fairdesk.testing.api_fuzz import assert_never_5xx, operations, served_schema
from fairdesk.workspaces.models import Workspace

EXAMPLES_PER_OPERATION = 30


def test_fuzz_api_never_answers_5xx(workspace: Workspace, api_token: str) -> None:
    case(identity(workspace, "@dana"), at=datetime(2026, 11, 2, tzinfo=UTC), answered_after=5)
    headers = {"Authorization": f"Bearer {api_token}"}
    with served_schema() as schema:
        every = operations(schema)
        assert len(every) == 57
        for operation in every:
            assert_never_5xx(operation, headers=headers, examples=EXAMPLES_PER_OPERATION)
