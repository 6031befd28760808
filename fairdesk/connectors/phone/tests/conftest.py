import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from conftest import PASSWORD
from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent, issue_token

FIXTURES = Path(__file__).parent / "fixtures"
CALLER = "+442079460958"


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_call(token: str, body: dict[str, Any]) -> Any:
    return Client().post(
        "/api/v1/calls", json.dumps(body), content_type="application/json", headers=bearer(token)
    )


@pytest.fixture
def phone(workspace: Workspace) -> Channel:
    return create_channel(workspace=workspace, kind="phone", name="Acme hotline", config={})


@pytest.fixture
def globex_phone(other_workspace: Workspace) -> Channel:
    return create_channel(workspace=other_workspace, kind="phone", name="Globex line", config={})


@pytest.fixture
def telephony(agent: Agent) -> str:
    """Acme's telephony bridge token."""
    return issue_token(agent=agent, name="telephony")


@pytest.fixture
def globex_telephony(other_workspace: Workspace) -> str:
    bridge = create_agent(
        workspace=other_workspace,
        username="globex-bridge",
        password=PASSWORD,
        display_name="Globex telephony",
        initials="GT",
    )
    return issue_token(agent=bridge, name="telephony")
