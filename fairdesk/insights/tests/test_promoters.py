"""Social Promoter Score, conversions and the drill-down, recomputed from raw messages."""

from datetime import UTC, datetime, timedelta

import pytest

from fairdesk.cases.models import Case, CaseStatus, Direction, Message
from fairdesk.insights.queries import promoters
from fairdesk.insights.queries.promoters import (
    KINDS,
    PromoterScore,
    every_sps_message,
    social_promoter_score,
    sps_messages,
)
from fairdesk.insights.tests.rows import case, identity, message
from fairdesk.workspaces.models import Workspace

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)


def public_messages(workspace: Workspace) -> list[Message]:
    return [
        m
        for m in Message.objects.filter(workspace=workspace, direction=Direction.INBOUND)
        .select_related("identity", "case")
        .order_by("sent_at", "id")
        if m.visibility == "public"
        and not m.is_spam
        and m.identity is not None
        and START <= m.sent_at < END
    ]


def recompute(workspace: Workspace) -> tuple[PromoterScore, dict[str, list[int]]]:
    """The score and the message ids behind each count, the slow way."""
    seen = public_messages(workspace)
    stances: dict[int, set[str]] = {}
    for m in seen:
        assert m.identity is not None
        stances.setdefault(m.identity.contact_id, set()).add(m.stance)
    promoters = {c for c, s in stances.items() if "promotes" in s and "detracts" not in s}
    detractors = {c for c, s in stances.items() if "detracts" in s}
    converted = set()
    waits: dict[int, float] = {}  # contact -> shortest hours from resolution to promotion
    for m in seen:
        done = (m.case.resolved_at or m.case.closed_at) if m.case else None
        if m.stance != "detracts" or done is None or done < m.sent_at:
            continue
        later = Message.objects.filter(
            workspace=workspace,
            direction=Direction.INBOUND,
            visibility="public",
            is_spam=False,
            stance="promotes",
            identity__contact=m.identity.contact_id if m.identity else None,
        )
        after = [p.sent_at for p in later if done < p.sent_at < END]
        if after:
            assert m.identity is not None
            converted.add(m.identity.contact_id)
            hours = (min(after) - done).total_seconds() / 3600
            waits[m.identity.contact_id] = min(hours, waits.get(m.identity.contact_id, hours))
    authors = len(stances)
    sps = round(100 * (len(promoters) - len(detractors)) / authors, 1) if authors else None
    ordered = sorted(waits.values())
    middle = len(ordered) // 2
    median = (
        (ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2)
        if ordered
        else None
    )
    score = PromoterScore(
        authors,
        len(promoters),
        len(detractors),
        len(converted),
        sps,
        round(median, 1) if median is not None else None,
    )

    def contact(m: Message) -> int:
        assert m.identity is not None
        return m.identity.contact_id

    behind = {
        "authors": [m.pk for m in seen],
        "promoters": [m.pk for m in seen if m.stance == "promotes" and contact(m) in promoters],
        "detractors": [m.pk for m in seen if m.stance == "detracts"],
        "converted": [
            m.pk for m in seen if m.stance in ("promotes", "detracts") and contact(m) in converted
        ],
    }
    return score, behind


@pytest.fixture
def voices(workspace: Workspace, other_workspace: Workspace) -> None:
    def say(handle: str, *stances: str, ws: Workspace = workspace, **kw: object) -> None:
        who = identity(ws, handle)
        for stance in stances:
            message(None, workspace=ws, at=T0, identity=who, stance=stance, **kw)  # type: ignore[arg-type]

    say("@fan", "promotes", "promotes")
    say("@fan2", "promotes", "neutral")
    say("@torn", "promotes", "detracts")  # any detraction makes a detractor
    say("@meh", "neutral")
    say("@dm", "promotes", visibility="private")  # not public: not an author
    say("@bot", "detracts", is_spam=True)
    late = identity(workspace, "@late")
    message(None, workspace=workspace, at=END, identity=late, stance="detracts")
    # The same person on two channels counts once.
    on_x = identity(workspace, "@fan3")
    on_mastodon = identity(workspace, "@fan3@social", channel="mastodon", contact=on_x.contact)
    message(None, workspace=workspace, at=T0, identity=on_x, stance="promotes")
    message(None, workspace=workspace, at=T0, identity=on_mastodon, stance="promotes")
    # Converted: warned others, the case was resolved, then recommended us.
    dana = identity(workspace, "@dana")
    warned = case(dana, at=T0, stance="detracts", text="Avoid them", resolved_after=60)
    message(warned, at=T0 + timedelta(hours=2), identity=dana, stance="promotes")
    # Not converted: promoted before the resolution, or the case was never resolved.
    eve = identity(workspace, "@eve")
    early = case(eve, at=T0, stance="detracts", resolved_after=180)
    message(early, at=T0 + timedelta(hours=1), identity=eve, stance="promotes")
    gus = identity(workspace, "@gus")
    open_case = case(gus, at=T0, stance="detracts")
    message(open_case, at=T0 + timedelta(hours=1), identity=gus, stance="promotes")
    # Converted through a closed case with no resolution time.
    hal = identity(workspace, "@hal")
    closed = case(hal, at=T0, stance="detracts", status=CaseStatus.CLOSED)
    Case.objects.filter(pk=closed.pk).update(closed_at=T0 + timedelta(minutes=10))
    message(None, workspace=workspace, at=T0 + timedelta(hours=3), identity=hal, stance="promotes")
    for n in range(4):
        say(f"@hater{n}", "detracts", ws=other_workspace)


