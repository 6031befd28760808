import json
from pathlib import Path

import pytest
from django.core.management import call_command

from conftest import record
from fairdesk.inbound.importers import import_file
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace

TWCS_HEADER = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_reply_to_tweet_id\n"


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_bad_lines_reported_with_numbers_rest_imported(
    workspace: Workspace, tmp_path: Path
) -> None:
    good = json.dumps(record("1", "<script>alert(1)</script> my order\r\nBcc: x@y"))
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            good,
            "{not json",
            json.dumps({**record("2", "hi"), "channel": "myspace"}),
            json.dumps({**record("3", "hi"), "created_at": "2026-11-02T09:00:00"}),
            "[1, 2]",
            good,
            json.dumps(record("4", '=HYPERLINK("http://evil")')),
        ],
    )
    report = import_file(workspace=workspace, path=path, fmt="jsonl")
    assert report.summary() == {"read": 7, "imported": 2, "duplicates": 1, "rejected": 4}
    assert [line for line, _ in report.errors] == [2, 3, 4, 5]
    assert "channel" in report.errors[1][1]
    assert "time zone" in report.errors[2][1]
    stored = InboundEvent.objects.get(external_id="1")
    assert stored.payload["text"] == "<script>alert(1)</script> my order\r\nBcc: x@y"


def test_reimport_is_a_no_op(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [json.dumps(record(str(i), "hi")) for i in range(5)])
    import_file(workspace=workspace, path=path, fmt="jsonl")
    report = import_file(workspace=workspace, path=path, fmt="jsonl")
    assert report.summary() == {"read": 5, "imported": 0, "duplicates": 5, "rejected": 0}
    assert InboundEvent.objects.count() == 5


def test_twcs_rows_become_x_events(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "twcs.csv"
    path.write_text(
        TWCS_HEADER
        + "119237,105834,True,Wed Oct 11 06:55:44 +0000 2017,"
        + '"@AppleSupport my phone\nkeeps crashing",119236,\n'
        + "119236,AppleSupport,False,Wed Oct 11 13:25:49 +0000 2017,"
        + "@105834 Sorry! DM us,,119237.0\n"
        + "bad,105834,Maybe,Wed Oct 11 06:55:44 +0000 2017,x,,\n"
        + "119240,105834,True,not a date,x,,\n",
        encoding="utf-8",
    )
    report = import_file(workspace=workspace, path=path, fmt="twcs")
    assert report.summary() == {"read": 4, "imported": 2, "duplicates": 0, "rejected": 2}
    assert [line for line, _ in report.errors] == [5, 6]  # the first row spans lines 2-3
    reply = InboundEvent.objects.get(external_id="119236")
    assert reply.payload["direction"] == "outbound"
    assert reply.payload["in_reply_to"] == "119237"
    assert InboundEvent.objects.get(external_id="119237").payload["text"].endswith("crashing")


def test_import_command_json_summary(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [json.dumps(record("1", "hi")), "oops"])
    call_command("import", str(path), "--format", "jsonl", "--json")
    out, err = capsys.readouterr()
    assert json.loads(out) == {"read": 2, "imported": 1, "duplicates": 0, "rejected": 1}
    assert "line 2: not valid JSON" in err


def test_oversized_and_hostile_lines_are_rejected_with_a_reason(
    workspace: Workspace, tmp_path: Path
) -> None:
    huge_text = json.dumps(record("big", "x" * 25_000))
    huge_line = json.dumps({**record("line", "hi"), "padding": "y" * 1_100_000})
    bad_followers = json.dumps(
        {**record("f", "hi"), "author": {"external_id": "a", "followers": -5}}
    )
    nul = json.dumps(record("nul", "before\x00after"))
    path = write_jsonl(tmp_path / "in.jsonl", [huge_text, huge_line, bad_followers, nul])
    report = import_file(workspace=workspace, path=path, fmt="jsonl")
    assert report.summary() == {"read": 4, "imported": 1, "duplicates": 0, "rejected": 3}
    reasons = dict(report.errors)
    assert "at most 20000 characters" in reasons[1]
    assert "longer than" in reasons[2]
    assert "followers" in reasons[3]
    assert InboundEvent.objects.get().payload["text"] == "beforeafter"
