from django.contrib.auth import get_user_model
from django.db import transaction

from fairdesk.routing.models import SlaPolicy
from fairdesk.routing.policy import DEFAULT_TARGETS
from fairdesk.workspaces.models import Agent, ApiToken, Employee, Team, Workspace

DEFAULT_TEAMS: tuple[tuple[str, str, list[str], bool], ...] = (
    ("Front line", "front-line", [], True),
    ("Security", "security", ["security"], False),
    ("Field service", "field-service", ["repair"], False),
    ("Billing", "billing", ["billing"], False),
)


@transaction.atomic
def create_workspace(*, name: str, slug: str, brand_handle: str = "") -> Workspace:
    """A workspace with the default teams and SLA policy table."""
    workspace = Workspace.objects.create(name=name, slug=slug, brand_handle=brand_handle)
    Team.objects.bulk_create(
        Team(workspace=workspace, name=n, slug=s, handles=h, is_default=d)
        for n, s, h, d in DEFAULT_TEAMS
    )
    SlaPolicy.objects.bulk_create(
        SlaPolicy(
            workspace=workspace,
            severity=severity,
            entitlement=entitlement,
            first_response_minutes=f,
            next_response_minutes=n,
            resolution_minutes=r,
        )
        for (severity, entitlement), (f, n, r) in DEFAULT_TARGETS.items()
    )
    return workspace


@transaction.atomic
def create_agent(
    *,
    workspace: Workspace,
    username: str,
    password: str,
    display_name: str,
    initials: str,
    role: str = Agent.Role.AGENT,
    team: Team | None = None,
) -> Agent:
    user = get_user_model().objects.create_user(username=username, password=password)
    return Agent.objects.create(
        workspace=workspace,
        user=user,
        display_name=display_name,
        initials=initials.upper()[:4],
        role=role,
        team=team,
    )


def issue_token(*, agent: Agent, name: str = "") -> str:
    """Create an API token and return its secret; only its digest is kept."""
    secret = ApiToken.new_secret()
    ApiToken.objects.create(agent=agent, name=name, digest=ApiToken.digest_of(secret))
    return secret


def add_employee(
    *,
    workspace: Workspace,
    name: str,
    title: str = "",
    email: str = "",
    aliases: list[str] | None = None,
    manager: Employee | None = None,
) -> Employee:
    return Employee.objects.create(
        workspace=workspace,
        name=name,
        title=title,
        email=email,
        aliases=aliases or [],
        manager=manager,
    )


def set_availability(*, agent: Agent, available: bool) -> Agent:
    """An agent starts or ends a shift: only available agents are handed cases."""
    Agent.objects.filter(pk=agent.pk).update(is_available=available)
    agent.is_available = available
    return agent


def set_team_alert_email(*, team: Team, alert_email: str) -> Team:
    """Where the team's alerts go (validated by the caller: one address or empty)."""
    team.alert_email = alert_email
    team.save(update_fields=["alert_email"])
    return team
