"""The routing-rules settings pages: supervisors and admins manage rules; agents cannot
(and nothing changes); another workspace's rule is a 404; hostile names are escaped."""

import uuid
from typing import Any

import pytest
from django.test import Client

from fairdesk.routing.models import RoutingRule, RoutingRuleChange
from fairdesk.routing.services import create_rule
from fairdesk.routing.tests.builders import colleague
from fairdesk.workspaces.models import Agent, Team, Workspace

LIST = "/settings/routing-rules/"
HOSTILE = '<script>alert("x")</script>\r\nSet-Cookie: a=b'


def team(workspace: Workspace, slug: str) -> Team:
    return Team.objects.get(workspace=workspace, slug=slug)


def client_for(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


@pytest.fixture
def boss(supervisor: Agent) -> Client:
    return client_for(supervisor)


def form(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Refunds",
        "enabled": "on",
        "topic": "billing",
        "severity": ["high", "normal"],
        "text_contains": "refund\r\n  charged twice  \r\n",
        "team": "billing",
        **fields,
    }


def rule(agent: Agent, name: str, slug: str = "billing") -> RoutingRule:
    return create_rule(
        agent=agent, name=name, conditions={"topic": ["billing"]}, team=team(agent.workspace, slug)
    )


def test_supervisor_creates_a_rule_through_the_form(
    workspace: Workspace, supervisor: Agent, boss: Client
) -> None:
    biller = colleague(workspace, "bill", team=team(workspace, "billing"))
    response = boss.post(f"{LIST}new/", form(assignee=str(biller.pk), signals=["money_lost"]))
    assert response.status_code == 302
    stored = RoutingRule.objects.get()
    assert (stored.name, stored.enabled, stored.team.slug, stored.assignee) == (
        "Refunds",
        True,
        "billing",
        biller,
    )
    assert stored.conditions == {
        "topic": ["billing"],
        "severity": ["high", "normal"],
        "signals": ["money_lost"],
        "text_contains": ["refund", "charged twice"],
    }
    page = boss.get(LIST).content.decode()
    assert "Refunds" in page
    assert "“refund” or “charged twice”" in page
    assert "to Bill if available" in page


def test_edit_form_shows_and_saves_the_rule(
    workspace: Workspace, supervisor: Agent, boss: Client
) -> None:
    existing = rule(supervisor, "Billing")
    url = f"{LIST}{existing.public_id}/"
    shown = boss.get(url)
    assert shown.status_code == 200
    assert 'value="Billing"' in shown.content.decode()
    saved = boss.post(url, form(name="Billing v2", enabled="", language="de, FR"))
    assert saved.status_code == 302
    existing.refresh_from_db()
    assert (existing.name, existing.enabled) == ("Billing v2", False)
    assert existing.conditions["language"] == ["de", "fr"]


def test_the_form_offers_no_channel_and_refuses_one(
    workspace: Workspace, supervisor: Agent, boss: Client
) -> None:
    """The channel a case started on may not choose its team (DESIGN §5)."""
    blank = boss.get(f"{LIST}new/").content.decode()
    assert 'name="topic"' in blank
    assert 'name="channel"' not in blank
    assert "Started on" not in blank
    refused = boss.post(f"{LIST}new/", form(channel="email"))
    assert refused.status_code == 422
    assert "Unknown fields: channel." in refused.content.decode()
    assert RoutingRule.objects.count() == 0
    existing = rule(supervisor, "Billing")
    url = f"{LIST}{existing.public_id}/"
    assert 'name="channel"' not in boss.get(url).content.decode()
    assert boss.post(url, form(name="Email", channel="email, x")).status_code == 422
    existing.refresh_from_db()
    assert (existing.name, existing.conditions) == ("Billing", {"topic": ["billing"]})
    assert RoutingRuleChange.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"followers": "1000"}, "Unknown fields: followers"),
        ({"visibility": "public"}, "Unknown fields: visibility"),
        ({"text_contains": "refund\r\n!!!"}, "has no letter or digit"),
        ({"priority": "high", "deadline": "soon"}, "Unknown fields: deadline, priority"),
        ({"topic": "Billing Team!"}, "topic"),
        ({"text_contains": "x" * 101}, "text_contains"),
        ({"team": "no-such-team"}, "Select a valid choice"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_forms_are_refused_with_an_error_and_change_nothing(
    workspace: Workspace, boss: Client, fields: dict[str, Any], error: str
) -> None:
    response = boss.post(f"{LIST}new/", form(**fields))
    assert response.status_code == 422
    assert error in response.content.decode()
    assert RoutingRule.objects.count() == 0


def test_assignee_of_another_team_is_a_form_error(workspace: Workspace, boss: Client) -> None:
    fixer = colleague(workspace, "fixer", team=team(workspace, "field-service"))
    response = boss.post(f"{LIST}new/", form(assignee=str(fixer.pk)))
    assert response.status_code == 422
    assert "Choose an agent of the team Billing" in response.content.decode()
    assert RoutingRule.objects.count() == 0


def test_move_switch_and_delete(workspace: Workspace, supervisor: Agent, boss: Client) -> None:
    a, b = rule(supervisor, "A"), rule(supervisor, "B")
    assert boss.post(f"{LIST}{b.public_id}/move/", {"direction": "up"}).status_code == 302
    assert list(RoutingRule.objects.order_by("position").values_list("name", flat=True)) == [
        "B",
        "A",
    ]
    assert boss.post(f"{LIST}{b.public_id}/move/", {"direction": "sideways"}).status_code == 422
    assert boss.post(f"{LIST}{a.public_id}/enabled/", {"enabled": "off"}).status_code == 302
    assert RoutingRule.objects.get(pk=a.pk).enabled is False
    assert boss.post(f"{LIST}{b.public_id}/delete/").status_code == 302
    assert list(RoutingRule.objects.values_list("name", "position")) == [("A", 1)]
    page = boss.get(LIST).content.decode()
    for action in ("moved “B”", "disabled “A”", "deleted “B”"):
        assert action in page


def test_agents_cannot_see_or_change_rules(
    workspace: Workspace, agent: Agent, supervisor: Agent, agent_client: Client
) -> None:
    existing = rule(supervisor, "Billing")
    base = f"{LIST}{existing.public_id}/"
    assert agent_client.get(LIST).status_code == 403
    assert agent_client.get(f"{LIST}new/").status_code == 403
    assert agent_client.post(f"{LIST}new/", form(name="Mine")).status_code == 403
    assert agent_client.post(base, form(name="Hijacked")).status_code == 403
    assert agent_client.post(f"{base}move/", {"direction": "down"}).status_code == 403
    assert agent_client.post(f"{base}enabled/", {"enabled": "off"}).status_code == 403
    assert agent_client.post(f"{base}delete/").status_code == 403
    assert list(RoutingRule.objects.values_list("name", "enabled")) == [("Billing", True)]
    assert RoutingRuleChange.objects.count() == 1
    assert "Routing rules" not in agent_client.get("/").content.decode()
    assert 'href="/settings/routing-rules/"' in client_for(supervisor).get("/").content.decode()


def test_another_workspaces_rule_is_a_404(
    workspace: Workspace, other_workspace: Workspace, boss: Client
) -> None:
    admin = colleague(other_workspace, "globex-admin", role=Agent.Role.ADMIN)
    theirs = rule(admin, "Globex billing")
    base = f"{LIST}{theirs.public_id}/"
    assert boss.get(base).status_code == 404
    assert boss.post(base, form(name="Hijacked")).status_code == 404
    assert boss.post(f"{base}move/", {"direction": "down"}).status_code == 404
    assert boss.post(f"{base}enabled/", {"enabled": "off"}).status_code == 404
    assert boss.post(f"{base}delete/").status_code == 404
    assert boss.get(f"{LIST}{uuid.uuid4()}/").status_code == 404
    assert "Globex billing" not in boss.get(LIST).content.decode()
    theirs.refresh_from_db()
    assert (theirs.name, theirs.enabled) == ("Globex billing", True)
    # Their team is not offered either: a slug names the caller's own team.
    boss.post(f"{LIST}new/", form(name="Mine"))
    assert RoutingRule.objects.get(name="Mine").team == team(workspace, "billing")


def test_hostile_names_are_escaped_and_flattened(
    workspace: Workspace, supervisor: Agent, boss: Client
) -> None:
    assert boss.post(f"{LIST}new/", form(name=HOSTILE)).status_code == 302
    stored = RoutingRule.objects.get()
    assert stored.name == '<script>alert("x")</script> Set-Cookie: a=b'
    for url in (LIST, f"{LIST}{stored.public_id}/"):
        page = boss.get(url).content.decode()
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_pages_need_csrf_and_login(workspace: Workspace, supervisor: Agent) -> None:
    anonymous = Client()
    assert anonymous.get(LIST).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(supervisor.user)
    assert strict.post(f"{LIST}new/", form()).status_code == 403
    assert RoutingRule.objects.count() == 0
