"""The queue API: views, conditions (422 on unknown fields), search, bulk actions, take
next, availability and load. Two workspaces in every access test."""

import json
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.routing.models import AssignmentPolicy, SavedView
from fairdesk.routing.services import save_view
from fairdesk.routing.tests.builders import colleague, queued
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import issue_token


class Api:
    def __init__(self, agent: Agent) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {issue_token(agent=agent)}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        call = getattr(self.client, method)
        data = json.dumps(body) if body is not None else None
        return call(path, data, content_type="application/json", headers=self.headers)


@pytest.fixture
def api(agent: Agent) -> Api:
    return Api(agent)


def ids(response: Any) -> list[str]:
    return [item["id"] for item in response.json()["items"]]


# --- views and conditions ----------------------------------------------------------------


def test_queue_through_views_and_conditions(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, api: Api
) -> None:
    queued(other_workspace, "foreign", due_in=-9)
    mine = queued(workspace, "mine", due_in=20, assignee=agent, followers=9_000_000)
    free = queued(workspace, "free", due_in=10, severity="high")
    assert ids(api.get("/api/v1/queue")) == [str(free.public_id), str(mine.public_id)]
    assert ids(api.get("/api/v1/queue", view="mine")) == [str(mine.public_id)]
    conditions = json.dumps({"severity": ["high"]})
    assert ids(api.get("/api/v1/queue", conditions=conditions)) == [str(free.public_id)]
    saved = save_view(agent=agent, name="Unassigned", conditions={"assignee": "nobody"})
    assert ids(api.get("/api/v1/queue", view=str(saved.public_id))) == [str(free.public_id)]


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        (
            {"conditions": '{"followers_gt": 1000}'},
            422,
            "followers_gt: Extra inputs are not permitted",
        ),
        (
            {"conditions": '{"order_by": "-followers"}'},
            422,
            "order_by: Extra inputs are not permitted",
        ),
        ({"conditions": "not json"}, 422, "Invalid JSON"),
        ({"view": "loudest"}, 422, "Unknown view."),
        ({"view": str(uuid.UUID(int=7))}, 404, "No such view."),
        ({"view": "mine", "conditions": "{}"}, 422, "Give either a view or conditions, not both."),
    ],
)
def test_bad_views_and_conditions(
    api: Api, params: dict[str, str], status: int, detail: str
) -> None:
    response = api.get("/api/v1/queue", **params)
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_queue_default_path_keeps_its_query_count(workspace: Workspace, api: Api) -> None:
    for n in range(3):
        queued(workspace, f"c{n}", due_in=n)
    with CaptureQueriesContext(connection) as ctx:
        assert api.get("/api/v1/queue", limit=2).status_code == 200
    # token, its last-use touch, the page, the contacts' identities
    assert len(ctx.captured_queries) == 4


def test_views_are_listed_created_and_deleted(
    workspace: Workspace, agent: Agent, supervisor: Agent, outsider: Agent, api: Api
) -> None:
    save_view(agent=outsider, name="Theirs", conditions={})
    shared = save_view(
        agent=supervisor, name="Billing", conditions={"topic": ["billing"]}, shared=True
    )
    created = api.send(
        "post", "/api/v1/views", {"name": "Critical", "conditions": {"severity": ["critical"]}}
    )
    assert created.status_code == 201
    body = created.json()
    view = SavedView.objects.get(owner=agent)
    assert body == {
        "id": str(view.public_id),
        "name": "Critical",
        "built_in": False,
        "shared": False,
        "owner": "Jo Chen ^JC",
        "conditions": {"severity": ["critical"]},
    }
    listed = api.get("/api/v1/views").json()
    assert [v["id"] for v in listed] == [
        "all",
        "mine",
        "team",
        "unassigned",
        "breaching-soon",
        "waiting-on-customer",
        "waiting-on-internal",
        str(shared.public_id),
        str(view.public_id),
    ]
    assert listed[4]["conditions"] == {"breaching_within_minutes": 60}
    assert api.send("delete", f"/api/v1/views/{shared.public_id}").status_code == 403
    assert api.send("delete", f"/api/v1/views/{view.public_id}").status_code == 204
    assert SavedView.objects.filter(owner=agent).count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "conditions": {"followers": 1}},
        {"name": "X", "conditions": {}, "workspace": 2},
        {"name": "X", "conditions": {}, "owner": 1},
        {"name": "", "conditions": {}},
        {"name": "X"},
    ],
)
def test_view_bodies_with_unknown_or_missing_fields_are_422(api: Api, body: dict[str, Any]) -> None:
    assert api.send("post", "/api/v1/views", body).status_code == 422
    assert SavedView.objects.count() == 0


