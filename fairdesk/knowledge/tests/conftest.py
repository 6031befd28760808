import pytest

from conftest import PASSWORD
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent


@pytest.fixture
def other_supervisor(other_workspace: Workspace) -> Agent:
    """A supervisor of the other workspace: may edit Globex's texts, never Acme's."""
    return create_agent(
        workspace=other_workspace,
        username="globex-boss",
        password=PASSWORD,
        display_name="Gia Boss",
        initials="GB",
        role=Agent.Role.SUPERVISOR,
    )
