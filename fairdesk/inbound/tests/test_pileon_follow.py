"""A pile-on that goes on: each batch reads only what is new (``ActivePileon``), and raises
exactly what a full re-read of the window would (``threading._recent_reports``)."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from conftest import T0, record
from fairdesk.cases.models import Case, CaseEvent
from fairdesk.inbound import threading
from fairdesk.inbound.models import ActivePileon
from fairdesk.inbound.tests.test_pileon import CHANNELS, CHECKOUT, pileon_events, severities
from fairdesk.triage import pileon
from fairdesk.workspaces.models import Workspace

Ingest = Callable[..., int]
PROBLEM = "text:x:m-0"


def customer(i: int, minute: float, *, author: int | None = None, n: int = 0) -> dict[str, Any]:
    """Customer ``author`` (default ``i``) writing the checkout complaint at ``minute``."""
    who = i if author is None else author
    return record(
        f"m-{i}" if not n else f"m-{i}-{n}",
        CHECKOUT,
        channel=CHANNELS[who % len(CHANNELS)],
        author=f"c{who}",
        handle=f"@c{who}",
        followers=who * 100_000,
        minutes=minute,  # type: ignore[arg-type]
    )


def escalated(workspace: Workspace) -> list[str]:
    return [name for name, _ in pileon_events(workspace, CaseEvent.Type.ESCALATED)]


@pytest.fixture(autouse=True)
def follow_every_pileon(monkeypatch: pytest.MonkeyPatch) -> None:
    """Follow pile-ons of any size here (by default only from ``PILEON_FOLLOW_FROM``
    reports on; below that the window is read whole, which these tests also compare)."""
    monkeypatch.setattr(threading, "PILEON_FOLLOW_FROM", 0)


@pytest.fixture
def read_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many earlier reports each batch handed to the detector (a small page size, so
    that following a pile-on shows as reading less than the window holds)."""
    sizes: list[int] = []
    real = pileon.detect
    monkeypatch.setattr(threading, "PILEON_PAGE", 3)

    def spy(reports: Any) -> Any:
        reports = list(reports)
        sizes.append(len(reports))
        return real(reports)

    monkeypatch.setattr(pileon, "detect", spy)
    return sizes


def test_a_pileon_over_many_batches_raises_each_new_case_once_reading_only_a_page(
    workspace: Workspace, ingest: Ingest, read_sizes: list[int]
) -> None:
    # A customer a minute for 60 minutes, each in a batch of their own: after the fifth,
    # each batch joins a pile-on whose window holds 30 reports.
    for i in range(60):
        ingest(workspace, [customer(i, i)])
    assert severities(workspace) == [(f"C{i}", "high") for i in range(60)]
    assert escalated(workspace) == [f"C{i}" for i in range(60)]  # each case once
    raised = pileon_events(workspace, CaseEvent.Type.SEVERITY_CHANGED)
    assert [name for name, _ in raised] == [f"C{i}" for i in range(60)]
    # Figures since the pile-on began, not of the last window: 60 people, from T0.
    last = pileon_events(workspace, CaseEvent.Type.ESCALATED)[-1][1]["pileon"]
    assert last == {
        "problem": PROBLEM,
        "authors": 60,
        "reports": 60,
        "started_at": T0.isoformat(),
    }
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.started_at, record_.last_at) == (T0, T0 + timedelta(minutes=59))
    assert (record_.reports, record_.authors) == (60, 60)
    # Once followed, a batch reads two pages of three (five people, back to the last
    # report), not the 30 reports of its window.
    assert max(read_sizes[40:]) <= 2 * 3 + 1


