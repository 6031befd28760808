from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fairdesk.triage.pileon import (
    PILEON_MIN_AUTHORS,
    PILEON_WINDOW,
    PileOn,
    Report,
    detect,
    grouped_by_topic,
    problems_of,
    raised,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def report(
    key: str,
    author: object,
    minutes: float = 0,
    *,
    duplicate_of: str = "",
    signals: tuple[str, ...] = (),
    topic: str = "other",
    intent: str = "complaint",
) -> Report:
    return Report(
        key=key,
        author=author,
        at=T0 + timedelta(minutes=minutes),
        topic=topic,
        signals=signals,
        intent=intent,
        duplicate_of=duplicate_of,
    )


def copies(n: int, *, authors: int, step: float = 1.0) -> list[Report]:
    """n near-duplicates of x:r0, written by ``authors`` people in turn."""
    return [
        report(f"x:r{i}", f"c{i % authors}", i * step, duplicate_of="" if i == 0 else "x:r0")
        for i in range(n)
    ]


def test_thresholds_are_five_people_in_thirty_minutes() -> None:
    assert PILEON_MIN_AUTHORS == 5
    assert PILEON_WINDOW.total_seconds() == 30 * 60


def test_five_different_people_with_one_text_are_a_pileon() -> None:
    assert detect(copies(5, authors=5)) == [
        PileOn(
            problem="text:x:r0",
            keys=frozenset({"x:r0", "x:r1", "x:r2", "x:r3", "x:r4"}),
            authors=5,
            started_at=T0,
            last_at=T0 + timedelta(minutes=4),
        )
    ]


def test_one_customer_repeating_fifty_times_is_not_a_pileon() -> None:
    assert detect(copies(50, authors=1, step=0.1)) == []


def test_four_people_repeating_is_not_a_pileon() -> None:
    assert detect(copies(40, authors=4, step=0.5)) == []


def test_the_same_person_on_two_channels_counts_once() -> None:
    # The caller passes the contact as author: four people, one of them on two channels.
    reports = [*copies(4, authors=4), report("email:r9", "c0", 5, duplicate_of="x:r0")]
    assert detect(reports) == []


def test_people_spread_over_more_than_the_window_are_not_a_pileon() -> None:
    assert detect(copies(5, authors=5, step=8)) == []  # 32 minutes first to last


def test_window_edge_is_inclusive() -> None:
    found = detect(copies(5, authors=5, step=7.5))  # exactly 30 minutes
    assert [(p.authors, len(p.keys)) for p in found] == [(5, 5)]


def test_only_reports_inside_a_qualifying_window_join() -> None:
    early = report("x:old", "c9", -120, duplicate_of="x:r0")
    found = detect([early, *copies(5, authors=5)])
    assert [sorted(p.keys) for p in found] == [["x:r0", "x:r1", "x:r2", "x:r3", "x:r4"]]


def test_same_signal_and_topic_groups_different_texts() -> None:
    reports = [
        report(f"x:s{i}", f"c{i}", i, signals=("service_down",), topic="account", intent="question")
        for i in range(5)
    ]
    found = detect(reports)
    assert [(p.problem, p.authors) for p in found] == [("signal:account:service_down", 5)]


def test_different_signals_are_different_problems() -> None:
    reports = [
        report("x:a", "c0", 0, signals=("outage",)),
        report("x:b", "c1", 1, signals=("outage",)),
        report("x:c", "c2", 2, signals=("money_lost",)),
        report("x:d", "c3", 3, signals=("money_lost",)),
        report("x:e", "c4", 4, signals=("outage", "money_lost")),
    ]
    assert detect(reports) == []


def test_praise_and_feedback_never_pile_on() -> None:
    praise = [
        report(f"x:p{i}", f"c{i}", i, duplicate_of="" if i == 0 else "x:p0", intent="praise")
        for i in range(10)
    ]
    assert problems_of(praise[0]) == ()
    assert detect(praise) == []


def test_a_report_key_counts_once() -> None:
    reports = copies(4, authors=4)
    assert detect(reports + reports) == []


def test_author_value_never_weighs_more() -> None:
    # Authors are opaque: any hashable works, and none of them counts twice.
    reports = [report(f"x:r{i}", ("x", 10**9), i, duplicate_of="x:r0") for i in range(6)]
    assert detect(reports) == []


def test_summary_names_the_problem_without_customer_text() -> None:
    (found,) = detect(copies(6, authors=6))
    assert found.summary() == {
        "problem": "text:x:r0",
        "authors": 6,
        "reports": 6,
        "started_at": "2026-11-02T09:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("low", "normal"), ("normal", "high"), ("high", "critical"), ("critical", "critical")],
)
def test_raised_is_one_level_and_never_above_a_security_report(
    severity: str, expected: str
) -> None:
    assert raised(severity) == expected


def test_raised_rejects_unknown_severity() -> None:
    with pytest.raises(ValueError):
        raised("urgent!!!")


def test_complaints_on_one_topic_group_different_texts() -> None:
    reports = [report(f"x:t{i}", f"c{i}", i, topic="repair") for i in range(5)]
    assert [(p.problem, p.authors) for p in detect(reports)] == [("topic:repair", 5)]
    assert grouped_by_topic(reports[0])


def test_questions_on_one_topic_and_other_topic_complaints_do_not_group() -> None:
    questions = [
        report(f"x:q{i}", f"c{i}", i, topic="delivery", intent="question") for i in range(5)
    ]
    others = [report(f"x:o{i}", f"c{i}", i) for i in range(5)]
    assert detect(questions + others) == []
    assert not grouped_by_topic(questions[0])
    assert not grouped_by_topic(others[0])
