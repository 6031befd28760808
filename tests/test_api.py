"""The HTTP API: auth, workspace scoping, queue order and paging, replies, insights, health."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fairdesk.cases.models import Case, CaseEvent, CaseStatus, Message
from fairdesk.inbound.models import InboundEvent
from fairdesk.insights.tests.rows import case, identity, message
from fairdesk.replies.models import OutboxMessage
from fairdesk.workspaces.models import Agent, ApiToken, Workspace
from fairdesk.workspaces.services import issue_token

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(api_token: str) -> Any:
    """A client carrying the agent's bearer token: ``api.get(path)`` / ``api.post(path, body)``."""

    class Api:
        client = Client()

        def get(self, path: str, **params: Any) -> Any:
            return self.client.get(path, params, headers=bearer(api_token))

        def post(self, path: str, body: dict[str, Any]) -> Any:
            return self.client.post(
                path, json.dumps(body), content_type="application/json", headers=bearer(api_token)
            )

    return Api()


@pytest.fixture
def theirs(other_workspace: Workspace, outsider: Agent) -> Case:
    """A case of the other workspace."""
    return case(identity(other_workspace, "@secret"), at=T0, subject="Globex secret")


# -- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, bearer("fd_not-a-token"), {"Authorization": "Basic x"}])
def test_queue_without_a_valid_token_is_401(db: None, headers: dict[str, str]) -> None:
    response = Client().get("/api/v1/queue", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_token_lookup_records_last_use_at_most_once_a_minute(api: Any, agent: Agent) -> None:
    token = ApiToken.objects.get(agent=agent)
    assert token.last_used_at is None
    assert api.get("/api/v1/queue").status_code == 200
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    assert api.get("/api/v1/queue").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == first_use
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    assert api.get("/api/v1/queue").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at > first_use


def test_inactive_user_token_is_401(api: Any, agent: Agent) -> None:
    agent.user.is_active = False
    agent.user.save()
    assert api.get("/api/v1/queue").status_code == 401


def test_session_auth_reads_and_needs_csrf_to_write(agent: Agent, workspace: Workspace) -> None:
    mine = case(identity(workspace, "@dana"), at=T0)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent.user)
    assert browser.get("/api/v1/queue").json()["items"][0]["id"] == str(mine.public_id)
    body = {"text": "We are on it.", "visibility": "public", "idempotency_key": "csrf-test-1"}
    response = browser.post(
        f"/api/v1/cases/{mine.public_id}/replies", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 403
    assert not OutboxMessage.objects.exists()
    browser.cookies["csrftoken"] = "c" * 32
    response = browser.post(
        f"/api/v1/cases/{mine.public_id}/replies",
        json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": "c" * 32},
    )
    assert response.status_code == 201
    assert OutboxMessage.objects.get().author == agent


def test_write_with_a_bad_token_is_401_and_creates_nothing(workspace: Workspace) -> None:
    mine = case(identity(workspace, "@dana"), at=T0)
    body = {"text": "We are on it.", "visibility": "public", "idempotency_key": "bad-token-1"}
    response = Client().post(
        f"/api/v1/cases/{mine.public_id}/replies",
        json.dumps(body),
        content_type="application/json",
        headers=bearer("fd_guessed"),
    )
    assert response.status_code == 401
    assert not OutboxMessage.objects.exists()


def test_other_workspace_case_is_404_everywhere(api: Any, theirs: Case) -> None:
    for suffix in ("", "/messages", "/events"):
        response = api.get(f"/api/v1/cases/{theirs.public_id}{suffix}")
        assert response.status_code == 404
        assert "Globex" not in response.content.decode()
    assert api.get("/api/v1/queue").json()["items"] == []
    assert api.get("/api/v1/cases").json()["items"] == []


def test_reply_to_other_workspace_case_is_404_and_creates_nothing(api: Any, theirs: Case) -> None:
    messages_before = Message.objects.count()
    body = {"text": "Hello there.", "visibility": "public", "idempotency_key": "cross-ws-1"}
    response = api.post(f"/api/v1/cases/{theirs.public_id}/replies", body)
    assert response.status_code == 404
    assert not OutboxMessage.objects.exists()
    assert Message.objects.count() == messages_before
    assert not CaseEvent.objects.filter(case=theirs).exists()


# -- queue -------------------------------------------------------------------------------


@pytest.fixture
def queue_cases(workspace: Workspace, other_workspace: Workspace) -> list[Case]:
    """Seven queued cases in expected queue order, plus cases that must not appear."""
    same = T0 + timedelta(hours=2)
    specs = [
        ("@a", T0 + timedelta(hours=1), CaseStatus.NEW),
        ("@b", same, CaseStatus.OPEN),
        ("@c", same, CaseStatus.PENDING_INTERNAL),
        ("@d", same, CaseStatus.NEW),
        ("@e", T0 + timedelta(hours=3), CaseStatus.OPEN),
        ("@f", None, CaseStatus.NEW),
        ("@g", None, CaseStatus.OPEN),
    ]
    made = {
        handle: case(identity(workspace, handle), at=T0, status=status, escalation_at=esc)
        for handle, esc, status in reversed(specs)  # created out of order on purpose
    }
    for status in (CaseStatus.PENDING_CUSTOMER, CaseStatus.RESOLVED, CaseStatus.CLOSED):
        case(identity(workspace, f"@{status}"), at=T0, status=status, escalation_at=T0)
    case(identity(other_workspace, "@x"), at=T0, escalation_at=T0)

    def by_id(*handles: str) -> list[Case]:
        return sorted((made[h] for h in handles), key=lambda c: c.pk)

    return [made["@a"], *by_id("@b", "@c", "@d"), made["@e"], *by_id("@f", "@g")]


def test_queue_lists_open_cases_in_queue_order(api: Any, queue_cases: list[Case]) -> None:
    body = api.get("/api/v1/queue").json()
    assert [i["id"] for i in body["items"]] == [str(c.public_id) for c in queue_cases]
    assert body["next_cursor"] is None
    first = body["items"][0]
    assert first == {
        "id": str(queue_cases[0].public_id),
        "reference": queue_cases[0].reference,
        "severity": "normal",
        "status": "new",
        "team": None,
        "subject": "",
        "origin_channel": "x",
        "contact_handle": "@a",
        "first_response_due_at": None,
        "next_response_due_at": None,
        "resolution_due_at": None,
        "escalation_at": "2026-11-02T10:00:00Z",
    }


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_queue_keyset_pages_cover_the_queue_once(
    api: Any, queue_cases: list[Case], limit: int
) -> None:
    seen: list[str] = []
    after = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        body = api.get("/api/v1/queue", **params).json()
        assert len(body["items"]) <= limit
        seen += [i["id"] for i in body["items"]]
        after = body["next_cursor"]
        if after is None:
            break
    assert seen == [str(c.public_id) for c in queue_cases]


def test_queue_page_does_not_count_rows(api: Any, queue_cases: list[Case]) -> None:
    with CaptureQueriesContext(connection) as ctx:
        assert api.get("/api/v1/queue", limit=2).status_code == 200
    assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
    # token, its last-use touch, the page, the contacts' identities
    assert len(ctx.captured_queries) == 4


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"after": "!!!"}, {"after": "yesterday~1"}, {"after": "-~x"}],
)
def test_queue_rejects_bad_paging(api: Any, params: dict[str, Any]) -> None:
    assert api.get("/api/v1/queue", **params).status_code == 422