def test_a_newcomer_inside_the_window_of_an_ended_pileon_needs_five_people(
    workspace: Workspace, ingest: Ingest
) -> None:
    for i in range(5):
        ingest(workspace, [customer(i, i)])
    assert escalated(workspace) == [f"C{i}" for i in range(5)]
    # 29 minutes after the pile-on's last report: its window [3, 33] holds three people.
    ingest(workspace, [customer(5, 33)])
    ingest(workspace, [customer(6, 40)])
    ingest(workspace, [customer(7, 41)])
    ingest(workspace, [customer(8, 42)])
    assert escalated(workspace) == [f"C{i}" for i in range(5)]
    assert [s for _, s in severities(workspace)][5:] == ["normal"] * 4
    # The fifth new person within 30 minutes of the first: a pile-on again, of five.
    ingest(workspace, [customer(9, 43)])
    assert escalated(workspace) == [f"C{i}" for i in range(10)]
    summaries = [p["pileon"] for _, p in pileon_events(workspace, CaseEvent.Type.ESCALATED)]
    assert (
        summaries[5:]
        == [
            {
                "problem": PROBLEM,
                "authors": 5,
                "reports": 5,
                "started_at": (T0 + timedelta(minutes=33)).isoformat(),
            }
        ]
        * 5
    )
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.started_at, record_.last_at, record_.authors) == (
        T0 + timedelta(minutes=33),
        T0 + timedelta(minutes=43),
        5,
    )


def test_one_customer_repeating_in_a_pileon_raises_nothing_and_counts_once(
    workspace: Workspace, ingest: Ingest
) -> None:
    for i in range(5):
        ingest(workspace, [customer(i, i)])
    for n in range(1, 11):  # C0 again and again, louder and louder
        ingest(workspace, [customer(0, 5 + n, n=n)])
    assert escalated(workspace) == [f"C{i}" for i in range(5)]
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.reports, record_.authors) == (15, 5)
    ingest(workspace, [customer(5, 16)])
    summary = pileon_events(workspace, CaseEvent.Type.ESCALATED)[-1][1]["pileon"]
    assert (summary["authors"], summary["reports"]) == (6, 16)


def test_one_customer_alone_never_makes_a_record(workspace: Workspace, ingest: Ingest) -> None:
    for n in range(1, 31):
        ingest(workspace, [customer(0, n / 2, n=n)])
    assert escalated(workspace) == []
    assert not ActivePileon.objects.exists()
    assert Case.objects.get(workspace=workspace).severity == "normal"


def test_a_pileon_in_one_workspace_is_followed_there_only(
    workspace: Workspace, other_workspace: Workspace, ingest: Ingest
) -> None:
    for i in range(8):
        ingest(workspace, [customer(i, i)])
    # The same texts and message ids in another workspace: its own people only.
    for i in range(4):
        ingest(other_workspace, [customer(i, 8 + i)])
    assert escalated(other_workspace) == []
    assert set(ActivePileon.objects.values_list("workspace", flat=True)) == {workspace.pk}
    ingest(other_workspace, [customer(4, 12)])
    assert escalated(other_workspace) == [f"C{i}" for i in range(5)]
    summary = pileon_events(other_workspace, CaseEvent.Type.ESCALATED)[-1][1]["pileon"]
    assert (summary["authors"], summary["started_at"]) == (
        5,
        (T0 + timedelta(minutes=8)).isoformat(),
    )
    mine = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (mine.authors, mine.last_at) == (8, T0 + timedelta(minutes=7))
    assert escalated(workspace) == [f"C{i}" for i in range(8)]


def test_earlier_reports_imported_after_a_pileon_are_raised(
    workspace: Workspace, ingest: Ingest
) -> None:
    # Out of order: minutes 10-14 first (a pile-on), then minutes 0-2 and 40.
    for i in range(5, 10):
        ingest(workspace, [customer(i, i + 5)])
    ingest(workspace, [customer(i, i) for i in range(3)])
    # 30 minutes after the pile-on's last report: its window [14, 44] holds two people.
    ingest(workspace, [customer(20, 44)])
    assert sorted(escalated(workspace)) == sorted(f"C{i}" for i in [0, 1, 2, 5, 6, 7, 8, 9])
    # The first text stored is the near-duplicate root: m-5's.
    record_ = ActivePileon.objects.get(workspace=workspace, problem="text:x:m-5")
    assert (record_.started_at, record_.last_at) == (T0, T0 + timedelta(minutes=14))
    assert (record_.reports, record_.authors) == (8, 8)


