"""Schemathesis against ``POST /api/v1/calls`` only: no body may make it answer 5xx."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from fairdesk.connectors.models import Channel
from fairdesk.workspaces.models import Workspace

EXAMPLES = 100


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Like Django's test client: calling the WSGI app must not close the test transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.fuzz
def test_fuzz_calls_never_answers_5xx(
    phone: Channel, workspace: Workspace, telephony: str, keep_test_connection: None
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    operation = schema["/api/v1/calls"]["POST"]
    headers = {"Authorization": f"Bearer {telephony}"}

    @given(generated=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def no_server_error(generated: Any) -> None:
        response = generated.call(headers=headers)
        assert response.status_code < 500, (generated.body, response.text)

    no_server_error()