# -- cases -------------------------------------------------------------------------------


def test_case_list_filters_by_status_and_pages(api: Any, workspace: Workspace) -> None:
    opened = [case(identity(workspace, f"@o{n}"), at=T0, status=CaseStatus.OPEN) for n in range(3)]
    case(identity(workspace, "@done"), at=T0, status=CaseStatus.CLOSED)
    page = api.get("/api/v1/cases", status="open", limit=2).json()
    assert [i["id"] for i in page["items"]] == [str(c.public_id) for c in opened[::-1][:2]]
    rest = api.get("/api/v1/cases", status="open", after=page["next_cursor"]).json()
    assert [i["id"] for i in rest["items"]] == [str(opened[0].public_id)]
    assert rest["next_cursor"] is None
    assert len(api.get("/api/v1/cases").json()["items"]) == 4
    assert api.get("/api/v1/cases", status="bogus").status_code == 422


def test_case_detail_messages_and_events(api: Any, workspace: Workspace, agent: Agent) -> None:
    dana = identity(workspace, "@dana", followers=1200)
    identity(workspace, "dana@example.test", channel="email", contact=dana.contact)
    mine = case(dana, at=T0, answered_after=5, subject="Heater <b>broken</b>", sentiment="negative")
    Message.objects.filter(case=mine, direction="inbound").update(stance="detracts")
    message(mine, at=T0 - timedelta(minutes=1), identity=dana, text="earlier, arrived later")
    CaseEvent.objects.create(
        workspace=workspace, case=mine, type="opened", params={"via": "x"}, actor=agent, at=T0
    )

    detail = api.get(f"/api/v1/cases/{mine.public_id}").json()
    assert detail["subject"] == "Heater <b>broken</b>"
    assert detail["first_response_at"] == "2026-11-02T09:05:00Z"
    assert detail["contact"]["identities"] == [
        {
            "channel": "x",
            "handle": "@dana",
            "display_name": "",
            "follower_count": 1200,
            "verified": False,
        },
        {
            "channel": "email",
            "handle": "dana@example.test",
            "display_name": "",
            "follower_count": None,
            "verified": False,
        },
    ]

    timeline = api.get(f"/api/v1/cases/{mine.public_id}/messages").json()
    assert [(m["text"], m["direction"]) for m in timeline] == [
        ("earlier, arrived later", "inbound"),
        ("hello", "inbound"),
        ("Sorry to hear that ^JC", "outbound"),
    ]
    assert (timeline[1]["sentiment"], timeline[1]["stance"], timeline[1]["is_spam"]) == (
        "negative",
        "detracts",
        False,
    )
    assert timeline[1]["author"] == "@dana"

    events = api.get(f"/api/v1/cases/{mine.public_id}/events").json()
    assert events == [
        {
            "type": "opened",
            "params": {"via": "x"},
            "actor": "Jo Chen ^JC",
            "at": "2026-11-02T09:00:00Z",
        }
    ]


