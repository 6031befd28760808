"""CSV exports: formula injection neutralised, numbers kept as numbers, one workspace only."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.http import StreamingHttpResponse

from fairdesk.cases.models import Direction
from fairdesk.insights.exports import FIGURES, Scope, csv_response, neutralise
from fairdesk.insights.queries.crickets import every_cricket
from fairdesk.insights.tests.rows import case, identity, message, praise_event
from fairdesk.workspaces.models import Workspace
from fairdesk.workspaces.services import add_employee

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)
NOW = T0 + timedelta(days=5)
HOSTILE = '=HYPERLINK("http://evil.test","click")'


def read(response: StreamingHttpResponse) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain text", "plain text"),
        (" =1", " =1"),
        ("", ""),
        (-22.2, -22.2),
        (0, 0),
        (None, ""),
        (True, "yes"),
        (False, "no"),
        (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "2026-01-02T03:04:00+00:00"),
    ],
)
def test_neutralise(value: object, cell: object) -> None:
    assert neutralise(value) == cell


@pytest.fixture
def hostile_rows(workspace: Workspace, other_workspace: Workspace) -> None:
    evil = identity(workspace, "@evil", channel="x")
    dull = case(evil, at=T0, text=HOSTILE, sentiment="negative", stance="detracts")
    message(dull, at=T0 + timedelta(minutes=1), identity=evil, text="-2+3\r\nline two")
    boss = add_employee(workspace=workspace, name="+Boss")
    praise_event(dull, add_employee(workspace=workspace, name="=Ann", manager=boss), at=T0)
    theirs = case(identity(other_workspace, "@globex"), at=T0, text="globex secret")
    message(theirs, at=T0, direction=Direction.OUTBOUND, text="globex reply")


def test_the_cricket_list_is_neutralised_and_scoped(
    workspace: Workspace, hostile_rows: None
) -> None:
    response = csv_response("crickets-list", Scope(workspace, START, END, NOW))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="fairdesk-crickets-list-20261101-20261103.csv"'
    )
    header, *rows = read(response)
    assert header[:3] == ["message_id", "case", "case_path"]
    items = list(every_cricket(workspace, START, END, now=NOW))
    assert [int(r[0]) for r in rows] == [c.message_id for c in items]
    texts = [r[header.index("text")] for r in rows]
    assert texts == ["'" + HOSTILE, "'-2+3\r\nline two"]
    assert {r[header.index("handle")] for r in rows} == {"'@evil"}
    assert rows[0][header.index("case_path")] == f"/cases/{items[0].case_id}/"
    assert "globex" not in str(rows)


def test_numbers_stay_numbers(workspace: Workspace, hostile_rows: None) -> None:
    header, row = read(csv_response("sps", Scope(workspace, START, END, NOW)))
    assert dict(zip(header, row, strict=True)) == {
        "authors": "1",
        "promoters": "0",
        "detractors": "1",
        "converted": "0",
        "sps": "-100.0",
        "conversion_hours": "",
    }


def test_kudos_names_are_neutralised(workspace: Workspace, hostile_rows: None) -> None:
    header, *rows = read(csv_response("kudos", Scope(workspace, START, END, NOW)))
    (row,) = rows
    assert (row[header.index("employee")], row[header.index("manager")]) == ("'=Ann", "'+Boss")
    assert row[header.index("text")] == "'" + HOSTILE
    header, *rows = read(csv_response("praise", Scope(workspace, START, END, NOW)))
    assert rows == [["employee", "'=Ann", "1", "0"], ["team", "'+Boss", "1", "0"]]


@pytest.mark.parametrize("figure", FIGURES)
def test_every_figure_exports_with_a_header(
    workspace: Workspace, hostile_rows: None, figure: str
) -> None:
    header, *rows = read(csv_response(figure, Scope(workspace, START, END, NOW)))
    assert header and all(len(row) == len(header) for row in rows)
    assert "globex" not in str(rows)


def test_an_empty_period_exports_headers_and_empty_cells(workspace: Workspace) -> None:
    header, row = read(csv_response("sps", Scope(workspace, START, END, NOW)))
    assert header == ["authors", "promoters", "detractors", "converted", "sps", "conversion_hours"]
    assert row == ["0", "0", "0", "0", "", ""]
    _, *rows = read(csv_response("crickets-list", Scope(workspace, START, END, NOW)))
    assert rows == []
