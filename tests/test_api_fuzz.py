"""Schemathesis against the served OpenAPI schema: no input may make the API answer 5xx.

Takes ~10-20 s. Deselect with ``-k "not fuzz"``.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err, Ok

from fairdesk.insights.tests.rows import case, identity
from fairdesk.workspaces.models import Workspace

EXAMPLES_PER_OPERATION = 30


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Like Django's test client: calling the WSGI app must not close the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_fuzz_api_never_answers_5xx(
    workspace: Workspace, api_token: str, keep_test_connection: None
) -> None:
    from datetime import UTC, datetime

    case(identity(workspace, "@dana"), at=datetime(2026, 11, 2, tzinfo=UTC), answered_after=5)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    headers = {"Authorization": f"Bearer {api_token}"}
    results = list(schema.get_all_operations())
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) == len(results), [r.err() for r in results if isinstance(r, Err)]
    assert len(operations) == 57
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