def test_malformed_case_id_is_422(api: Any) -> None:
    assert api.get("/api/v1/cases/not-a-uuid").status_code == 422


# -- replies -----------------------------------------------------------------------------


def test_reply_is_queued_once_per_idempotency_key(api: Any, workspace: Workspace) -> None:
    mine = case(identity(workspace, "@dana"), at=T0)
    body = {
        "text": "Thanks, we are on it.",
        "visibility": "public",
        "idempotency_key": "reply-0001",
    }
    first = api.post(f"/api/v1/cases/{mine.public_id}/replies", body)
    assert first.status_code == 201
    reply = first.json()
    assert reply["status"] == "pending"
    assert reply["text"] == "Thanks, we are on it. ^JC"
    assert (reply["visibility"], reply["channel"], reply["delivery_status"]) == (
        "public",
        "x",
        "queued",
    )
    again = api.post(f"/api/v1/cases/{mine.public_id}/replies", body)
    assert again.status_code == 201
    assert again.json() == reply
    assert OutboxMessage.objects.count() == 1
    assert Message.objects.filter(case=mine, direction="outbound").count() == 1


def test_tone_blocked_reply_is_422_with_reasons(api: Any, workspace: Workspace) -> None:
    mine = case(identity(workspace, "@dana"), at=T0)
    body = {
        "text": "Obviously you didn't read the manual, you idiot.",
        "visibility": "public",
        "idempotency_key": "reply-rude-1",
    }
    response = api.post(f"/api/v1/cases/{mine.public_id}/replies", body)
    assert response.status_code == 422
    data = response.json()
    assert data["blocked"] is True
    assert data["issues"]
    assert {"kind", "excerpt", "explanation"} == set(data["issues"][0])
    assert isinstance(data["suggestion"], str)
    assert not OutboxMessage.objects.exists()
    assert not Message.objects.filter(case=mine, direction="outbound").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"text": "Hi", "visibility": "public", "idempotency_key": "short"},
        {"text": "Hi", "visibility": "public", "idempotency_key": "k" * 101},
        {"text": "Hi", "visibility": "internal", "idempotency_key": "reply-0002"},
        {"text": "   ", "visibility": "public", "idempotency_key": "reply-0003"},
        {"text": "Hi", "visibility": "public"},
    ],
)
def test_invalid_reply_is_422_and_creates_nothing(
    api: Any, workspace: Workspace, body: dict[str, Any]
) -> None:
    mine = case(identity(workspace, "@dana"), at=T0)
    assert api.post(f"/api/v1/cases/{mine.public_id}/replies", body).status_code == 422
    assert not OutboxMessage.objects.exists()


