"""The trigram indexes of migration ``contacts/0003`` serve the search over names and
handles exactly as ``cases.search`` writes it (PostgreSQL only; SQLite has none)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fairdesk.cases.search import search_cases
from fairdesk.cases.tests.factories import make_case
from fairdesk.workspaces.models import Workspace

TRIGRAM_INDEXES = ["contact_name_trgm_idx", "identity_handle_trgm_idx", "identity_name_trgm_idx"]


def crowd(workspace: Workspace, size: int) -> None:
    """``size`` other customers with one identity each, so that reading every contact of
    the workspace is clearly dearer than looking the name up (one statement each)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contact (workspace_id, display_name, email, phone, "
            "entitlement, created_at, updated_at) "
            "SELECT %s, 'Customer ' || md5(n::text), '', '', 'standard', now(), now() "
            "FROM generate_series(1, %s) AS n",
            [workspace.pk, size],
        )
        cursor.execute(
            "INSERT INTO contacts_contactidentity (workspace_id, contact_id, channel, "
            "external_id, handle, display_name, verified, created_at, updated_at) "
            "SELECT workspace_id, id, 'x', 'crowd-' || id, '@c_' || md5(id::text), "
            "display_name, false, now(), now() FROM contacts_contact "
            "WHERE workspace_id = %s AND display_name LIKE 'Customer %%'",
            [workspace.pk],
        )


def explain_search(workspace: Workspace, query: str) -> str:
    """The plan of the SQL ``search_cases`` really runs, sequential scans priced out.

    Rows inserted since the last vacuum wait in each GIN index's pending list, which the
    planner prices as read on every lookup; autovacuum flushes it in a live database,
    here it is flushed by hand so the plan is the steady-state one."""
    with CaptureQueriesContext(connection) as captured:
        search_cases(workspace=workspace, query=query)
    # The people whose name or handle matches are read first, as one query.
    sql = next(
        q["sql"] for q in captured.captured_queries if 'UPPER("contacts_contact"' in q["sql"]
    )
    with connection.cursor() as cursor:
        for index in TRIGRAM_INDEXES:
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("ANALYZE contacts_contactidentity")
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {sql}")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("SET enable_seqscan = on")


def test_postgresql_searches_names_and_handles_through_trigram_indexes(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_trgm indexes exist on PostgreSQL only")
    dana = make_case(workspace, external_id="n1", name="Dana Kowalski", handle="@dana_k")
    make_case(other_workspace, external_id="n2", name="Dana Kowalska", handle="@dana_g")
    crowd(workspace, 10_000)
    assert [c.pk for c in search_cases(workspace=workspace, query="kowal").cases] == [dana.pk]
    assert [c.pk for c in search_cases(workspace=workspace, query="@DANA_").cases] == [dana.pk]
    plan = explain_search(workspace, "kowal")
    for index in TRIGRAM_INDEXES:
        assert f"Bitmap Index Scan on {index}" in plan, plan
    assert "Index Cond: (upper((display_name)::text) ~~ '%KOWAL%'::text)" in plan


def test_the_indexes_are_on_the_expression_icontains_writes(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_trgm indexes exist on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s) "
            "ORDER BY indexname",
            [TRIGRAM_INDEXES],
        )
        found = dict(cursor.fetchall())
    assert sorted(found) == TRIGRAM_INDEXES
    assert found["contact_name_trgm_idx"].endswith(
        "ON public.contacts_contact USING gin (upper((display_name)::text) gin_trgm_ops)"
    )
    assert found["identity_handle_trgm_idx"].endswith(
        "ON public.contacts_contactidentity USING gin (upper((handle)::text) gin_trgm_ops)"
    )
