import json
import stat
from pathlib import Path

from django.contrib.auth import get_user_model

from fairdesk.demo.credentials import FILE_NAME
from fairdesk.demo.setup import DemoWorkspace, ensure_demo_workspace
from fairdesk.routing.models import SlaPolicy
from fairdesk.workspaces.models import Agent, ApiToken, Employee, Team, Workspace

COUNTED = (Workspace, Team, SlaPolicy, Agent, Employee, ApiToken, get_user_model())


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_demo_workspace_has_brand_teams_agents_and_staff(demo: DemoWorkspace) -> None:
    workspace = demo.workspace
    assert (workspace.name, workspace.slug, workspace.brand_handle) == (
        "Acme Appliances & Air",
        "demo",
        "@AcmeSupport",
    )
    assert set(workspace.teams.values_list("slug", flat=True)) >= {
        "front-line",
        "security",
        "field-service",
        "billing",
    }
    jo, sam = demo.agents["jo"], demo.agents["sam"]
    assert (jo.display_name, jo.initials, jo.role) == ("Jo Chen", "JC", Agent.Role.AGENT)
    assert (sam.display_name, sam.initials, sam.role) == ("Sam Okafor", "SO", "supervisor")
    assert jo.user.check_password(demo.credentials.password_for("jo"))
    maria = Employee.objects.get(workspace=workspace, name="Maria Lopez")
    assert maria.aliases == ["Maria L."] and maria.email
    assert maria.manager is not None and maria.manager.name == "Grace Hopper"
    tom = Employee.objects.get(workspace=workspace, name="Tom Becker")
    assert tom.manager is not None and tom.manager.name == "Ana Silva"
    assert ApiToken.objects.filter(
        agent=jo, digest=ApiToken.digest_of(demo.credentials.api_token)
    ).exists()


def test_credentials_are_kept_private_in_the_data_directory(
    demo: DemoWorkspace, tmp_path: Path
) -> None:
    path = tmp_path / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["passwords"] == demo.credentials.passwords
    assert data["api_token"] == demo.credentials.api_token


def test_running_twice_creates_nothing_new(demo: DemoWorkspace, tmp_path: Path) -> None:
    before = counts()
    again = ensure_demo_workspace(data_dir=tmp_path)
    assert counts() == before
    assert again.workspace == demo.workspace and not again.created
    assert again.credentials == demo.credentials


def test_a_lost_credentials_file_gets_new_working_secrets(
    demo: DemoWorkspace, tmp_path: Path
) -> None:
    (tmp_path / FILE_NAME).unlink()
    again = ensure_demo_workspace(data_dir=tmp_path)
    assert again.credentials.passwords["jo"] != demo.credentials.passwords["jo"]
    assert again.agents["jo"].user.check_password(again.credentials.password_for("jo"))
    assert ApiToken.objects.filter(digest=ApiToken.digest_of(again.credentials.api_token)).exists()
