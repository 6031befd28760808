"""Work orders over the API (agents, external systems) and in the web UI."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fairdesk.cases.models import Case
from fairdesk.cases.tests.factories import make_case
from fairdesk.followthrough.models import WorkOrder
from fairdesk.workspaces.models import Agent, ApiToken, Workspace
from fairdesk.workspaces.services import issue_token


def bearer(agent: Agent) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(agent=agent, name='t')}"}


def body(case: Case, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case": str(case.public_id),
        "kind": "refund",
        "team": case.workspace.teams.order_by("id").first().slug,  # type: ignore[union-attr]
        "title": "Refund the double charge",
        "customer_label": "Refund of the second payment",
        "due_at": (timezone.now() + timedelta(days=1)).isoformat(),
        "idempotency_key": "refund-000001",
    }
    data.update(changes)
    return data


def post(client: Client, data: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(
        "/api/v1/work-orders", data=data, content_type="application/json", headers=headers
    )


def test_create_retry_and_duplicate_over_the_api(
    client: Client, workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace)
    auth = bearer(agent)
    created = post(client, body(case), auth)
    assert created.status_code == 201
    order_id = created.json()["id"]
    retry = post(client, body(case), auth)
    assert (retry.status_code, retry.json()["id"]) == (200, order_id)
    twin = post(client, body(case, idempotency_key="refund-000002"), auth)
    assert twin.status_code == 409
    assert twin.json()["existing"] == order_id
    assert WorkOrder.objects.count() == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"surprise": 1},
        {"kind": "teleport"},
        {"team": "nope"},
        {"due_at": "tomorrow"},
        {"title": ""},
    ],
)
def test_bad_requests_are_refused_and_write_nothing(
    client: Client, workspace: Workspace, agent: Agent, changes: dict[str, Any]
) -> None:
    case = make_case(workspace)
    response = post(client, body(case, **changes), bearer(agent))
    assert response.status_code == 422
    assert not WorkOrder.objects.exists()


def test_another_workspace_gets_404_and_changes_nothing(
    client: Client, workspace: Workspace, agent: Agent, outsider: Agent
) -> None:
    case = make_case(workspace)
    assert post(client, body(case), bearer(outsider)).status_code == 404
    order_id = post(client, body(case), bearer(agent)).json()["id"]
    url = f"/api/v1/work-orders/{order_id}"
    other = bearer(outsider)
    assert client.get(url, headers=other).status_code == 404
    patched = client.patch(
        url, data={"status": "done"}, content_type="application/json", headers=other
    )
    assert patched.status_code == 404
    assert WorkOrder.objects.get().status == "open"
    assert client.get("/api/v1/work-orders", headers=other).json() == []


def test_an_external_system_updates_an_order(
    client: Client, workspace: Workspace, agent: Agent
) -> None:
    case = make_case(workspace)
    auth = bearer(agent)
    order_id = post(client, body(case), auth).json()["id"]
    url = f"/api/v1/work-orders/{order_id}"
    bad = client.patch(url, data={"colour": "red"}, content_type="application/json", headers=auth)
    assert bad.status_code == 422
    done = client.patch(
        url,
        data={"status": "done", "external_ref": "PAY-991"},
        content_type="application/json",
        headers=auth,
    )
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["external_ref"]) == ("done", "PAY-991")
    case.refresh_from_db()
    assert case.status == "open" and case.eta is None


def test_case_page_panel_and_queue_page(
    client: Client, workspace: Workspace, agent: Agent, outsider: Agent
) -> None:
    case = make_case(workspace)
    client.force_login(agent.user)
    page = client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "Work orders" in page and "New work order" in page
    team = workspace.teams.order_by("id").first()
    assert team is not None
    response = client.post(
        reverse("work-order-create", args=[case.public_id]),
        {
            "kind": "callback",
            "team": team.slug,
            "title": "<script>alert(1)</script> call back",
            "customer_label": "We will call you Tuesday",
            "due_at": "2030-01-01T10:00",
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    order = WorkOrder.objects.get()
    queue = client.get(reverse("work-orders")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; call back" in queue
    assert "<script>alert(1)" not in queue
    page = client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "We will call you Tuesday" in page
    outsider_client = Client()
    outsider_client.force_login(outsider.user)
    denied = outsider_client.post(
        reverse("work-order-status", args=[order.public_id]), {"status": "done"}
    )
    assert denied.status_code == 404
    assert (
        outsider_client.post(
            reverse("work-order-create", args=[case.public_id]), {"kind": "callback"}
        ).status_code
        == 404
    )
    assert WorkOrder.objects.get().status == "open"
    assert ApiToken.objects.count() == 0
