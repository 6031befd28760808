"""The demo workspace, its agents and staff directory, created once and found again later.

``ensure_demo_workspace`` is idempotent: a second call finds everything and creates nothing.
"""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from fairdesk.demo.credentials import (
    DemoCredentials,
    credentials_path,
    ensure_passwords,
    load_credentials,
    save_credentials,
)
from fairdesk.workspaces.models import Agent, ApiToken, Employee, Team, Workspace
from fairdesk.workspaces.services import add_employee, create_agent, create_workspace

DEMO_NAME = "Acme Appliances & Air"
DEMO_SLUG = "demo"
BRAND_HANDLE = "@AcmeSupport"
TOKEN_OWNER = "jo"  # noqa: S105 - a username, not a secret


@dataclass(frozen=True, slots=True)
class AgentSpec:
    username: str
    display_name: str
    initials: str
    role: str
    team_slug: str | None = None


@dataclass(frozen=True, slots=True)
class EmployeeSpec:
    name: str
    title: str
    email: str
    aliases: tuple[str, ...] = ()
    manager: str | None = None


AGENTS = (
    AgentSpec("jo", "Jo Chen", "JC", Agent.Role.AGENT, "front-line"),
    AgentSpec("sam", "Sam Okafor", "SO", Agent.Role.SUPERVISOR),
)
# Managers come before the people who report to them.
STAFF = (
    EmployeeSpec("Grace Hopper", "Cabin crew manager", "grace.hopper@acme.example"),
    EmployeeSpec(
        "Maria Lopez",
        "Flight attendant",
        "maria.lopez@acme.example",
        aliases=("Maria L.",),
        manager="Grace Hopper",
    ),
    EmployeeSpec("Ana Silva", "Field service manager", "ana.silva@acme.example"),
    EmployeeSpec("Tom Becker", "Field technician", "tom.becker@acme.example", manager="Ana Silva"),
)


@dataclass(frozen=True, slots=True)
class DemoWorkspace:
    workspace: Workspace
    agents: dict[str, Agent]
    credentials: DemoCredentials
    created: bool


def ensure_demo_workspace(*, data_dir: Path | None = None) -> DemoWorkspace:
    """Find or create the demo workspace; secrets are kept in the data directory."""
    path = credentials_path(data_dir or settings.DATA_DIR)
    credentials = load_credentials(path)
    changed = ensure_passwords(credentials, [spec.username for spec in AGENTS])
    if not credentials.api_token:
        credentials.api_token = ApiToken.new_secret()
        changed = True
    if changed:
        save_credentials(path, credentials)
    with transaction.atomic():
        workspace, created = _workspace()
        agents = {
            spec.username: _agent(workspace, spec, credentials.password_for(spec.username))
            for spec in AGENTS
        }
        _staff(workspace)
        _api_token(agents[TOKEN_OWNER], credentials.api_token)
    return DemoWorkspace(workspace, agents, credentials, created)


def _workspace() -> tuple[Workspace, bool]:
    workspace = Workspace.objects.filter(slug=DEMO_SLUG).first()
    if workspace is not None:
        return workspace, False
    return create_workspace(name=DEMO_NAME, slug=DEMO_SLUG, brand_handle=BRAND_HANDLE), True


def _agent(workspace: Workspace, spec: AgentSpec, password: str) -> Agent:
    agent = (
        Agent.objects.select_related("user")
        .filter(workspace=workspace, user__username=spec.username)
        .first()
    )
    if agent is None:
        team = Team.objects.filter(workspace=workspace, slug=spec.team_slug).first()
        return create_agent(
            workspace=workspace,
            username=spec.username,
            password=password,
            display_name=spec.display_name,
            initials=spec.initials,
            role=spec.role,
            team=team,
        )
    if not agent.user.check_password(password):  # the credentials file was replaced
        agent.user.set_password(password)
        agent.user.save(update_fields=["password"])
    return agent


def _staff(workspace: Workspace) -> None:
    known = {e.name: e for e in Employee.objects.filter(workspace=workspace)}
    for spec in STAFF:
        if spec.name in known:
            continue
        known[spec.name] = add_employee(
            workspace=workspace,
            name=spec.name,
            title=spec.title,
            email=spec.email,
            aliases=list(spec.aliases),
            manager=known.get(spec.manager) if spec.manager else None,
        )


def _api_token(agent: Agent, secret: str) -> None:
    ApiToken.objects.get_or_create(
        digest=ApiToken.digest_of(secret), defaults={"agent": agent, "name": "demo"}
    )
