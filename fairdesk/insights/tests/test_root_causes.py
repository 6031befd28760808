"""Root causes: drivers, tagged causes, weekly trend and repeat contacts recomputed from raw
rows; clusters of similar untagged cases; tagging (page, API, on resolution) refused for
another workspace's cause; the page, API and CSV scoped and escaped."""

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import record
from fairdesk.cases.models import Case, CaseEvent
from fairdesk.contacts.models import ContactIdentity
from fairdesk.followthrough.models import Resolution
from fairdesk.followthrough.resolution import propose_resolution
from fairdesk.insights.clusters import cluster_texts
from fairdesk.insights.models import RootCause
from fairdesk.insights.queries.root_causes import REPEAT_DAYS, period_weeks, root_causes
from fairdesk.insights.services import (
    RootCauseInvalid,
    create_root_cause,
    tag_locked_case,
    tag_root_cause,
    update_root_cause,
)
from fairdesk.insights.tests.rows import case, identity
from fairdesk.workspaces.models import Agent, Workspace
from fairdesk.workspaces.services import issue_token

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
FORMULA = '=HYPERLINK("http://evil.test","x")'
START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
END = datetime(2026, 11, 2, tzinfo=UTC)  # four weeks later


def opened(
    author: ContactIdentity, at: datetime, topic: str, cause: str = "", text: str = ""
) -> Case:
    new = case(author, at=at, text=text or f"about {topic}")
    Case.objects.filter(pk=new.pk).update(topic=topic, root_cause=cause)
    return new


@pytest.fixture
def causes(
    workspace: Workspace, other_workspace: Workspace, agent: Agent, outsider: Agent
) -> dict[str, RootCause]:
    return {
        "courier": create_root_cause(
            workspace=workspace, name=f"Courier loses parcels {SCRIPT}", slug="courier", owner=agent
        ),
        "invoice": create_root_cause(workspace=workspace, name=FORMULA, slug="invoice"),
        "idle": create_root_cause(workspace=workspace, name="Never used", slug="idle"),
        "globex": create_root_cause(
            workspace=other_workspace, name="Globex secret cause", slug="courier", owner=outsider
        ),
    }


@pytest.fixture
def history(workspace: Workspace, other_workspace: Workspace, causes: dict[str, RootCause]) -> None:
    """Two customers who come back (some within the repeat window, some not), one-offs,
    a case before the period that makes a repeat inside it, and Globex's cases."""
    ann = identity(workspace, "@ann")
    bob = identity(workspace, "@bob", channel="email")
    day = timedelta(days=1)
    opened(ann, START - 5 * day, "delivery", "courier")  # before the period: makes a repeat
    opened(ann, START + 1 * day, "delivery", "courier")  # repeat (6 days after)
    opened(ann, START + 2 * day, "billing", "invoice")
    opened(ann, START + 9 * day, "delivery", "courier")  # repeat
    opened(ann, START + 9 * day, "delivery", "courier")  # same instant, higher id: repeat
    opened(bob, START + 3 * day - timedelta(days=REPEAT_DAYS + 1), "billing", "invoice")
    opened(bob, START + 3 * day, "billing", "invoice")  # not a repeat: 31 days after
    opened(bob, START + 4 * day, "billing", "invoice")  # repeat
    opened(bob, START + 10 * day, "delivery", "")  # untagged
    opened(bob, START + 11 * day, "", "")  # no topic: "other"
    opened(identity(workspace, "@cy"), START + 20 * day, "delivery", "retired-cause")
    opened(identity(workspace, "@dee"), END, "delivery", "courier")  # after the period
    globex = identity(other_workspace, "@globex-fan", channel="globex-only")
    for n in range(3):
        opened(globex, START + n * day, "delivery", "courier")