def test_idempotency_key_of_another_case_is_rejected(api: Any, workspace: Workspace) -> None:
    one, two = (case(identity(workspace, h), at=T0) for h in ("@one", "@two"))
    body = {"text": "On it.", "visibility": "public", "idempotency_key": "reply-shared"}
    assert api.post(f"/api/v1/cases/{one.public_id}/replies", body).status_code == 201
    response = api.post(f"/api/v1/cases/{two.public_id}/replies", body)
    assert response.status_code == 422
    assert "another case" in response.json()["detail"]
    assert OutboxMessage.objects.count() == 1


# -- insights ----------------------------------------------------------------------------


def test_insights_endpoints_scope_to_the_workspace(
    api: Any, workspace: Workspace, other_workspace: Workspace
) -> None:
    now = timezone.now()
    fan = identity(workspace, "@fan", followers=20)
    mine = case(fan, at=now - timedelta(days=2), answered_after=30, sentiment="positive")
    Message.objects.filter(case=mine, direction="inbound").update(stance="promotes")
    for n in range(3):
        hater = identity(other_workspace, f"@h{n}", followers=200_000)
        theirs = case(hater, at=now - timedelta(days=1), sentiment="negative")
        Message.objects.filter(case=theirs).update(stance="detracts")

    channel, _, tier = api.get("/api/v1/insights/parity").json()["dimensions"]
    (x,) = channel["first_response"]
    assert (x["group"], x["cases"], x["measured"], x["geometric_mean"]["minutes"]) == (
        "x",
        1,
        1,
        30.0,
    )
    assert (tier["first_response"][0]["group"], tier["first_response"][0]["cases"]) == ("<100", 1)
    assert sum(g["cases"] for g in tier["first_response"]) == 1

    crickets = api.get("/api/v1/insights/crickets").json()["by_sentiment"]
    assert [(c["group"], c["messages"], c["crickets"]) for c in crickets] == [
        ("negative", 0, 0),
        ("neutral", 0, 0),
        ("positive", 1, 0),
    ]

    sps = api.get("/api/v1/insights/sps").json()
    assert (sps["authors"], sps["promoters"], sps["detractors"], sps["sps"]) == (1, 1, 0, 100.0)
    start = datetime.fromisoformat(sps["period"]["start"])
    end = datetime.fromisoformat(sps["period"]["end"])
    assert end - start == timedelta(days=30)


def test_insights_empty_period_reports_no_data(api: Any) -> None:
    sps = api.get("/api/v1/insights/sps", start="2020-01-01T00:00:00Z", end="2020-02-01T00:00:00Z")
    assert sps.status_code == 200
    assert sps.json()["sps"] is None
    assert sps.json()["period"] == {"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"}


