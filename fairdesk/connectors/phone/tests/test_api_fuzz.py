"""Schemathesis against ``POST /api/v1/calls`` only: no body may make it answer 5xx."""

import pytest

from fairdesk.connectors.models import Channel
from fairdesk.testing.api_fuzz import assert_never_5xx, served_schema
from fairdesk.workspaces.models import Workspace

EXAMPLES = 100


@pytest.mark.fuzz
def test_fuzz_calls_never_answers_5xx(phone: Channel, workspace: Workspace, telephony: str) -> None:
    with served_schema() as schema:
        assert_never_5xx(
            schema["/api/v1/calls"]["POST"],
            headers={"Authorization": f"Bearer {telephony}"},
            examples=EXAMPLES,
        )