def test_score_matches_raw_rows(workspace: Workspace, voices: None) -> None:
    score = social_promoter_score(workspace, START, END)
    expected, _ = recompute(workspace)
    assert score == expected
    # fan, fan2, fan3 promote; torn, dana, eve, gus, hal detracted; meh is neutral.
    # Dana promoted 1 h after her resolution, Hal 2 h 50 min after his: median 1.9 h.
    assert score == PromoterScore(
        authors=9, promoters=3, detractors=5, converted=2, sps=-22.2, conversion_hours=1.9
    )


@pytest.mark.parametrize("kind", KINDS)
def test_drill_down_lists_the_messages_behind_each_count(
    workspace: Workspace, voices: None, kind: str
) -> None:
    _, behind = recompute(workspace)
    count, page = sps_messages(workspace, START, END, kind=kind, limit=100)
    assert count == len(behind[kind])
    assert [m.message_id for m in page] == behind[kind]
    assert [m.message_id for m in every_sps_message(workspace, START, END, kind=kind)] == (
        behind[kind]
    )
    count, second = sps_messages(workspace, START, END, kind=kind, limit=2, offset=1)
    assert [m.message_id for m in second] == behind[kind][1:3]


def test_drill_down_links_the_case(workspace: Workspace, voices: None) -> None:
    _, page = sps_messages(workspace, START, END, kind="converted", limit=10)
    dana = next(m for m in page if m.handle == "@dana" and m.stance == "detracts")
    warned = Case.objects.get(contact__display_name="dana")
    assert (dana.case_id, dana.case_reference, dana.text) == (
        warned.public_id,
        warned.reference,
        "Avoid them",
    )
    hal = next(m for m in page if m.handle == "@hal" and m.stance == "promotes")
    assert (hal.case_id, hal.case_reference) == (None, "")


def test_unknown_kind_is_refused(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        sps_messages(workspace, START, END, kind="everyone", limit=1)


def test_without_authors_the_score_is_none(workspace: Workspace) -> None:
    assert social_promoter_score(workspace, START, END) == PromoterScore(0, 0, 0, 0, None)
    assert sps_messages(workspace, START, END, kind="authors", limit=10) == (0, [])


@pytest.mark.parametrize("kind", KINDS)
def test_drill_down_counts_exactly_up_to_the_cap_then_says_more(
    workspace: Workspace, voices: None, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, behind = recompute(workspace)
    exact = len(behind[kind])
    monkeypatch.setattr(promoters, "COUNT_CAP", 2)
    count, page = sps_messages(workspace, START, END, kind=kind, limit=1)
    assert count == min(exact, 3)  # cap + 1 stands for "more than the cap"
    assert [m.message_id for m in page] == behind[kind][:1]
    # Past the cap, the count still reaches beyond the page asked for: paging goes on.
    count, page = sps_messages(workspace, START, END, kind=kind, limit=1, offset=2)
    assert count == min(exact, 4)
    assert [m.message_id for m in page] == behind[kind][2:3]


def test_time_to_conversion_is_the_shortest_wait_to_a_later_promotion(
    workspace: Workspace, other_workspace: Workspace
) -> None:
    ivy = identity(workspace, "@ivy")
    # Two cases she warned others on: resolved after one hour and after five.
    case(ivy, at=T0, stance="detracts", resolved_after=60)
    case(ivy, at=T0 + timedelta(minutes=30), stance="detracts", resolved_after=270)
    # A promotion at the very instant of the first resolution is not after it; the next
    # one is two hours after it, and half an hour after the second: the shortest wait.
    for hours in (1, 3, 5.5):
        message(None, workspace=workspace, at=T0 + timedelta(hours=hours), identity=ivy,
                stance="promotes")  # fmt: skip
    # Another person, in another workspace, promoting sooner: not hers, not counted.
    ann = identity(other_workspace, "@ann")
    case(ann, at=T0, stance="detracts", resolved_after=60)
    message(None, workspace=other_workspace, at=T0 + timedelta(hours=1, minutes=6),
            identity=ann, stance="promotes")  # fmt: skip
    score = social_promoter_score(workspace, START, END)
    assert (score.converted, score.conversion_hours) == (1, 0.5)
    assert score == recompute(workspace)[0]
    assert social_promoter_score(other_workspace, START, END).conversion_hours == 0.1
