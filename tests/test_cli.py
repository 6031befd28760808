"""The command-line contracts of DESIGN §10 that other tools rely on."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import record
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.pipeline import drain
from fairdesk.inbound.services import store_events
from fairdesk.workspaces.models import Workspace


def test_queue_json_is_earliest_deadline_first(
    workspace: Workspace, ingest, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(
        workspace,
        [
            record("q1", "How do I change my delivery address?", author="a", handle="@a"),
            record(
                "q2",
                "Security vulnerability: your admin panel is exposed",
                author="b",
                handle="@b",
                minutes=30,
                channel="mastodon",
            ),
        ],
    )
    call_command("queue", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert [(r["severity"], r["channel"], r["handle"]) for r in rows] == [
        ("critical", "mastodon", "@b"),
        ("normal", "x", "@a"),
    ]
    assert rows[0]["escalation_at"] < rows[1]["escalation_at"]


def test_queue_needs_a_workspace_name_when_there_are_two(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    with pytest.raises(CommandError, match="--workspace"):
        call_command("queue", "--json")


def count_pipeline_queries(workspace: Workspace, customers: int, offset: int) -> int:
    records = [
        record(
            f"n{offset + i}",
            "My parcel never arrived, can you check?" if i % 2 else "Charged twice, refund me",
            author=f"c{offset + i}",
            handle=f"@c{offset + i}",
            channel=["x", "email", "mastodon"][i % 3],
            minutes=i,
        )
        for i in range(customers)
    ]
    clean = [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]
    store_events(workspace=workspace, records=clean)
    with CaptureQueriesContext(connection) as queries:
        drain()
    return len(queries)


@pytest.mark.django_db
def test_pipeline_queries_do_not_grow_with_the_batch(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from fairdesk.inbound import pipeline

    # Claims start at a random lane (one claim query or two): the same lane for both.
    monkeypatch.setattr(pipeline, "random", SimpleNamespace(randrange=lambda n: n // 2))
    # Both batches hold a pile-on (six or more customers per problem), so both take the
    # pile-on path (a few queries per batch, never per message).
    small = count_pipeline_queries(workspace, 12, offset=0)
    large = count_pipeline_queries(workspace, 120, offset=1000)
    # One query per lookup and per write for the whole batch; only the database's limit
    # on bound parameters per statement (SQLite) splits a large insert into a few chunks.
    assert large <= small + 6  # (the first batch also loads the staff directory once)