def recompute(workspace: Workspace, field: str) -> dict[str, dict[str, Any]]:
    """Cases, repeats and weekly counts per key, straight from the case rows."""
    everything = list(Case.objects.filter(workspace=workspace).order_by("id"))
    inside = [c for c in everything if START <= c.first_inbound_at < END]
    figures: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"cases": 0, "repeats": 0, "weeks": Counter()}
    )
    for c in inside:
        key = getattr(c, field) or ("other" if field == "topic" else "")
        if not key:
            continue
        earlier = [
            o
            for o in everything
            if o.contact_id == c.contact_id
            and getattr(o, field) == getattr(c, field)
            and c.first_inbound_at - timedelta(days=REPEAT_DAYS) <= o.first_inbound_at
            and (o.first_inbound_at, o.id) < (c.first_inbound_at, c.id)
        ]
        week = c.first_inbound_at.date() - timedelta(days=c.first_inbound_at.weekday())
        figures[key]["cases"] += 1
        figures[key]["repeats"] += bool(earlier)
        figures[key]["weeks"][week] += 1
    return figures


def as_figures(rows: Any) -> dict[str, dict[str, Any]]:
    return {
        r.key: {
            "cases": r.cases,
            "repeats": r.repeats,
            "weeks": Counter({w.week: w.cases for w in r.weeks if w.cases}),
        }
        for r in rows
        if r.cases
    }


def test_every_figure_matches_the_raw_rows(workspace: Workspace, history: None) -> None:
    report = root_causes(workspace, START, END)
    assert as_figures(report.drivers) == recompute(workspace, "topic")
    assert as_figures(report.causes) == recompute(workspace, "root_cause")
    raw = Case.objects.filter(
        workspace=workspace, first_inbound_at__gte=START, first_inbound_at__lt=END
    )
    assert report.cases == raw.count() == 9
    assert report.tagged == raw.exclude(root_cause="").count() == 7
    assert (report.untagged, report.tagged_share) == (2, 77.8)
    assert sum(d.cases for d in report.drivers) == report.cases
    # The exact values, so a shared mistake in both computations would still show.
    courier = next(c for c in report.causes if c.key == "courier")
    assert (courier.cases, courier.repeats, courier.repeat_share) == (3, 3, 100.0)
    assert [w.cases for w in courier.weeks] == [1, 2, 0, 0]
    assert courier.owner == "Jo Chen" and courier.name == f"Courier loses parcels {SCRIPT}"
    invoice = next(c for c in report.causes if c.key == "invoice")
    assert (invoice.cases, invoice.repeats, invoice.repeat_share, invoice.owner) == (3, 1, 33.3, "")
    assert [w.cases for w in invoice.weeks] == [3, 0, 0, 0]
    assert [d.key for d in report.drivers] == ["delivery", "billing", "other"]
    assert report.weeks == tuple(date(2026, 10, 5) + timedelta(weeks=n) for n in range(4))


def test_catalogue_causes_are_listed_and_retired_ones_only_with_cases(
    workspace: Workspace, history: None, causes: dict[str, RootCause]
) -> None:
    report = root_causes(workspace, START, END)
    listed = {c.key: (c.cases, c.in_catalogue) for c in report.causes}
    assert listed == {
        "courier": (3, True),
        "invoice": (3, True),
        "retired-cause": (1, False),
        "idle": (0, True),
    }
    update_root_cause(cause=causes["idle"], active=False)
    assert "idle" not in {c.key for c in root_causes(workspace, START, END).causes}


def test_an_empty_period_gives_zeros_and_no_ratio(workspace: Workspace, causes: Any) -> None:
    report = root_causes(workspace, START, END)
    assert (report.cases, report.tagged, report.tagged_share, report.drivers) == (0, 0, None, ())
    assert [(c.key, c.cases, c.repeat_share) for c in report.causes] == [
        ("invoice", 0, None),  # by name: "=HYPERLINK…" first
        ("courier", 0, None),
        ("idle", 0, None),
    ]
    assert report.clusters == () and report.clustered == 0


def test_period_weeks_cover_partial_weeks() -> None:
    wednesday = datetime(2026, 10, 7, 12, tzinfo=UTC)
    assert period_weeks(wednesday, wednesday + timedelta(days=7)) == (
        date(2026, 10, 5),
        date(2026, 10, 12),
    )
    assert period_weeks(START, START + timedelta(days=7)) == (date(2026, 10, 5),)