def test_sharing_a_view_needs_a_supervisor(api: Api) -> None:
    response = api.send("post", "/api/v1/views", {"name": "All", "shared": True, "conditions": {}})
    assert response.status_code == 403
    assert SavedView.objects.count() == 0


def test_another_workspaces_view_is_404(outsider: Agent, api: Api) -> None:
    theirs = save_view(agent=outsider, name="Theirs", conditions={})
    assert api.send("delete", f"/api/v1/views/{theirs.public_id}").status_code == 404
    assert SavedView.objects.count() == 1


# --- search --------------------------------------------------------------------------------


def test_search_api_is_scoped_and_paged(
    workspace: Workspace, other_workspace: Workspace, api: Api
) -> None:
    queued(other_workspace, "theirs", due_in=1)
    made = [queued(workspace, f"ours{n}", due_in=n) for n in range(3)]
    first = api.get("/api/v1/search", q="message", limit=2).json()
    assert [i["id"] for i in first["items"]] == [str(made[2].public_id), str(made[1].public_id)]
    second = api.get("/api/v1/search", q="message", limit=2, after=first["next_cursor"]).json()
    assert [i["id"] for i in second["items"]] == [str(made[0].public_id)]
    assert second["next_cursor"] is None
    assert api.get("/api/v1/search", q="theirs").json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "!!!"}, {"q": "a" * 201}, {"q": "x", "after": "no"}]
)
def test_bad_searches_are_422(api: Api, params: dict[str, str]) -> None:
    assert api.get("/api/v1/search", **params).status_code == 422


# --- bulk ----------------------------------------------------------------------------------


def test_bulk_api_refuses_foreign_ids(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, api: Api
) -> None:
    ours = queued(workspace, "ours", due_in=1)
    theirs = queued(other_workspace, "theirs", due_in=1)
    body = {
        "case_ids": [str(ours.public_id), str(theirs.public_id)],
        "action": "assign",
        "assignee": "me",
    }
    response = api.send("post", "/api/v1/queue/bulk", body)
    assert response.json() == {"changed": 1, "unchanged": 0, "refused": 1, "reasons": []}
    assert Case.objects.get(pk=ours.pk).assignee == agent
    assert Case.objects.get(pk=theirs.pk).assignee is None
    assert CaseEvent.objects.filter(case=theirs).count() == 0


