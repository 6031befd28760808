"""The condition schema: what it accepts, what each condition selects, and that no view
can reorder the queue or look at followers (DESIGN §5)."""

from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fairdesk.cases.models import Case, CaseStatus
from fairdesk.cases.queries import QueueCursor, queue_page
from fairdesk.contacts.models import ContactIdentity
from fairdesk.routing.conditions import BUILT_IN, BUILT_IN_VIEWS, Conditions
from fairdesk.routing.tests.builders import colleague, queued
from fairdesk.workspaces.models import Agent, Workspace


def keys(cases: list[Case]) -> list[str]:
    return [c.contact.display_name for c in cases]


def shown(workspace: Workspace, agent: Agent, conditions: Conditions | dict[str, Any]) -> list[str]:
    view = (
        conditions if isinstance(conditions, Conditions) else Conditions.model_validate(conditions)
    )
    return keys(queue_page(workspace=workspace, view=view, agent=agent, limit=100).cases)


# --- the schema -------------------------------------------------------------------------


def test_the_schema_has_exactly_these_conditions() -> None:
    """Adding a field is a deliberate act: it must be a property of the problem or the
    work, never of the customer's reach. Update this list only with that in mind."""
    assert sorted(Conditions.model_fields) == [
        "assignee",
        "breaching_within_minutes",
        "channel",
        "severity",
        "status",
        "team",
        "topic",
        "waiting_on_customer",
        "waiting_on_internal",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        {"followers": 1000},
        {"followers_gt": 1000},
        {"follower_count": {"gte": 1}},
        {"order_by": "-followers"},
        {"sort": "followers"},
        {"verified": True},
        {"workspace": 2},
    ],
)
def test_unknown_fields_are_rejected(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        Conditions.model_validate({"severity": ["high"], **extra})
    assert [e["type"] for e in raised.value.errors()] == ["extra_forbidden"]
    assert [e["loc"] for e in raised.value.errors()] == [(next(iter(extra)),)]


@pytest.mark.parametrize(
    "raw",
    [
        {"status": ["sleeping"]},
        {"status": []},
        {"severity": ["urgent"]},
        {"assignee": "boss"},
        {"team": "billing"},
        {"team": ["<script>"]},
        {"channel": ["x' OR 1=1 --"]},
        {"topic": ["a" * 41]},
        {"breaching_within_minutes": -1},
        {"breaching_within_minutes": 7 * 24 * 60 + 1},
        {"status": ["open"], "waiting_on_customer": True},
        {"waiting_on_customer": True, "waiting_on_internal": True},
    ],
)
def test_bad_values_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Conditions.model_validate(raw)


def test_conditions_are_frozen_and_round_trip_as_json() -> None:
    conditions = Conditions.model_validate(
        {"severity": ["critical", "high"], "team": "mine", "breaching_within_minutes": 30}
    )
    dumped = conditions.model_dump(mode="json", exclude_defaults=True)
    assert dumped == {
        "severity": ["critical", "high"],
        "team": "mine",
        "breaching_within_minutes": 30,
    }
    assert Conditions.model_validate(dumped) == conditions
    with pytest.raises(ValidationError):
        conditions.assignee = "me"


def test_built_in_views() -> None:
    assert [(v.key, v.name) for v in BUILT_IN_VIEWS] == [
        ("all", "Queue"),
        ("mine", "Mine"),
        ("team", "My team"),
        ("unassigned", "Unassigned"),
        ("breaching-soon", "Breaching soon"),
        ("waiting-on-customer", "Waiting on customer"),
        ("waiting-on-internal", "Waiting on internal work"),
    ]
    assert BUILT_IN["breaching-soon"].conditions == Conditions(breaching_within_minutes=60)


# --- what each condition selects -------------------------------------------------------


@pytest.fixture
def scene(workspace: Workspace, other_workspace: Workspace, agent: Agent) -> dict[str, Any]:
    """Cases covering every condition, plus a case of the other workspace due first."""
    teams = {t.slug: t for t in workspace.teams.all()}
    agent.team = teams["billing"]
    agent.save()
    mate = colleague(workspace, "mate")
    queued(other_workspace, "foreign", due_in=-500)
    return {
        "overdue": queued(workspace, "overdue", due_in=-10, severity="critical"),
        "soon": queued(workspace, "soon", due_in=30, assignee=agent, team=teams["billing"]),
        "later": queued(workspace, "later", due_in=300, assignee=mate, topic="repair"),
        "email": queued(workspace, "email", due_in=400, origin_channel="email", topic="billing"),
        "internal": queued(workspace, "internal", due_in=20, status=CaseStatus.PENDING_INTERNAL),
        "customer": queued(workspace, "customer", due_in=5, status=CaseStatus.PENDING_CUSTOMER),
        "resolved": queued(workspace, "resolved", due_in=None, status=CaseStatus.RESOLVED),
        "nodeadline": queued(workspace, "nodeadline", due_in=None),
    }


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({}, ["Overdue", "Internal", "Soon", "Later", "Email", "Nodeadline"]),
        (
            {"status": ["resolved", "new"]},
            ["Overdue", "Soon", "Later", "Email", "Resolved", "Nodeadline"],
        ),
        ({"severity": ["critical"]}, ["Overdue"]),
        ({"team": "mine"}, ["Soon"]),
        ({"team": ["front-line"]}, ["Overdue", "Internal", "Later", "Email", "Nodeadline"]),
        ({"assignee": "me"}, ["Soon"]),
        ({"assignee": "someone"}, ["Soon", "Later"]),
        ({"assignee": "nobody"}, ["Overdue", "Internal", "Email", "Nodeadline"]),
        ({"channel": ["email"]}, ["Email"]),
        ({"topic": ["repair", "billing"]}, ["Later", "Email"]),
        ({"breaching_within_minutes": 30}, ["Overdue", "Internal", "Soon"]),
        ({"breaching_within_minutes": 0}, ["Overdue"]),
        ({"waiting_on_customer": True}, ["Customer"]),
        ({"waiting_on_internal": True}, ["Internal"]),
        ({"assignee": "nobody", "breaching_within_minutes": 60}, ["Overdue", "Internal"]),
    ],
)
def test_each_condition_selects_in_deadline_order(
    workspace: Workspace,
    agent: Agent,
    scene: dict[str, Any],
    conditions: dict[str, Any],
    expected: list[str],
) -> None:
    assert shown(workspace, agent, conditions) == expected


