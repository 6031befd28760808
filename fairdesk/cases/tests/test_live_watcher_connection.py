"""The live-update watcher reads while a live server's requests write (SQLite tests)."""

import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from fairdesk.cases import live
from fairdesk.cases.models import CaseEvent
from fairdesk.insights.tests.rows import case, identity
from fairdesk.workspaces.models import Workspace


@pytest.mark.django_db(transaction=True)
def test_writes_go_through_while_the_watcher_polls(
    live_server: Any, workspace: Workspace, settings: Any
) -> None:
    """While the watcher reads the change marks as fast as it can (its own thread and
    connection, as a page's long-poll starts it), another thread writes case events: none
    fails. On an in-memory SQLite test database each write could fail at once with
    "database table is locked" (conftest: the test database is a file)."""
    settings.FAIRDESK_LIVE_STEP_SECONDS = 0
    settings.FAIRDESK_LIVE_LINGER_SECONDS = 0
    c = case(identity(workspace, "@dana", followers=10), at=timezone.now())
    watch = live.ChangeWatch()
    ticket = watch.enter(workspace.pk, cap=10, ready_within=5)
    assert ticket is not None
    failures: list[Exception] = []

    def write() -> None:  # as a request thread does: its own connection
        try:
            for _ in range(300):
                CaseEvent.objects.create(
                    workspace=workspace, case=c, type=CaseEvent.Type.ESCALATED, at=timezone.now()
                )
        except Exception as error:  # reported below
            failures.append(error)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    try:
        writer.start()
        writer.join(60)
    finally:
        ticket.leave()
        watch.join(5)
    assert failures == []
    assert CaseEvent.objects.filter(case=c, type=CaseEvent.Type.ESCALATED).count() == 300
