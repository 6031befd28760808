"""Fairness is a correctness property (DESIGN §5).

The same customer problems are ingested twice through the real pipeline: once plainly,
once with every forbidden input changed at random — channel, follower count, public vs
private, loudness (caps, exclamation marks, angry filler, "I have 200k followers") and
repetition. Severity, deadlines, team and queue order must come out identical.
"""

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import record
from fairdesk.cases.models import Case
from fairdesk.routing.queries import queue
from fairdesk.workspaces.models import Workspace
from fairdesk.workspaces.services import create_workspace

PROBLEMS = [
    "Your admin debug panel is exposed to the internet, that's a security vulnerability",
    "I was charged twice for the same order, please refund me",
    "The dryer started to smoke and caught fire this morning",
    "Your app has been down for everyone since 8am, an outage?",
    "How do I change the delivery address on my order?",
    "The heating element of my dryer failed, can someone repair it?",
    "Can you call me back about the API integration with our CRM?",
    "Thank you, the new app update is lovely",
    "My internet is not working since yesterday",
    "I will take this to my lawyer if the refund does not come",
]
CHANNELS = ["x", "facebook", "instagram", "mastodon", "bluesky", "email", "webform", "phone"]
FILLERS = [
    "",
    " This is ridiculous!!!",
    " WORST SERVICE EVER",
    " I have 200k followers and everyone will hear about this",
    " @everyone look at this",
    " 😡😡😡",
]

customers = st.lists(
    st.tuples(
        st.sampled_from(range(len(PROBLEMS))),
        st.sampled_from(["standard", "premium"]),
    ),
    min_size=1,
    max_size=5,
)
variations = st.lists(
    st.tuples(
        st.sampled_from(CHANNELS),
        st.one_of(st.none(), st.integers(min_value=0, max_value=5_000_000)),
        st.sampled_from(["public", "private"]),
        st.booleans(),  # shout in capitals
        st.integers(min_value=0, max_value=5),  # exclamation marks
        st.sampled_from(FILLERS),
        st.integers(min_value=0, max_value=3),  # times repeated
    ),
    min_size=5,
    max_size=5,
)
_counter = itertools.count()


def louder(text: str, shout: bool, bangs: int, filler: str) -> str:
    text = text + "!" * bangs + filler
    return text.upper() if shout else text


def scenario(
    problems: list[tuple[int, str]], varied: list[tuple[Any, ...]] | None
) -> list[dict[str, Any]]:
    records = []
    for i, (problem, entitlement) in enumerate(problems):
        text = PROBLEMS[problem]
        channel, followers, visibility, repeats = "x", 0, "public", 0
        if varied is not None:
            channel, followers, visibility, shout, bangs, filler, repeats = varied[i]
            text = louder(text, shout, bangs, filler)
        author = f"c{i}@example.com" if channel == "email" else f"c{i}"
        for r in range(repeats + 1):
            records.append(
                record(
                    f"{channel}-{i}-{r}",
                    text,
                    channel=channel,
                    author=author,
                    handle=f"@c{i}",
                    followers=followers,
                    visibility=visibility,
                    minutes=i * 7 + r * 3,
                    entitlement=entitlement,
                )
            )
    return records


def outcome(workspace: Workspace) -> tuple[list[tuple[Any, ...]], list[str]]:
    cases = Case.objects.filter(workspace=workspace).select_related("team").order_by("id")
    per_case = sorted(
        (
            c.contact.display_name,
            c.severity,
            c.team.slug if c.team else None,
            c.first_response_due_at,
            c.resolution_due_at,
            c.escalation_at,
        )
        for c in cases
    )
    order = [c.contact.display_name for c in queue(workspace, limit=100)]
    return per_case, order


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(problems=customers, varied=variations)
def test_forbidden_inputs_never_change_severity_deadlines_team_or_order(
    db: None, ingest: Callable[..., int], problems: list[tuple[int, str]], varied: list
) -> None:
    n = next(_counter)
    plain = create_workspace(name="Plain", slug=f"plain-{n}")
    loud = create_workspace(name="Loud", slug=f"loud-{n}")
    ingest(plain, scenario(problems, None))
    ingest(loud, scenario(problems, varied))
    assert outcome(loud) == outcome(plain)
    assert Case.objects.filter(workspace=loud).count() == len(problems)


# --- repetition by one author vs many authors (pile-ons) ------------------------------
# A pile-on is many different customers with one problem (fairdesk/triage/pileon.py):
# it raises every case one level, whatever the channels, follower counts or visibility.
# One customer repeating the same problem any number of times raises nothing.

REPEATED = PROBLEMS[5]  # a repair complaint: normal severity, so a raise would show


def many_authors(authors: int, varied: list[tuple[Any, ...]] | None) -> list[dict[str, Any]]:
    records = []
    for i in range(authors):
        channel, followers, visibility, shout, bangs, filler = "x", 0, "public", False, 0, ""
        if varied is not None:
            channel, followers, visibility, shout, bangs, filler, _ = varied[i]
        records.append(
            record(
                f"{channel}-many-{i}",
                louder(REPEATED, shout, bangs, filler),
                channel=channel,
                author=f"c{i}@example.com" if channel == "email" else f"c{i}",
                handle=f"@c{i}",
                followers=followers,
                visibility=visibility,
                minutes=i,
            )
        )
    return records


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(varied=variations)
def test_many_authors_pile_on_whatever_their_channels_and_audiences(
    db: None, ingest: Callable[..., int], varied: list
) -> None:
    n = next(_counter)
    plain = create_workspace(name="Plain", slug=f"plain-many-{n}")
    loud = create_workspace(name="Loud", slug=f"loud-many-{n}")
    ingest(plain, many_authors(5, None))
    ingest(loud, many_authors(5, varied))
    assert outcome(loud) == outcome(plain)
    assert set(Case.objects.filter(workspace=loud).values_list("severity", flat=True)) == {"high"}


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    repeats=st.integers(min_value=1, max_value=49),
    loudness=st.tuples(st.booleans(), st.integers(0, 5), st.sampled_from(FILLERS)),
    followers=st.integers(min_value=0, max_value=5_000_000),
)
def test_one_author_repeating_raises_nothing(
    db: None,
    ingest: Callable[..., int],
    repeats: int,
    loudness: tuple[bool, int, str],
    followers: int,
) -> None:
    n = next(_counter)
    once = create_workspace(name="Once", slug=f"once-{n}")
    again = create_workspace(name="Again", slug=f"again-{n}")
    ingest(once, [record("once-0", REPEATED, author="c0", handle="@c0")])
    ingest(
        again,
        [
            record(
                f"again-{r}",
                louder(REPEATED, *loudness) if r % 2 else REPEATED,
                author="c0",
                handle="@c0",
                followers=followers,
                minutes=r % 30,
            )
            for r in range(repeats + 1)
        ],
    )
    assert outcome(again) == outcome(once)
    assert Case.objects.get(workspace=again).severity == "normal"
