"""Cases and agents for routing tests, with deadlines set to the minute."""

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from conftest import PASSWORD
from fairdesk.cases.models import Case
from fairdesk.cases.tests.factories import make_case
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import create_agent


def queued(
    workspace: Workspace,
    key: str,
    *,
    due_in: int | None,
    now: datetime | None = None,
    followers: int | None = 10,
    **fields: Any,
) -> Case:
    """A case whose queue key (``escalation_at``) is ``due_in`` minutes from ``now``
    (None: no deadline), with any other Case fields given."""
    now = now or timezone.now()
    case = make_case(
        workspace,
        external_id=f"{workspace.slug}-{key}",
        handle=f"@{key}",
        name=key.title(),
        followers=followers,
        text=f"Message from {key}",
    )
    escalation_at = None if due_in is None else now + timedelta(minutes=due_in)
    Case.objects.filter(pk=case.pk).update(escalation_at=escalation_at, **fields)
    case.refresh_from_db()
    return case


def colleague(
    workspace: Workspace, username: str, *, is_available: bool = False, **fields: Any
) -> Agent:
    agent = create_agent(
        workspace=workspace,
        username=username,
        password=PASSWORD,
        display_name=username.title(),
        initials=username[:2],
        **fields,
    )
    if is_available:
        agent.is_available = True
        agent.save(update_fields=["is_available"])
    return agent