def test_reports_arriving_late_within_a_pileon_join_it_without_a_full_read(
    workspace: Workspace, ingest: Ingest, read_sizes: list[int]
) -> None:
    # Workers take customers lane by lane: a backlog arrives out of time order.
    for i in range(20):
        ingest(workspace, [customer(i, 2 * i)])  # minutes 0..38, the window holds 16
    read_sizes.clear()
    ingest(workspace, [customer(20, 5), customer(21, 13)])
    assert sorted(escalated(workspace)) == sorted(f"C{i}" for i in range(22))
    # One page (three per problem followed: the text and the topic) and the two new ones,
    # not the 20 reports of the window around them.
    assert read_sizes[-1] <= 3 * 2 + 2
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.started_at, record_.last_at) == (T0, T0 + timedelta(minutes=38))
    assert (record_.reports, record_.authors) == (22, 22)


def test_a_late_report_within_a_pileon_can_revive_the_windows_after_it(
    workspace: Workspace, ingest: Ingest
) -> None:
    for i in range(5):
        ingest(workspace, [customer(i, i)])
    ingest(workspace, [customer(5, 33)])  # window [3, 33]: C3, C4, C5
    ingest(workspace, [customer(6, 34)])  # window [4, 34]: C4, C5, C6
    assert escalated(workspace) == [f"C{i}" for i in range(5)]
    # Two more people at minute 4, stored late: within the pile-on, and now the windows
    # ending at minutes 33 and 34 hold five people each.
    ingest(workspace, [customer(7, 4), customer(8, 4)])
    assert sorted(escalated(workspace)) == sorted(f"C{i}" for i in range(9))
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.started_at, record_.last_at) == (T0, T0 + timedelta(minutes=34))
    assert (record_.reports, record_.authors) == (9, 9)


def test_a_customer_writing_again_later_in_a_long_pileon_is_raised_once(
    workspace: Workspace, ingest: Ingest, read_sizes: list[int]
) -> None:
    for i in range(40):
        ingest(workspace, [customer(i, 2 * i)])  # minutes 0..78
    # C0 (raised at minute 8) and C30 write again: their first reports are far behind
    # the page read now, and one is out of the window altogether.
    ingest(workspace, [customer(0, 80, n=1)])
    ingest(workspace, [customer(30, 81, n=1)])
    assert escalated(workspace) == [f"C{i}" for i in range(40)]
    assert severities(workspace) == [(f"C{i}", "high") for i in range(40)]
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.reports, record_.authors) == (42, 40)


def report(key: str, author: str, minute: float) -> pileon.Report:
    return pileon.Report(
        key=key,
        author=author,
        at=T0 + timedelta(minutes=minute),
        topic="billing",
        signals=(),
        intent="complaint",
        duplicate_of="" if key == "x:r0" else "x:r0",
    )


def test_spans_are_the_instants_covered_by_windows_of_five_people() -> None:
    # Five people at minutes 0-4, a gap, five more at 50-54, one straggler at 90.
    minutes = [0, 1, 2, 3, 4, 50, 51, 52, 53, 54, 90]
    reports = [report(f"x:r{i}", f"c{i}", m) for i, m in enumerate(minutes)]
    at = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    assert pileon.spans("text:x:r0", reports) == [
        (at(0), at(4)),
        (at(50), at(54)),
    ]
    # Windows ending at minutes 4 and 33 overlap: one span, every instant in a window.
    joined = [*reports[:5], *(report(f"x:s{i}", f"d{i}", 30 + i) for i in range(4))]
    assert pileon.spans("text:x:r0", joined) == [(at(0), at(33))]
    # One person fifty times is no span; fewer reports never make a span longer.
    loud = [report(f"x:l{i}", "c0", i / 10) for i in range(50)]
    assert pileon.spans("text:x:r0", loud) == []
    assert pileon.spans("text:x:r0", reports[1:]) == [(at(50), at(54))]