# -- clusters ----------------------------------------------------------------------------


def test_similar_texts_cluster_deterministically() -> None:
    texts = [
        "My parcel never arrived, the courier lost it",
        "Courier lost my parcel again!!",
        "I was charged twice on my invoice",
        "Invoice wrong: charged twice this month",
        "hello",
        "The courier says the parcel was delivered but it was not",
        "@bob https://x.test invoice charged twice",
    ]
    clusters = cluster_texts(texts)
    assert [(c.members, c.terms) for c in clusters] == [
        ((0, 1, 5), ("courier", "parcel", "lost")),
        ((2, 3, 6), ("charged", "invoice", "twice")),
    ]
    assert cluster_texts(texts) == clusters
    assert cluster_texts(["one text"]) == [] and cluster_texts(["a b", "c d"]) == []


def test_clusters_come_from_this_workspaces_untagged_cases(
    workspace: Workspace, other_workspace: Workspace, causes: Any
) -> None:
    at = START + timedelta(days=1)
    texts = ["Courier lost my parcel", "The courier lost the parcel", "parcel lost by courier"]
    for n, text in enumerate(texts):
        opened(identity(workspace, f"@u{n}"), at + timedelta(hours=n), "delivery", text=text)
    opened(identity(workspace, "@tagged"), at, "delivery", "courier", text="courier lost parcel")
    for n in range(3):
        opened(identity(other_workspace, f"@g{n}"), at, "delivery", text="courier lost parcel")
    report = root_causes(workspace, START, END)
    assert report.clustered == 3
    [cluster] = report.clusters
    assert (cluster.cases, set(cluster.terms)) == (3, {"courier", "lost", "parcel"})
    assert sorted(e.text for e in cluster.examples) == sorted(texts)


# -- tagging -----------------------------------------------------------------------------


def test_tagging_records_an_event_and_refuses_another_workspaces_cause(
    workspace: Workspace, agent: Agent, outsider: Agent, causes: dict[str, RootCause]
) -> None:
    mine = opened(identity(workspace, "@ann"), START, "delivery")
    assert tag_root_cause(case=mine, agent=agent, slug="courier") is True
    assert tag_root_cause(case=mine, agent=agent, slug="courier") is False
    event = CaseEvent.objects.get(case=mine, type=CaseEvent.Type.ROOT_CAUSE_TAGGED)
    assert event.params == {
        "root_cause": f"Courier loses parcels {SCRIPT}",
        "slug": "courier",
        "previous": None,
    }
    assert event.actor == agent
    update_root_cause(cause=causes["idle"], active=False)
    for slug in ("nope", "idle"):
        with pytest.raises(RootCauseInvalid):
            tag_root_cause(case=mine, agent=agent, slug=slug)
    with pytest.raises(RootCauseInvalid):  # Globex's cause, passed directly
        tag_locked_case(mine, cause=causes["globex"], agent=agent, at=START)
    mine.refresh_from_db()
    assert mine.root_cause == "courier"
    assert CaseEvent.objects.filter(type=CaseEvent.Type.ROOT_CAUSE_TAGGED).count() == 1
    assert tag_root_cause(case=mine, agent=agent, slug="") is True  # cleared
    mine.refresh_from_db()
    assert mine.root_cause == ""


def test_catalogue_owner_must_belong_to_the_workspace(
    workspace: Workspace, outsider: Agent, causes: dict[str, RootCause]
) -> None:
    with pytest.raises(RootCauseInvalid):
        create_root_cause(workspace=workspace, name="Stolen owner", owner=outsider)
    with pytest.raises(RootCauseInvalid):
        update_root_cause(cause=causes["invoice"], owner=outsider)
    with pytest.raises(RootCauseInvalid):  # the slug is taken in Acme (not in Globex)
        create_root_cause(workspace=workspace, name="Courier", slug="courier")
    assert RootCause.objects.filter(workspace=workspace).count() == 3


