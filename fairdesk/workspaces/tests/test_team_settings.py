"""The teams settings page: where a team's alerts go, set by a supervisor."""

from typing import Any

import pytest
from django.test import Client

from fairdesk.workspaces.models import Agent, Team, TeamAlert, Workspace

pytestmark = pytest.mark.django_db


def signed_in(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def billing(workspace: Workspace) -> Team:
    return Team.objects.get(workspace=workspace, slug="billing")


def test_a_supervisor_sets_the_alert_address(workspace: Workspace, supervisor: Agent) -> None:
    client = signed_in(supervisor)
    page = client.get("/settings/teams/")
    assert page.status_code == 200
    assert b"/settings/teams/billing/" in page.content
    response = client.post("/settings/teams/billing/", {"alert_email": "billing@acme.test"})
    assert response.status_code == 302 and response["Location"] == "/settings/teams/"
    assert billing(workspace).alert_email == "billing@acme.test"
    client.post("/settings/teams/billing/", {"alert_email": ""})
    assert billing(workspace).alert_email == ""


@pytest.mark.parametrize(
    "value",
    [
        "billing@acme.test\r\nBcc: victim@evil.test",
        "billing@acme.test\n",
        "billing@acme.test, other@acme.test",
        "billing@acme.test other@acme.test",
        "<b>billing</b>@acme.test",
        "x" * 250 + "@acme.test",
        "not an address",
    ],
)
def test_a_bad_address_is_refused_and_changes_nothing(
    workspace: Workspace, supervisor: Agent, value: str
) -> None:
    Team.objects.filter(pk=billing(workspace).pk).update(alert_email="kept@acme.test")
    response = signed_in(supervisor).post("/settings/teams/billing/", {"alert_email": value})
    assert response.status_code == 422
    assert b'role="alert"' in response.content
    assert billing(workspace).alert_email == "kept@acme.test"


def test_agents_may_not_change_it(workspace: Workspace, agent: Agent) -> None:
    client = signed_in(agent)
    assert client.get("/settings/teams/").status_code == 403
    response = client.post("/settings/teams/billing/", {"alert_email": "me@acme.test"})
    assert response.status_code == 403
    assert billing(workspace).alert_email == ""


def test_another_workspace_team_is_out_of_reach(
    workspace: Workspace, other_workspace: Workspace, supervisor: Agent
) -> None:
    Team.objects.filter(workspace=other_workspace, slug="security").update(slug="globex-sec")
    client = signed_in(supervisor)
    response = client.post("/settings/teams/globex-sec/", {"alert_email": "x@acme.test"})
    assert response.status_code == 404
    client.post("/settings/teams/billing/", {"alert_email": "b@acme.test"})
    assert billing(other_workspace).alert_email == ""  # same slug, other workspace
    assert billing(workspace).alert_email == "b@acme.test"


def test_the_page_lists_only_this_workspace_alerts(
    workspace: Workspace, other_workspace: Workspace, supervisor: Agent
) -> None:
    def alert(ws: Workspace, key: str, **params: Any) -> None:
        TeamAlert.objects.create(
            workspace=ws,
            team=billing(ws),
            kind=TeamAlert.Kind.PILEON,
            key=key,
            at="2026-11-02T09:04:00Z",
            available_at="2026-11-02T09:04:00Z",
            status=TeamAlert.Status.SENT,
            recipients=[f"{key}@example.test"],
            params={"authors": 5, "cases": 5, **params},
        )

    alert(workspace, "ours")
    alert(other_workspace, "theirs")
    page = signed_in(supervisor).get("/settings/teams/")
    assert b"ours@example.test" in page.content
    assert b"theirs@example.test" not in page.content