@pytest.mark.parametrize("name", ["parity", "crickets", "sps"])
def test_insights_period_must_run_forwards(api: Any, name: str) -> None:
    response = api.get(
        f"/api/v1/insights/{name}", start="2026-11-02T00:00:00Z", end="2026-11-01T00:00:00Z"
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "start must be before end"}
    assert api.get(f"/api/v1/insights/{name}", start="yesterday").status_code == 422
    assert api.get(f"/api/v1/insights/{name}", end="0001-01-02T00:00:00Z").status_code == 422
    extreme = {"start": "0001-01-01T00:00:00+14:00", "end": "9999-12-31T23:59:59-12:00"}
    assert api.get(f"/api/v1/insights/{name}", **extreme).status_code == 422


# -- schema and health -------------------------------------------------------------------


def test_openapi_schema_is_served_without_auth(db: None) -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/queue",
        "/api/v1/cases",
        "/api/v1/cases/{public_id}",
        "/api/v1/cases/{public_id}/messages",
        "/api/v1/cases/{public_id}/events",
        "/api/v1/cases/{public_id}/replies",
        "/api/v1/insights/parity",
        "/api/v1/insights/crickets",
        "/api/v1/insights/sps",
    } <= set(schema["paths"])
    assert {"BearerToken", "AgentSession"} <= set(schema["components"]["securitySchemes"])


def test_healthz_reports_database_and_backlog(workspace: Workspace) -> None:
    now = timezone.now()
    for n, status in enumerate(["pending", "pending", "dead", "done"]):
        InboundEvent.objects.create(
            workspace=workspace,
            channel="x",
            external_id=str(n),
            payload={},
            status=status,
            available_at=now,
            received_at=now,
        )
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "database": connection.vendor,
        "pending_events": 2,
        "dead_events": 1,
        "triage": "fast",
        "triage_models": "rules",
    }


def test_healthz_is_503_when_the_database_fails(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    from fairdesk import health

    def broken(status: str) -> int:
        raise OperationalError("database is locked")

    monkeypatch.setattr(health, "_capped_count", broken)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False}


def test_a_second_token_of_another_agent_sees_its_own_workspace(
    outsider: Agent, theirs: Case
) -> None:
    token = issue_token(agent=outsider)
    body = Client().get("/api/v1/queue", headers=bearer(token)).json()
    assert [i["id"] for i in body["items"]] == [str(theirs.public_id)]


# -- end to end through the real pipeline ------------------------------------------------


def test_ingested_messages_reach_the_queue_with_deadlines(
    api: Any, workspace: Workspace, other_workspace: Workspace, ingest: Any
) -> None:
    from conftest import record

    ingest(
        workspace,
        [
            record("1", "Where is my parcel? Order 123", author="u-1", handle="@dana"),
            record(
                "2",
                "My account was hacked, someone changed my password",
                author="u-2",
                handle="@eli",
                minutes=5,
                followers=250_000,
            ),
        ],
    )
    ingest(other_workspace, [record("1", "Globex question", author="u-9", handle="@zed")])
    items = api.get("/api/v1/queue").json()["items"]
    assert sorted(i["contact_handle"] for i in items) == ["@dana", "@eli"]
    assert all(i["escalation_at"] and i["first_response_due_at"] for i in items)
    deadlines = [i["escalation_at"] for i in items]
    assert deadlines == sorted(deadlines)
    timeline = api.get(f"/api/v1/cases/{items[0]['id']}/messages").json()
    assert timeline[0]["direction"] == "inbound"
    assert timeline[0]["sentiment"] in {"negative", "neutral", "positive"}


def test_nul_characters_are_refused_on_every_database(
    client: Client, api_token: str, workspace: Workspace
) -> None:
    """PostgreSQL text cannot hold NUL: a body carrying one is a 400 on both backends."""
    response = client.post(
        "/api/v1/views",
        data='{"name": "evil\\u0000view", "conditions": {}}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert response.status_code == 400
    listed = client.get("/api/v1/views?x=%00", headers={"Authorization": f"Bearer {api_token}"})
    assert listed.status_code == 200