@pytest.fixture
def other_worker() -> Any:
    """A second PostgreSQL session on the test database, standing for another worker's
    batch in flight: it holds advisory locks until ``commit()``."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("advisory locks: PostgreSQL only (SQLite runs one batch at a time)")
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    session = psycopg.connect(**params)
    yield session
    session.rollback()
    session.close()


def test_a_new_pileon_another_batch_may_share_raises_the_cases_but_writes_no_record(
    workspace: Workspace, ingest: Ingest, other_worker: Any
) -> None:
    # Another worker's batch, in flight, holds the problem (its report could be unseen
    # here): the pile-on is raised, but no record may claim every report was seen.
    other_worker.execute(
        "SELECT pg_advisory_xact_lock_shared(%s)", [threading._lock_key(workspace.pk, PROBLEM)]
    )
    ingest(workspace, [customer(i, i) for i in range(5)])
    assert escalated(workspace) == [f"C{i}" for i in range(5)]
    assert not ActivePileon.objects.filter(workspace=workspace, problem=PROBLEM).exists()
    other_worker.commit()  # that batch ends: the next one here writes the record
    ingest(workspace, [customer(5, 5)])
    assert escalated(workspace) == [f"C{i}" for i in range(6)]
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.reports, record_.authors) == (6, 6)


def test_batches_about_a_problem_without_a_pileon_do_not_wait_for_each_other(
    workspace: Workspace, ingest: Ingest, other_worker: Any
) -> None:
    from django.db import connection

    ingest(workspace, [customer(0, 0)])
    key = threading._lock_key(workspace.pk, PROBLEM)
    other_worker.execute("SELECT pg_advisory_xact_lock_shared(%s)", [key])
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")
    try:
        ingest(workspace, [customer(1, 1)])  # shared beside shared: no wait
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert Case.objects.filter(workspace=workspace).count() == 2


@pytest.mark.django_db(transaction=True)  # each batch commits: its locks end with it
def test_a_batch_joining_an_active_pileon_waits_for_the_batches_in_flight(
    workspace: Workspace, ingest: Ingest, other_worker: Any
) -> None:
    from django.db import connection

    from fairdesk.inbound.models import InboundEvent

    ingest(workspace, [customer(i, i) for i in range(5)])
    assert ActivePileon.objects.filter(workspace=workspace, problem=PROBLEM).exists()
    key = threading._lock_key(workspace.pk, PROBLEM)
    other_worker.execute("SELECT pg_advisory_xact_lock_shared(%s)", [key])
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")
    try:
        ingest(workspace, [customer(5, 5)])  # needs the problem exclusively: it waits
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    # It gave up waiting (lock_timeout) and was left to retry: nothing stored meanwhile.
    event = InboundEvent.objects.get(workspace=workspace, external_id="m-5")
    assert event.status == InboundEvent.Status.PENDING and event.attempts == 1
    assert escalated(workspace) == [f"C{i}" for i in range(5)]
    other_worker.commit()
    InboundEvent.objects.filter(pk=event.pk).update(available_at=T0)
    ingest(workspace, [])
    assert escalated(workspace) == [f"C{i}" for i in range(6)]


def test_no_record_when_a_report_was_stored_unseen_while_the_batch_ran(
    workspace: Workspace, ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection

    from fairdesk.cases.models import Message

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one batch at a time: no report can be stored meanwhile")
    ingest(workspace, [customer(0, 0)])
    real = threading.BatchThreader._claim

    def another_batch_commits_first(self: Any, *args: Any) -> set[str]:
        # Between this batch's read and its claim, another stores a report of the problem.
        late = Message.objects.get(workspace=workspace, external_id="m-0")
        late.pk, late.external_id, late.duplicate_of = None, "m-late", "x:m-0"
        late.save()
        return real(self, *args)

    monkeypatch.setattr(threading.BatchThreader, "_claim", another_batch_commits_first)
    ingest(workspace, [customer(i, i) for i in range(1, 5)])
    assert escalated(workspace) == [f"C{i}" for i in range(5)]  # raised all the same
    assert not ActivePileon.objects.filter(workspace=workspace, problem=PROBLEM).exists()


def test_a_small_pileon_is_read_whole_and_raised_the_same(
    workspace: Workspace, ingest: Ingest, read_sizes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threading, "PILEON_FOLLOW_FROM", 50)
    for i in range(30):
        ingest(workspace, [customer(i, i)])
    # 29 earlier reports in the window: below 50 the batch reads them all, as before.
    assert read_sizes[-1] == 30
    assert escalated(workspace) == [f"C{i}" for i in range(30)]
    record_ = ActivePileon.objects.get(workspace=workspace, problem=PROBLEM)
    assert (record_.reports, record_.authors) == (30, 30)