def test_the_case_page_card_tags_and_escapes(
    agent_client: Client, workspace: Workspace, agent: Agent, causes: dict[str, RootCause]
) -> None:
    mine = opened(identity(workspace, "@ann"), START, "delivery")
    page = agent_client.get(f"/cases/{mine.public_id}/").content.decode()
    assert f"Courier loses parcels {ESCAPED}" in page and SCRIPT not in page
    assert "Globex secret cause" not in page
    url = f"/insights/root-causes/cases/{mine.public_id}/"
    assert agent_client.post(url, {"root_cause": "courier"}).status_code == 302
    mine.refresh_from_db()
    assert mine.root_cause == "courier"
    agent_client.post(url, {"root_cause": "globex-only"})
    mine.refresh_from_db()
    assert mine.root_cause == "courier"
    page = agent_client.get(f"/cases/{mine.public_id}/").content.decode()
    assert "Root cause not saved" in page and "owned by Jo Chen" in page


def test_another_workspaces_case_cannot_be_tagged(
    workspace: Workspace, other_workspace: Workspace, outsider: Agent, causes: dict[str, RootCause]
) -> None:
    mine = opened(identity(workspace, "@ann"), START, "delivery")
    client = Client()
    client.force_login(outsider.user)
    url = f"/insights/root-causes/cases/{mine.public_id}/"
    assert client.post(url, {"root_cause": "courier"}).status_code == 404
    token = issue_token(agent=outsider, name="t")
    response = Client().put(
        f"/api/v1/insights/cases/{mine.public_id}/root-cause",
        {"root_cause": "courier"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
    mine.refresh_from_db()
    assert mine.root_cause == "" and not CaseEvent.objects.filter(case=mine).exists()


def test_tagging_on_resolution_and_refusal_changes_nothing(
    workspace: Workspace, agent: Agent, causes: dict[str, RootCause], ingest: Callable[..., int]
) -> None:
    ingest(
        workspace,
        [record("r-1", "My parcel never arrived"), record("r-2", "Wrong bill", author="u-2")],
    )
    first, second = Case.objects.filter(workspace=workspace).order_by("id")
    with pytest.raises(RootCauseInvalid):
        propose_resolution(case=first, agent=agent, root_cause="globex-only")
    first.refresh_from_db()
    assert (first.status, first.root_cause) == ("new", "") and not Resolution.objects.exists()
    propose_resolution(case=first, agent=agent, root_cause="courier")
    first.refresh_from_db()
    assert (first.status, first.root_cause) == ("resolved", "courier")
    token = issue_token(agent=agent, name="t")
    api = Client()
    url = f"/api/v1/cases/{second.public_id}/resolution"
    headers = {"Authorization": f"Bearer {token}"}
    refused = api.post(url + "?root_cause=courier-x", headers=headers)
    assert refused.status_code == 422
    assert api.post(url + "?root_cause=invoice", headers=headers).status_code == 201
    second.refresh_from_db()
    assert (second.status, second.root_cause) == ("resolved", "invoice")
    assert Resolution.objects.count() == 2
    assert CaseEvent.objects.filter(type=CaseEvent.Type.ROOT_CAUSE_TAGGED).count() == 2


# -- page, API, CSV ----------------------------------------------------------------------


PERIOD = {"start": "2026-10-05", "end": "2026-11-01"}


def test_the_page_shows_this_workspace_only_escaped(agent_client: Client, history: None) -> None:
    response = agent_client.get("/insights/root-causes/", PERIOD)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Courier loses parcels {ESCAPED}" in page and SCRIPT not in page
    assert "Globex secret cause" not in page and "globex" not in page.lower()
    assert "7 of 9 cases tagged (77.8%)" in page
    assert response.context["report"].cases == 9
    assert "/insights/export/root-causes.csv?" in page


def test_an_empty_period_says_no_data(agent_client: Client) -> None:
    response = agent_client.get(
        "/insights/root-causes/", {"start": "2020-01-01", "end": "2020-01-31"}
    )
    assert response.status_code == 200
    assert response.content.decode().count("no data") == 3
    bad = agent_client.get("/insights/root-causes/", {"start": "2026-02-01", "end": "2026-01-01"})
    assert bad.status_code == 400


def test_the_page_runs_the_same_queries_whatever_the_data(
    agent_client: Client, workspace: Workspace, other_workspace: Workspace, causes: Any
) -> None:
    with CaptureQueriesContext(connection) as empty:
        agent_client.get("/insights/root-causes/", PERIOD)
    for n in range(6):
        who = identity(workspace, f"@p{n}")
        opened(
            who, START + timedelta(days=n), "delivery", "courier" if n % 2 else "", "lost parcel"
        )
    with CaptureQueriesContext(connection) as full:
        agent_client.get("/insights/root-causes/", PERIOD)
    # session, user, agent with its workspace, rollup state, counts, clusters sample,
    # catalogue
    assert len(empty.captured_queries) == len(full.captured_queries) == 7


def test_the_overview_links_the_page(agent_client: Client) -> None:
    assert 'href="/insights/root-causes/"' in agent_client.get("/insights/").content.decode()


def test_the_api_scopes_and_matches_the_page(
    api_token: str, history: None, other_workspace: Workspace
) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    body = (
        Client()
        .get(
            "/api/v1/insights/root-causes",
            {"start": START.isoformat(), "end": END.isoformat()},
            headers=headers,
        )
        .json()
    )
    assert (body["cases"], body["tagged"], body["untagged"], body["tagged_share"]) == (
        9,
        7,
        2,
        77.8,
    )
    courier = next(c for c in body["causes"] if c["key"] == "courier")
    assert (courier["cases"], courier["repeats"], courier["repeat_share"]) == (3, 3, 100.0)
    assert [w["cases"] for w in courier["weeks"]] == [1, 2, 0, 0]
    assert "Globex" not in str(body)


def test_the_catalogue_api_is_for_supervisors(
    api_token: str, supervisor: Agent, agent: Agent, outsider: Agent, causes: Any
) -> None:
    client = Client()
    agent_headers = {"Authorization": f"Bearer {api_token}"}
    boss = {"Authorization": f"Bearer {issue_token(agent=supervisor, name='t')}"}
    url = "/api/v1/insights/root-causes/catalogue"
    listed = client.get(url, headers=agent_headers).json()
    assert [c["slug"] for c in listed] == ["invoice", "courier", "idle"]
    new = {"name": "Late refunds", "owner": "jc"}
    assert (
        client.post(url, new, content_type="application/json", headers=agent_headers).status_code
        == 403
    )
    created = client.post(url, new, content_type="application/json", headers=boss)
    assert created.status_code == 201 and created.json()["slug"] == "late-refunds"
    stolen = {"name": "X", "owner": "ozzy"}
    assert (
        client.post(url, stolen, content_type="application/json", headers=boss).status_code == 422
    )
    changed = client.patch(
        f"{url}/late-refunds",
        {"active": False, "owner": ""},
        content_type="application/json",
        headers=boss,
    )
    assert changed.json() == {
        "slug": "late-refunds",
        "name": "Late refunds",
        "description": "",
        "owner": None,
        "active": False,
    }
    assert (
        client.patch(f"{url}/nope", {}, content_type="application/json", headers=boss).status_code
        == 404
    )


def test_csv_exports_neutralise_formulas(agent_client: Client, history: None) -> None:
    response = agent_client.get("/insights/export/root-causes.csv", PERIOD)
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["key", "name", "owner", "week", "cases", "repeats", "repeat_share_percent"]
    assert ["invoice", "'" + FORMULA, "", "", "3", "1", "33.3"] in rows
    assert ["invoice", "'" + FORMULA, "", "2026-10-05", "3", "", ""] in rows
    assert "Globex" not in body
    drivers = agent_client.get("/insights/export/contact-drivers.csv", PERIOD)
    rows = list(csv.reader(io.StringIO(b"".join(drivers.streaming_content).decode())))  # type: ignore[attr-defined]
    assert ["delivery", "delivery", "", "", "5", "3", "60.0"] in rows
