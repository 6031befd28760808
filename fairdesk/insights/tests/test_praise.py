"""The kudos log and its counts, recomputed from PRAISE_FORWARDED events and messages."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from fairdesk.cases.models import CaseEvent, Direction, Message
from fairdesk.insights.queries.praise import (
    Kudos,
    KudosCount,
    every_kudos,
    kudos_page,
    praise,
)
from fairdesk.insights.tests.rows import case, identity, message, praise_event
from fairdesk.workspaces.models import Employee, Workspace
from fairdesk.workspaces.services import add_employee

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)


def recompute(workspace: Workspace) -> tuple[list[tuple], dict[str, Counter], dict[str, Counter]]:
    """The log (latest first) and (kudos, answered) per employee and per manager."""
    log = []
    kudos: dict[str, Counter] = {"employee": Counter(), "team": Counter()}
    answered: dict[str, Counter] = {"employee": Counter(), "team": Counter()}
    events = CaseEvent.objects.filter(workspace=workspace, type="praise_forwarded")
    for event in sorted(events, key=lambda e: (e.at, e.pk), reverse=True):
        if not START <= event.at < END:
            continue
        praised = (
            Message.objects.filter(case=event.case, direction=Direction.INBOUND, sent_at=event.at)
            .order_by("id")
            .first()
        )
        replied = any(
            o.sent_at >= event.at and o.delivery_status not in ("held", "failed")
            for o in Message.objects.filter(case=event.case, direction=Direction.OUTBOUND)
        )
        employee, manager = event.params["employee"], event.params["manager"] or "no manager"
        log.append((event.at, employee, praised.text if praised else "", replied))
        for breakdown, name in (("employee", employee), ("team", manager)):
            kudos[breakdown][name] += 1
            answered[breakdown][name] += replied
    return log, kudos, answered


@pytest.fixture
def staff_praise(workspace: Workspace, other_workspace: Workspace) -> dict[str, Employee]:
    grace = add_employee(workspace=workspace, name="Grace Hopper")
    maria = add_employee(workspace=workspace, name="Maria Lopez", manager=grace)
    ken = add_employee(workspace=workspace, name="Ken =HYPERLINK()", manager=grace)
    solo = add_employee(workspace=workspace, name="Solo Han")
    fay = identity(workspace, "@fay")
    # Praise answered an hour later, naming two people (one event each).
    thanks = case(fay, at=T0, praise=True, text="Maria and Ken were <b>wonderful</b>")
    message(thanks, at=T0 + timedelta(hours=1), direction=Direction.OUTBOUND, text="Thank you!")
    praise_event(thanks, maria, at=T0)
    praise_event(thanks, ken, at=T0)
    # Praise never answered; praise answered only by a held reply.
    gus = identity(workspace, "@gus", channel="mastodon")
    ignored = case(gus, at=T0 + timedelta(hours=2), praise=True, text="Solo saved my trip")
    praise_event(ignored, solo, at=T0 + timedelta(hours=2))
    later = message(
        ignored, at=T0 + timedelta(hours=3), identity=gus, praise=True, text="Maria too"
    )
    praise_event(ignored, maria, at=later.sent_at)
    message(
        ignored,
        at=T0 + timedelta(hours=4),
        direction=Direction.OUTBOUND,
        delivery_status="held",
    )
    # Outside the period, and another workspace's praise.
    praise_event(thanks, maria, at=END)
    globex = add_employee(workspace=other_workspace, name="Globex Star")
    theirs = case(identity(other_workspace, "@o"), at=T0, praise=True)
    praise_event(theirs, globex, at=T0)
    return {"grace": grace, "maria": maria, "ken": ken, "solo": solo}


def test_counts_match_raw_rows(workspace: Workspace, staff_praise: dict) -> None:
    report = praise(workspace, START, END)
    _, kudos, answered = recompute(workspace)
    assert {c.name: (c.kudos, c.answered) for c in report.by_employee} == {
        name: (n, answered["employee"][name]) for name, n in kudos["employee"].items()
    }
    assert {c.name: (c.kudos, c.answered) for c in report.by_team} == {
        name: (n, answered["team"][name]) for name, n in kudos["team"].items()
    }
    assert report.by_employee == (
        KudosCount("Maria Lopez", 2, 1),
        KudosCount("Ken =HYPERLINK()", 1, 1),
        KudosCount("Solo Han", 1, 0),
    )
    assert report.by_team == (KudosCount("Grace Hopper", 3, 2), KudosCount("no manager", 1, 0))


def test_log_matches_raw_rows(workspace: Workspace, staff_praise: dict) -> None:
    log, _, _ = recompute(workspace)
    page = kudos_page(workspace, START, END, limit=10)
    assert [(k.at, k.employee, k.text, k.answered) for k in page] == log
    assert list(every_kudos(workspace, START, END)) == page
    assert kudos_page(workspace, START, END, limit=2, offset=1) == page[1:3]
    latest = page[0]
    ignored = CaseEvent.objects.get(params__employee="Maria Lopez", at=T0 + timedelta(hours=3))
    assert latest == Kudos(
        at=T0 + timedelta(hours=3),
        employee="Maria Lopez",
        manager="Grace Hopper",
        case_id=ignored.case.public_id,
        case_reference=ignored.case.reference,
        channel="mastodon",
        handle="@gus",
        text="Maria too",
        answered=False,
    )


def test_no_praise_no_rows(workspace: Workspace) -> None:
    report = praise(workspace, START, END)
    assert (report.by_employee, report.by_team) == ((), ())
    assert kudos_page(workspace, START, END, limit=10) == []
