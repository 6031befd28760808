"""The insights page: login, workspace scope, period picker, escaping, empty periods."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from fairdesk.cases.models import Message
from fairdesk.insights.tests.rows import case, identity
from fairdesk.workspaces.models import Agent, Workspace


def test_insights_needs_login(db: None) -> None:
    response = Client().get("/insights/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_insights_shows_this_workspace_only(
    agent_client: Client, workspace: Workspace, other_workspace: Workspace
) -> None:
    now = timezone.now()
    fan = identity(workspace, "@fan", channel="<script>alert(1)</script>", followers=20)
    mine = case(fan, at=now - timedelta(days=2), answered_after=30, sentiment="positive")
    Message.objects.filter(case=mine, direction="inbound").update(stance="promotes")
    theirs = case(
        identity(other_workspace, "@h", channel="globex-only"), at=now, sentiment="neutral"
    )
    Message.objects.filter(case=theirs).update(stance="detracts")

    response = agent_client.get("/insights/", {"days": "7"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "globex-only" not in page
    assert response.context["sps"].sps == 100.0
    assert [r.group for r in response.context["parity"].by_channel] == ["<script>alert(1)</script>"]
    assert response.context["end"] - response.context["start"] == timedelta(days=7)


def test_insights_empty_period_says_no_data(agent_client: Client) -> None:
    response = agent_client.get("/insights/", {"start": "2020-01-01", "end": "2020-01-31"})
    assert response.status_code == 200
    assert "no data" in response.content.decode()
    assert response.context["sps"].sps is None
    assert response.context["end"] - response.context["start"] == timedelta(days=31)


def test_insights_rejects_a_backwards_period(agent_client: Client) -> None:
    response = agent_client.get("/insights/", {"start": "2026-02-01", "end": "2026-01-01"})
    assert response.status_code == 400
    assert "start must be before end" in response.content.decode()
    assert "sps" not in response.context


def test_insights_refuses_a_user_without_an_agent(db: None, agent: Agent) -> None:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.create_user(username="root", password="x" * 20))
    assert client.get("/insights/").status_code == 403
