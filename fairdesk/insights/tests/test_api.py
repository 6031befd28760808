"""The insights API: every figure, scoped to the token's workspace, paged, and as CSV."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fairdesk.cases.models import Direction
from fairdesk.insights.queries import promoters as promoters_query
from fairdesk.insights.tests.rows import case, identity, message, praise_event
from fairdesk.workspaces.models import Workspace
from fairdesk.workspaces.services import add_employee

FIGURES = ["parity", "crickets", "crickets/messages", "sps", "sps/authors", "praise"]
FIGURES += ["praise/kudos", "service-levels", "export/sps"]


@pytest.fixture
def api(api_token: str) -> Any:
    client = Client()

    def get(path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {api_token}"}
        return client.get(f"/api/v1/insights/{path}", params, headers=headers)

    return get


@pytest.fixture
def rows(workspace: Workspace, other_workspace: Workspace) -> None:
    now = timezone.now()
    maria = add_employee(workspace=workspace, name="Maria")
    for n in range(3):
        fan = identity(workspace, f"@fan{n}", followers=20)
        at = now - timedelta(days=2, hours=n)
        mine = case(fan, at=at, answered_after=30, stance="promotes", praise=True, text="=1+1")
        praise_event(mine, maria, at=at)
        message(mine, at=at + timedelta(hours=1), identity=fan, text="still waiting")
    for n in range(4):
        hater = identity(other_workspace, f"@h{n}", channel="globex-only", followers=200_000)
        theirs = case(hater, at=now - timedelta(days=1), stance="detracts", severity="critical")
        message(theirs, at=now, direction=Direction.OUTBOUND, text="globex")


def test_figures_scope_to_the_workspace(api: Any, rows: None) -> None:
    parity = api("parity").json()
    channel, visibility, tier = parity["dimensions"]
    assert (channel["dimension"], channel["groups"]) == ("channel", ["x"])
    x = channel["first_response"][0]
    assert (x["cases"], x["measured"], x["geometric_mean"]) == (
        3,
        3,
        {"minutes": 30.0, "low": 30.0, "high": 30.0},
    )
    assert x["versus_rest"] is None  # nobody else to compare with
    assert [g["cases"] for g in tier["first_response"]] == [3, 0, 0, 0, 0, 0]
    assert visibility["groups"] == ["public", "private"]
    assert "severity" in parity["method"]

    crickets = api("crickets").json()
    assert crickets["total"] == {
        "group": "all",
        "messages": 6,
        "due": 6,
        "crickets": 3,
        "rate": 50.0,
    }
    assert [c["group"] for c in crickets["by_channel"]] == ["x"]
    assert crickets["praise"]["messages"] == 3

    sps = api("sps").json()
    assert (sps["authors"], sps["promoters"], sps["detractors"], sps["converted"]) == (3, 3, 0, 0)
    assert sps["sps"] == 100.0

    praise = api("praise").json()
    assert praise["by_employee"] == [{"name": "Maria", "kudos": 3, "answered": 3}]
    assert praise["by_team"] == [{"name": "no manager", "kudos": 3, "answered": 3}]

    levels = api("service-levels").json()
    assert levels["total"]["cases"] == 3
    assert [s["group"] for s in levels["by_channel"]] == ["x"]


def test_lists_page_with_next_offset(api: Any, rows: None) -> None:
    first = api("crickets/messages", limit=2).json()
    assert [c["text"] for c in first["items"]] == ["still waiting"] * 2
    assert first["next_offset"] == 2
    rest = api("crickets/messages", limit=2, offset=2).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    assert rest["items"][0]["case_reference"].startswith("FD-")

    promoters = api("sps/promoters", limit=2).json()
    assert (promoters["kind"], promoters["count"], promoters["next_offset"]) == ("promoters", 3, 2)
    assert promoters["count_capped"] is False
    assert {m["text"] for m in promoters["items"]} == {"=1+1"}

    kudos = api("praise/kudos", limit=5).json()
    assert [k["employee"] for k in kudos["items"]] == ["Maria"] * 3
    assert all(k["answered"] for k in kudos["items"]) and kudos["next_offset"] is None


def test_export_is_csv_with_neutralised_cells(api: Any, rows: None) -> None:
    response = api("export/sps-promoters")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    assert body.count("'=1+1") == 3 and "globex" not in body
    missing = api("export/nothing")
    assert missing.status_code == 404
    assert "Figures: parity" in missing.json()["detail"]


def test_an_empty_period_has_no_ratios(api: Any) -> None:
    period = {"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"}
    assert api("sps", **period).json()["sps"] is None
    assert api("crickets", **period).json()["total"]["rate"] is None
    assert api("service-levels", **period).json()["total"]["first_response"]["rate"] is None
    parity = api("parity", **period).json()
    assert parity["period"] == {"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"}
    assert parity["dimensions"][0]["groups"] == []


@pytest.mark.parametrize("path", FIGURES)
def test_bad_periods_are_422(api: Any, path: str) -> None:
    backwards = api(path, start="2026-11-02T00:00:00Z", end="2026-11-01T00:00:00Z")
    assert backwards.status_code == 422
    assert backwards.json() == {"detail": "start must be before end"}
    assert api(path, start="yesterday").status_code == 422
    extreme = {"start": "0001-01-01T00:00:00+14:00", "end": "9999-12-31T23:59:59-12:00"}
    assert api(path, **extreme).status_code == 422


def test_bad_paging_and_kinds_are_422(api: Any) -> None:
    assert api("crickets/messages", limit=0).status_code == 422
    assert api("praise/kudos", limit=501).status_code == 422
    assert api("sps/authors", offset=-1).status_code == 422
    assert api("sps/everyone").status_code == 422


@pytest.mark.parametrize("path", FIGURES)
def test_figures_need_a_token(db: None, path: str) -> None:
    assert Client().get(f"/api/v1/insights/{path}").status_code == 401


def test_schema_lists_the_figures(db: None) -> None:
    schema = json.loads(Client().get("/api/v1/openapi.json").content)
    assert {
        "/api/v1/insights/parity",
        "/api/v1/insights/crickets",
        "/api/v1/insights/crickets/messages",
        "/api/v1/insights/sps",
        "/api/v1/insights/sps/{kind}",
        "/api/v1/insights/praise",
        "/api/v1/insights/praise/kudos",
        "/api/v1/insights/service-levels",
        "/api/v1/insights/export/{figure}",
    } <= set(schema["paths"])


def test_datetimes_come_back_in_utc(api: Any, rows: None) -> None:
    item = api("crickets/messages", limit=1).json()["items"][0]
    sent = datetime.fromisoformat(item["sent_at"])
    assert sent.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(item["due_at"]) - sent == timedelta(hours=24)
    assert sent < datetime.now(UTC)


def test_the_sps_drill_down_count_is_capped(
    api: Any, rows: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(promoters_query, "COUNT_CAP", 1)
    first = api("sps/promoters", limit=1).json()
    assert (first["count"], first["count_capped"], first["next_offset"]) == (1, True, 1)
    last = api("sps/promoters", limit=1, offset=2).json()  # exact again past the cap
    assert (last["count"], last["count_capped"], last["next_offset"]) == (3, False, None)
