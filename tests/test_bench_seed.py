"""``fairdesk bench seed``: a tiny seeded workspace is complete, coherent and isolated.

Runs on SQLite (bulk_create) and PostgreSQL (COPY with the indexes dropped and rebuilt
in the same transaction). No timings here: the figures live in docs/BENCHMARKS.md.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F

from conftest import record
from fairdesk.benchkit import texts
from fairdesk.benchkit.seed import SeedRefused, seed
from fairdesk.cases.models import OPEN_STATUSES, Case, CaseEvent, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.portal.models import CsatResponse
from fairdesk.routing.policy import deadlines_for
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Agent, Workspace

UNTIL = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POOLS = texts.load(data_dir=Path("/nonexistent"))  # the generated fallback texts

pytestmark = pytest.mark.django_db


def _seed(slug: str = "tiny", *, seed_value: int = 3, cases: int = 120) -> dict:
    result = seed(
        slug=slug,
        cases=cases,
        messages=cases * 5,
        seed=seed_value,
        pools=POOLS,
        until=UNTIL,
        days=60,
        other_cases=12,
    )
    return result.as_dict()


def _snapshot(workspace: Workspace) -> dict[str, list[tuple]]:
    return {
        "cases": list(Case.objects.filter(workspace=workspace).order_by("id").values_list()),
        "messages": list(Message.objects.filter(workspace=workspace).order_by("id").values_list()),
        "contacts": list(Contact.objects.filter(workspace=workspace).order_by("id").values_list()),
        "identities": list(
            ContactIdentity.objects.filter(workspace=workspace).order_by("id").values_list()
        ),
    }


def _indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c for c, info in connection.introspection.get_constraints(cursor, table).items()}


def test_counts_are_exact_and_every_case_has_its_messages(
    workspace: Workspace, ingest: Callable[..., int]
) -> None:
    ingest(
        workspace,
        [
            record("e1", "My parcel is late"),
            record("e2", "App crashes", author="u-2", handle="@sam"),
        ],
    )
    before = _snapshot(workspace)
    indexes_before = _indexes(Message._meta.db_table)

    result = _seed()

    bench = Workspace.objects.get(slug="tiny")
    other = Workspace.objects.get(slug="tiny-other")
    assert result["counts"]["cases"] == 120
    assert result["counts"]["messages"] == 600
    assert Case.objects.filter(workspace=bench).count() == 120
    assert Message.objects.filter(workspace=bench).count() == 600
    assert Case.objects.filter(workspace=other).count() == 12
    assert Message.objects.filter(workspace=other).count() == 60
    assert Contact.objects.filter(workspace=bench).count() == result["counts"]["contacts"] == 48
    assert CaseEvent.objects.filter(workspace=bench).count() == result["counts"]["events"]
    assert CsatResponse.objects.filter(workspace=bench).count() == result["counts"]["csat"]
    assert Agent.objects.filter(workspace=bench).count() == 40
    assert not Case.objects.filter(workspace=bench, messages__isnull=True).exists()
    # The workspace that was there before is untouched, row for row.
    assert _snapshot(workspace) == before
    assert len(before["cases"]) == 2
    # Indexes and constraints dropped for the load are all back (PostgreSQL).
    assert _indexes(Message._meta.db_table) == indexes_before


def test_rows_never_cross_workspaces() -> None:
    _seed()
    for slug in ("tiny", "tiny-other"):
        workspace = Workspace.objects.get(slug=slug)
        cases = Case.objects.filter(workspace=workspace)
        assert not cases.exclude(contact__workspace=workspace).exists()
        assert not cases.exclude(team__workspace=workspace).exists()
        assert (
            not cases.filter(assignee__isnull=False).exclude(assignee__workspace=workspace).exists()
        )
        messages = Message.objects.filter(case__workspace=workspace)
        assert not messages.exclude(workspace=workspace).exists()
        assert (
            not messages.filter(identity__isnull=False)
            .exclude(identity__contact_id=F("case__contact_id"))
            .exists()
        )
        assert (
            not ContactIdentity.objects.filter(contact__workspace=workspace)
            .exclude(workspace=workspace)
            .exists()
        )
        assert (
            not CaseEvent.objects.filter(case__workspace=workspace)
            .exclude(workspace=workspace)
            .exists()
        )


def test_statuses_timestamps_and_deadlines_agree() -> None:
    _seed()
    workspace = Workspace.objects.get(slug="tiny")
    targets = targets_table(workspace)
    by_case: dict[int, list[Message]] = defaultdict(list)
    for message in Message.objects.filter(workspace=workspace).order_by("sent_at", "id"):
        by_case[message.case_id].append(message)  # type: ignore[index]
    open_per_contact: dict[int, int] = defaultdict(int)
    statuses = set()
    for case in Case.objects.filter(workspace=workspace):
        statuses.add(case.status)
        thread = by_case[case.pk]
        inbound = [m for m in thread if m.direction == "inbound"]
        replies = [m for m in thread if m.direction == "outbound" and m.visibility != "internal"]
        assert thread[0].direction == "inbound"
        assert case.first_inbound_at == inbound[0].sent_at
        assert case.last_inbound_at == inbound[-1].sent_at
        assert case.first_response_at == (replies[0].sent_at if replies else None)
        assert case.last_response_at == (replies[-1].sent_at if replies else None)
        assert all(m.sent_at <= UNTIL for m in thread)
        assert case.origin_channel == thread[0].channel
        if case.status == "new":
            assert not replies and case.assignee_id is None
        if case.status in {"pending_customer", "resolved", "closed"} and len(thread) > 1:
            assert thread[-1].direction == "outbound" and thread[-1].visibility != "internal"
        if case.status in {"resolved", "closed"}:
            assert case.escalation_at is None and case.first_response_due_at is None
            assert case.resolved_at is not None and case.resolved_at >= thread[-1].sent_at
            assert case.awaiting_since is None
        if case.status == "closed":
            assert case.closed_at is not None and case.resolved_at is not None
            assert case.closed_at >= case.resolved_at
        if case.status in OPEN_STATUSES:
            open_per_contact[case.contact_id] += 1
            assert case.resolved_at is None and case.closed_at is None
            expected = deadlines_for(
                targets=targets[(case.severity, case.entitlement)],
                first_inbound_at=case.first_inbound_at,
                awaiting_since=case.awaiting_since,
                first_response_at=case.first_response_at,
            )
            assert case.escalation_at == expected.escalation_at is not None
            assert case.resolution_due_at == expected.resolution_due_at
            waiting = [m.sent_at for m in inbound if not replies or m.sent_at > replies[-1].sent_at]
            assert case.awaiting_since == (min(waiting) if waiting else None)
    assert max(open_per_contact.values()) == 1  # one open case per customer
    assert {"closed", "open"} <= statuses


def test_the_same_seed_gives_the_same_rows() -> None:
    _seed("first", seed_value=5, cases=40)
    _seed("second", seed_value=5, cases=40)

    def rows(slug: str) -> list[tuple]:
        return list(
            Message.objects.filter(workspace__slug=slug)
            .order_by("id")
            .values_list("direction", "visibility", "channel", "text", "sent_at", "sentiment")
        )

    assert rows("first") == rows("second")
    assert len(rows("first")) == 200


def test_an_existing_workspace_is_refused_and_nothing_changes() -> None:
    _seed(cases=20)
    cases = Case.objects.count()
    with pytest.raises(SeedRefused, match="exists already"):
        _seed(cases=20)
    assert Case.objects.count() == cases


def test_the_command_refuses_bad_sizes_clearly() -> None:
    with pytest.raises(CommandError, match="at least as many messages as cases"):
        call_command("bench", "seed", "--cases", "10", "--messages", "5", "--json")
    assert not Workspace.objects.filter(slug="bench").exists()


def test_the_insights_bench_covers_every_insights_endpoint() -> None:
    """Every GET endpoint of the insights API and every section of the overview is
    measured (CSV exports and the catalogue excepted), for each of the three periods."""
    from fairdesk.api import api
    from fairdesk.benchkit.insights import PAGES, PERIODS, urls
    from fairdesk.insights.views import SECTIONS

    schema = api.get_openapi_schema()
    endpoints = {
        path.removeprefix("/api/v1")
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1/insights/") and "get" in methods
    }
    skipped = {"/insights/export/{figure}", "/insights/root-causes/catalogue"}
    measured = {path.split("?")[0].removeprefix("/api/v1") for _, path in urls(UNTIL)}
    for endpoint in endpoints - skipped:
        pattern = endpoint.replace("{kind}", "converted")
        assert pattern in measured, endpoint
    for name, _ in SECTIONS:  # each section the overview loads on its own
        assert f"/insights/section/{name}/" in measured, name
    assert len(urls(UNTIL)) == len(PERIODS) * len(PAGES)


def test_the_benches_refuse_a_workspace_that_was_not_seeded() -> None:
    with pytest.raises(CommandError, match="run `fairdesk bench seed` first"):
        call_command("bench", "workspace", "--workspace", "nope", "--json")
    with pytest.raises(CommandError, match="run `fairdesk bench seed` first"):
        call_command("bench", "insights", "--workspace", "nope", "--json")
