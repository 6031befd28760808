"""Schemathesis against the OpenAPI schema the app serves: no input may make an operation
answer 5xx. Shared by the fuzz tests of the whole API and of single apps' operations.

The operations are called through the WSGI app inside the test's own transaction, so the
database rows a test makes are there and are rolled back after it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, BaseSchema
from schemathesis.core.result import Err, Ok

SCHEMA_URL = "/api/v1/openapi.json"


@contextmanager
def served_schema() -> Iterator[BaseSchema]:
    """The schema as the app serves it. Like Django's test client, calling the WSGI app
    meanwhile must not close the test's database connection (and so its transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def operations(schema: BaseSchema, *, prefix: str = "") -> list[APIOperation]:
    """The schema's operations whose path starts with ``prefix``; every operation in the
    schema must load."""
    results = list(schema.get_all_operations())
    loaded = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(loaded) == len(results), [r.err() for r in results if isinstance(r, Err)]
    return [operation for operation in loaded if operation.path.startswith(prefix)]


def assert_never_5xx(operation: APIOperation, *, headers: dict[str, str], examples: int) -> None:
    """Call ``operation`` with ``examples`` generated inputs: none may answer 5xx."""

    @given(generated=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def no_server_error(generated: Any) -> None:
        response = generated.call(headers=headers)
        assert response.status_code < 500, (generated.method, generated.path, response.text)

    no_server_error()
