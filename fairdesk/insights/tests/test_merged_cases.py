"""A merged case is one customer problem: the figures count it once, in the case it joined
(the source stays only so the merge can be undone)."""

from datetime import UTC, datetime, timedelta

from fairdesk.cases.merge import merge_cases, undo
from fairdesk.cases.models import Case
from fairdesk.insights.queries.parity import dimension_parity
from fairdesk.insights.queries.root_causes import root_causes
from fairdesk.insights.queries.service_levels import service_levels
from fairdesk.insights.tests.rows import case, identity
from fairdesk.workspaces.models import Agent, Workspace

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)
NOW = T0 + timedelta(days=2)


def counted(workspace: Workspace) -> tuple[int, int]:
    levels = service_levels(workspace, START, END, now=NOW)
    channels = dimension_parity(workspace, START, END, "channel")
    return levels.total.cases, sum(g.cases for g in channels.first_response)


def test_a_merged_case_counts_once_and_again_after_undo(
    workspace: Workspace, other_workspace: Workspace, agent: Agent
) -> None:
    dana = identity(workspace, "@dana")
    first = case(dana, at=T0, answered_after=5)
    second = case(dana, at=T0 + timedelta(minutes=30), answered_after=5)
    case(identity(other_workspace, "@dana"), at=T0, answered_after=5)  # never counted here
    assert counted(workspace) == (2, 2)

    event = merge_cases(source=second, target=first, actor=agent)

    assert counted(workspace) == (1, 1)
    assert root_causes(workspace, START, END).cases == 1
    assert counted(other_workspace) == (1, 1)
    undo(event=event, actor=agent)
    assert Case.objects.get(pk=second.pk).status != "merged"
    assert counted(workspace) == (2, 2)