def test_bulk_api_actions(workspace: Workspace, agent: Agent, api: Api) -> None:
    colleague(workspace, "mate")
    case = queued(workspace, "c", due_in=1)
    one = [str(case.public_id)]
    calls = [
        {"action": "assign", "assignee": "mate"},
        {"action": "unassign"},
        {"action": "route", "team": "security"},
        {"action": "status", "status": "pending_customer"},
    ]
    for call in calls:
        assert (
            api.send("post", "/api/v1/queue/bulk", {"case_ids": one, **call}).json()["changed"] == 1
        )
    case.refresh_from_db()
    assert (case.assignee, case.team.slug if case.team else None, case.status) == (
        None,
        "security",
        CaseStatus.PENDING_CUSTOMER,
    )
    assert list(CaseEvent.objects.order_by("id").values_list("type", flat=True)) == [
        "assigned",
        "unassigned",
        "routed",
        "status_changed",
    ]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"action": "assign", "assignee": "ozzy"}, "Name an agent of this workspace."),
        ({"action": "route", "team": "nope"}, "Name a team of this workspace."),
        ({"action": "status"}, "Name the status to set."),
    ],
)
def test_bulk_api_refuses_unknown_targets(
    workspace: Workspace, outsider: Agent, api: Api, body: dict[str, str], detail: str
) -> None:
    case = queued(workspace, "c", due_in=1)
    response = api.send("post", "/api/v1/queue/bulk", {"case_ids": [str(case.public_id)], **body})
    assert response.status_code == 422
    assert response.json()["detail"] == detail
    assert CaseEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"case_ids": [], "action": "unassign"},
        {"case_ids": ["x"], "action": "unassign"},
        {"case_ids": [str(uuid.UUID(int=1))], "action": "delete"},
        {"case_ids": [str(uuid.UUID(int=1))], "action": "status", "status": "new"},
        {"case_ids": [str(uuid.UUID(int=1))], "action": "unassign", "workspace": 1},
        {"case_ids": [str(uuid.UUID(int=n)) for n in range(201)], "action": "unassign"},
    ],
)
def test_bulk_api_bad_bodies_are_422(api: Api, body: dict[str, Any]) -> None:
    assert api.send("post", "/api/v1/queue/bulk", body).status_code == 422


# --- take next, availability, load -------------------------------------------------------


def test_take_next_api(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, api: Api
) -> None:
    queued(other_workspace, "theirs", due_in=-100)
    case = queued(workspace, "ours", due_in=5)
    AssignmentPolicy.objects.create(
        workspace=workspace, team=workspace.teams.get(slug="front-line"), max_open_per_agent=1
    )
    agent.team = workspace.teams.get(slug="front-line")
    agent.save()
    first = api.send("post", "/api/v1/queue/take-next")
    assert first.status_code == 200
    assert first.json()["case"]["id"] == str(case.public_id)
    full = api.send("post", "/api/v1/queue/take-next")
    assert full.status_code == 409
    assert full.json() == {"detail": "You hold 1 open cases; the limit is 1."}
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.RESOLVED)
    assert api.send("post", "/api/v1/queue/take-next").json() == {"case": None}


def test_availability_api(agent: Agent, api: Api) -> None:
    assert api.send("put", "/api/v1/me/availability", {"available": True}).json() == {
        "available": True
    }
    agent.refresh_from_db()
    assert agent.is_available is True
    assert (
        api.send("put", "/api/v1/me/availability", {"available": True, "role": "admin"}).status_code
        == 422
    )
    agent.refresh_from_db()
    assert agent.role == Agent.Role.AGENT


def test_load_api_for_supervisors(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, supervisor: Agent, api: Api
) -> None:
    queued(workspace, "a", due_in=-5, assignee=agent)
    queued(workspace, "b", due_in=5)
    queued(other_workspace, "c", due_in=-5, assignee=colleague(other_workspace, "x"))
    assert api.get("/api/v1/load").status_code == 403
    boss = Api(supervisor)
    with CaptureQueriesContext(connection) as ctx:
        body = boss.get("/api/v1/load").json()
    assert [
        (a["agent"], a["open_assigned"], a["overdue"], a["breaching_soon"]) for a in body["agents"]
    ] == [
        ("Jo Chen ^JC", 1, 1, 0),
        ("Sam Okafor ^SO", 0, 0, 0),
    ]
    assert (body["unassigned"]["unassigned"], body["unassigned"]["breaching_soon"]) == (1, 1)
    # token, its last-use touch, agents with their counts, three bounded counts and the
    # earliest deadline of the unassigned pool
    assert len(ctx.captured_queries) == 7
    assert not any(
        "COUNT(" in q["sql"].upper() and "LIMIT 1000" not in q["sql"].upper()
        for q in ctx.captured_queries
        if "GROUP BY" not in q["sql"].upper()
    )
