"""CSAT by channel of origin and by team, recomputed from the raw answers."""

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.test import Client
from django.utils import timezone

from fairdesk.cases.models import CaseStatus
from fairdesk.insights.queries.csat import csat
from fairdesk.insights.tests.rows import case, identity
from fairdesk.portal.models import CsatResponse
from fairdesk.workspaces.models import Agent, Team, Workspace

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2100, 1, 1, tzinfo=UTC)


def answer(workspace: Workspace, handle: str, channel: str, score: int, team: Team | None) -> None:
    author = identity(workspace, handle, channel=channel)
    closed = case(
        author, at=timezone.now() - timedelta(days=2), status=CaseStatus.CLOSED, team=team
    )
    CsatResponse.objects.create(
        workspace=workspace, case=closed, contact=author.contact, score=score, comment="=cmd|x"
    )


def seed(workspace: Workspace, other_workspace: Workspace) -> None:
    billing = Team.objects.filter(workspace=workspace).order_by("id").first()
    for n, (channel, score, team) in enumerate(
        [
            ("x", 5, billing),
            ("x", 2, None),
            ("email", 4, billing),
            ("email", 5, billing),
            ("phone", 1, None),
        ]
    ):
        answer(workspace, f"@c{n}", channel, score, team)
    answer(other_workspace, "@elsewhere", "x", 1, None)  # never counted for workspace


def test_csat_matches_the_raw_answers(workspace: Workspace, other_workspace: Workspace) -> None:
    seed(workspace, other_workspace)
    report = csat(workspace, START, END)
    by_channel: dict[str, list[int]] = defaultdict(list)
    by_team: dict[str, list[int]] = defaultdict(list)
    for row in CsatResponse.objects.filter(workspace=workspace).select_related("case__team"):
        by_channel[row.case.origin_channel].append(row.score)
        by_team[row.case.team.name if row.case.team else "no team"].append(row.score)
    for groups, expected in ((report.by_channel, by_channel), (report.by_team, by_team)):
        assert {g.group: (g.responses, g.satisfied, g.score_sum) for g in groups} == {
            k: (len(v), sum(s >= 4 for s in v), sum(v)) for k, v in expected.items()
        }
    assert (report.total.responses, report.total.satisfied) == (5, 3)
    assert report.total.satisfied_rate == 60.0 and report.total.mean == 3.4
    email = next(g for g in report.by_channel if g.group == "email")
    assert (email.satisfied_rate, email.mean) == (100.0, 4.5)


def test_no_answers_is_no_data(workspace: Workspace, agent: Agent) -> None:
    report = csat(workspace, START, END)
    assert report.total.responses == 0 and report.total.mean is None
    client = Client()
    client.force_login(agent.user)
    page = client.get("/insights/section/csat/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="csat"' in page and "no data" in page


def test_api_and_csv(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, api_token: str
) -> None:
    seed(workspace, other_workspace)
    client = Client()
    auth = {"Authorization": f"Bearer {api_token}"}
    body = client.get("/api/v1/insights/csat", headers=auth).json()
    assert body["total"] == {
        "group": "all", "responses": 5, "satisfied": 3, "satisfied_rate": 60.0, "mean": 3.4
    }  # fmt: skip
    exported = client.get("/api/v1/insights/export/csat", headers=auth)
    text = b"".join(exported.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "breakdown",
        "group",
        "responses",
        "satisfied",
        "satisfied_percent",
        "mean_score",
    ]
    assert ["total", "all", "5", "3", "60.0", "3.4"] in rows
