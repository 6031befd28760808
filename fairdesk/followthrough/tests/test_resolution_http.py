"""Resolution over the API and on the case page; the made-whole and reopen rates; the
``fairdesk followthrough`` command — with two workspaces and two customers."""

import json
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from conftest import record
from fairdesk.cases.models import Case, CaseStatus
from fairdesk.followthrough.models import Resolution
from fairdesk.followthrough.queries import ResolutionRates, resolution_rates
from fairdesk.followthrough.resolution import propose_resolution
from fairdesk.followthrough.tests.conftest import Clock
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import issue_token

Ingest = Callable[[Workspace, list[dict[str, Any]]], int]


def bearer(agent: Agent) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(agent=agent, name='t')}"}


def open_case(ingest: Ingest, workspace: Workspace, external_id: str, **kw: Any) -> Case:
    ingest(workspace, [record(external_id, "My dryer does not heat", **kw)])
    return Case.objects.get(workspace=workspace, messages__external_id=external_id)


def decided(case: Case, agent: Agent, outcome: str, clock: Clock) -> Resolution:
    resolution = propose_resolution(case=case, agent=agent)
    Resolution.objects.filter(pk=resolution.pk).update(outcome=outcome, decided_at=clock.now)
    return resolution


def test_propose_over_the_api(
    client: Client,
    workspace: Workspace,
    agent: Agent,
    outsider: Agent,
    clock: Clock,
    ingest: Ingest,
    new_order: Any,
) -> None:
    case = open_case(ingest, workspace, "a-1")
    order = new_order(case, "key-ship-1")
    url = f"/api/v1/cases/{case.public_id}/resolution"
    refused = client.post(url, headers=bearer(agent))
    assert refused.status_code == 409
    assert refused.json()["open_work_orders"] == [str(order.public_id)]
    assert client.post(url, headers=bearer(outsider)).status_code == 404
    assert not Resolution.objects.exists()
    order.status = "done"
    order.save()
    created = client.post(url, headers=bearer(agent))
    assert created.status_code == 201
    body = created.json()
    assert (body["outcome"], body["proposed_by"], body["question_channel"]) == (
        "pending",
        "jc",
        "x",
    )
    again = client.post(url, headers=bearer(agent))
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    listed = client.get(f"/api/v1/cases/{case.public_id}/resolutions", headers=bearer(agent))
    assert [row["id"] for row in listed.json()] == [body["id"]]
    other = client.get(f"/api/v1/cases/{case.public_id}/resolutions", headers=bearer(outsider))
    assert other.status_code == 404
    assert OutboxMessage.objects.count() == 1


def test_rates_per_workspace_and_period(
    client: Client,
    workspace: Workspace,
    other_workspace: Workspace,
    agent: Agent,
    outsider: Agent,
    clock: Clock,
    ingest: Ingest,
) -> None:
    start = clock.now
    cases = [open_case(ingest, workspace, f"a-{n}", author=f"u-{n}") for n in range(4)]
    other = open_case(ingest, other_workspace, "b-1", author="u-9")
    decided(cases[0], agent, "confirmed", clock)
    decided(cases[1], agent, "reopened", clock)
    decided(cases[2], agent, "quiet_closed", clock)
    decided(other, outsider, "confirmed", clock)
    clock.advance(days=1)
    propose_resolution(case=cases[3], agent=agent)
    assert resolution_rates(workspace=workspace) == ResolutionRates(
        proposals=4, confirmed=1, quiet_closed=1, reopened=1, pending=1
    )
    first_day = resolution_rates(workspace=workspace, since=start, until=start + timedelta(hours=1))
    assert (first_day.proposals, first_day.made_whole_rate, first_day.reopen_rate) == (
        3,
        33.3,
        33.3,
    )
    response = client.get("/api/v1/resolutions/rates", headers=bearer(outsider))
    assert response.json() == {
        "since": None,
        "until": None,
        "proposals": 1,
        "confirmed": 1,
        "quiet_closed": 0,
        "reopened": 0,
        "pending": 0,
        "made_whole_rate": 100.0,
        "reopen_rate": 0.0,
    }
    naive = client.get(
        "/api/v1/resolutions/rates", {"since": "2026-11-01T00:00:00"}, headers=bearer(agent)
    )
    assert naive.status_code == 422
    assert (
        resolution_rates(workspace=workspace, since=start + timedelta(days=9)).made_whole_rate
        is None
    )


def test_the_case_page_proposes_and_shows_the_outcome(
    client: Client,
    workspace: Workspace,
    agent: Agent,
    outsider: Agent,
    clock: Clock,
    ingest: Ingest,
    new_order: Any,
) -> None:
    case = open_case(ingest, workspace, "a-1", handle="@<script>x</script>")
    order = new_order(case, "key-ship-1")
    client.force_login(agent.user)
    page = client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "once every work order is done or cancelled (1 open)" in page
    assert "Resolved — ask the customer" not in page
    refused = client.post(reverse("resolution-propose", args=[case.public_id]), follow=True)
    assert "Not resolved — First finish or cancel:" in refused.content.decode()
    order.status = "cancelled"
    order.save()
    page = client.get(reverse("case", args=[case.public_id])).content.decode()
    assert "Resolved — ask the customer" in page
    outsider_client = Client()
    outsider_client.force_login(outsider.user)
    denied = outsider_client.post(reverse("resolution-propose", args=[case.public_id]))
    assert denied.status_code == 404
    assert not Resolution.objects.exists()
    done = client.post(reverse("resolution-propose", args=[case.public_id]), follow=True)
    text = done.content.decode()
    assert "We asked the customer whether it is fixed for them." in text
    assert "Waiting for the customer" in text
    assert "<script>x</script>" not in text
    assert Case.objects.get(pk=case.pk).status == CaseStatus.RESOLVED


def test_the_command_runs_one_idempotent_pass(
    workspace: Workspace, agent: Agent, clock: Clock, ingest: Ingest
) -> None:
    case = open_case(ingest, workspace, "a-1")
    propose_resolution(case=case, agent=agent)
    clock.advance(days=8)
    out = StringIO()
    call_command("followthrough", stdout=out)
    assert json.loads(out.getvalue()) == {
        "confirmed": 0,
        "quiet_closed": 1,
        "reopened": 0,
        "callbacks": 0,
        "updates": 0,
        "csat_answers": 0,
        "reply_notices": 0,
    }
    out = StringIO()
    call_command("followthrough", stdout=out)
    assert json.loads(out.getvalue())["quiet_closed"] == 0
    assert Case.objects.get(pk=case.pk).status == CaseStatus.CLOSED


def test_rates_accept_any_offset_python_parses(client: Client, agent: Agent) -> None:
    """PostgreSQL refuses offsets beyond ±15:59: the period is taken in UTC first."""
    client.force_login(agent.user)
    response = client.get("/api/v1/resolutions/rates", {"since": "8252-09-15T17:08:17-23:29"})
    assert response.status_code == 200
    assert response.json()["proposals"] == 0