def test_my_team_without_a_team_is_empty(workspace: Workspace, agent: Agent) -> None:
    queued(workspace, "a", due_in=5)
    assert shown(workspace, agent, BUILT_IN["team"].conditions) == []


def test_views_are_evaluated_for_an_agent_of_the_workspace(
    workspace: Workspace, outsider: Agent
) -> None:
    with pytest.raises(ValueError, match="agent of the workspace"):
        queue_page(workspace=workspace, view=Conditions(), agent=outsider)
    with pytest.raises(ValueError, match="agent of the workspace"):
        queue_page(workspace=workspace, view=Conditions())


def test_views_keep_keyset_paging(workspace: Workspace, agent: Agent) -> None:
    now = timezone.now()
    made = [queued(workspace, f"c{n}", due_in=n, now=now, assignee=agent) for n in range(5)]
    queued(workspace, "theirs", due_in=2, now=now)
    view = BUILT_IN["mine"].conditions
    seen: list[int] = []
    cursor: QueueCursor | None = None
    for _ in range(5):
        page = queue_page(workspace=workspace, view=view, agent=agent, after=cursor, limit=2)
        seen += [c.pk for c in page.cases]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [c.pk for c in made]


# --- fairness: followers never filter or order ------------------------------------------

VIEW_INPUTS = st.fixed_dictionaries(
    {},
    optional={
        "severity": st.lists(
            st.sampled_from(["critical", "high", "normal", "low"]), min_size=1, max_size=2
        ),
        "assignee": st.sampled_from(["me", "nobody", "someone"]),
        "breaching_within_minutes": st.integers(min_value=0, max_value=600),
        "waiting_on_internal": st.booleans(),
        "channel": st.lists(st.sampled_from(["x", "email"]), min_size=1, max_size=2),
    },
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=VIEW_INPUTS,
    followers=st.lists(
        st.one_of(st.none(), st.integers(min_value=0, max_value=50_000_000)), min_size=6, max_size=6
    ),
)
def test_followers_never_change_what_a_view_shows_or_its_order(
    workspace: Workspace, agent: Agent, raw: dict[str, Any], followers: list[int | None]
) -> None:
    Case.objects.all().delete()
    now = timezone.now()
    specs: list[tuple[str, int | None, dict[str, Any]]] = [
        ("a", 200, {"severity": "critical", "assignee": agent}),
        ("b", -30, {"origin_channel": "email"}),
        ("c", 200, {"status": CaseStatus.PENDING_INTERNAL}),
        ("d", 45, {"severity": "high"}),
        ("e", None, {}),
        ("f", 45, {"assignee": agent, "origin_channel": "email"}),
    ]
    for (key, due, fields), count in zip(specs, followers, strict=True):
        queued(workspace, f"{key}{next_suffix()}", due_in=due, now=now, followers=count, **fields)
    conditions = Conditions.model_validate(raw)
    before = queue_page(workspace=workspace, view=conditions, agent=agent, limit=100).cases
    assert [(c.escalation_at is None, c.escalation_at, c.pk) for c in before] == sorted(
        (c.escalation_at is None, c.escalation_at, c.pk) for c in before
    )
    ContactIdentity.objects.filter(workspace=workspace).update(follower_count=99_000_000)
    after = queue_page(workspace=workspace, view=conditions, agent=agent, limit=100).cases
    assert [c.pk for c in after] == [c.pk for c in before]


_suffix = iter(range(1_000_000))


def next_suffix() -> str:
    return f"-{next(_suffix)}"


def test_every_built_in_view_orders_by_deadline_not_reach(
    workspace: Workspace, agent: Agent
) -> None:
    now = timezone.now()
    loud = queued(workspace, "loud", due_in=50, now=now, followers=5_000_000, assignee=agent)
    quiet = queued(workspace, "quiet", due_in=10, now=now, followers=0, assignee=agent)
    orders = {
        view.key: [
            c.pk for c in queue_page(workspace=workspace, view=view.conditions, agent=agent).cases
        ]
        for view in BUILT_IN_VIEWS
    }
    assert orders == {
        "all": [quiet.pk, loud.pk],
        "mine": [quiet.pk, loud.pk],
        "team": [],
        "unassigned": [],
        "breaching-soon": [quiet.pk, loud.pk],
        "waiting-on-customer": [],
        "waiting-on-internal": [],
    }
