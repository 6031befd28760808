import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Min, Q, QuerySet

from fairdesk.cases.models import OPEN_STATUSES, QUEUE_STATUSES, Case
from fairdesk.routing.conditions import BREACHING_SOON_MINUTES, BUILT_IN, Conditions
from fairdesk.routing.models import RoutingRule, RoutingRuleChange, SavedView, SlaPolicy
from fairdesk.routing.policy import DEFAULT_TARGETS, Targets
from fairdesk.workspaces.models import Agent, Workspace


def targets_table(workspace: Workspace) -> dict[tuple[str, str], Targets]:
    """Every (severity, entitlement) cell for a workspace, falling back to the defaults."""
    table = {
        key: Targets(timedelta(minutes=f), timedelta(minutes=n), timedelta(minutes=r))
        for key, (f, n, r) in DEFAULT_TARGETS.items()
    }
    for policy in SlaPolicy.objects.filter(workspace=workspace):
        table[(policy.severity, policy.entitlement)] = Targets(
            timedelta(minutes=policy.first_response_minutes),
            timedelta(minutes=policy.next_response_minutes),
            timedelta(minutes=policy.resolution_minutes),
        )
    return table


def queue(workspace: Workspace, *, limit: int = 50) -> QuerySet[Case]:
    """Open cases in queue order: earliest deadline first, then oldest case.

    Matches the partial index ``case_queue_idx`` (workspace, escalation_at, id).
    """
    return (
        Case.objects.filter(workspace=workspace, status__in=QUEUE_STATUSES)
        .select_related("contact", "team")
        .order_by(F("escalation_at").asc(nulls_last=True), "id")[:limit]
    )


# --- saved views -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewChoice:
    """A view an agent can open: a built-in one (key) or a saved one (its public id)."""

    key: str
    name: str
    conditions: Conditions
    saved: SavedView | None = None


def visible_views(agent: Agent) -> list[SavedView]:
    """The agent's own views and the workspace's shared ones, in one query."""
    return list(
        SavedView.objects.filter(workspace_id=agent.workspace_id)
        .filter(Q(owner=agent) | Q(shared=True))
        .select_related("owner")
        .order_by("name", "id")
    )


def view_choice(agent: Agent, key: str | None, saved: list[SavedView]) -> ViewChoice | None:
    """The view named by ``key`` among the built-in ones and ``saved`` (the agent's
    visible views); None for an unknown key. No key means the plain queue."""
    builtin = BUILT_IN.get(key or "all")
    if builtin is not None:
        return ViewChoice(builtin.key, builtin.name, builtin.conditions)
    for view in saved:
        if str(view.public_id) == key:
            conditions = Conditions.model_validate(view.conditions)
            return ViewChoice(key, view.name, conditions, saved=view)
    return None


def saved_view_for(agent: Agent, public_id: uuid.UUID) -> SavedView | None:
    return (
        SavedView.objects.filter(workspace_id=agent.workspace_id, public_id=public_id)
        .filter(Q(owner=agent) | Q(shared=True))
        .select_related("owner")
        .first()
    )


# --- load per agent --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent: Agent
    open_assigned: int
    overdue: int
    breaching_soon: int
    oldest_deadline: datetime | None


def agent_load(workspace: Workspace, *, now: datetime) -> list[AgentLoad]:
    """Open assigned cases per agent, how many are overdue or due within the
    breaching-soon window, and the earliest deadline: one grouped query."""
    open_case = Q(case__status__in=OPEN_STATUSES)
    soon = now + timedelta(minutes=BREACHING_SOON_MINUTES)
    agents = (
        Agent.objects.filter(workspace=workspace)
        .select_related("team")
        .annotate(
            open_assigned=Count("case", filter=open_case),
            overdue=Count("case", filter=open_case & Q(case__escalation_at__lt=now)),
            breaching_soon=Count(
                "case",
                filter=open_case & Q(case__escalation_at__gte=now, case__escalation_at__lte=soon),
            ),
            oldest_deadline=Min("case__escalation_at", filter=open_case),
        )
        .order_by("display_name", "id")
    )
    return [
        AgentLoad(
            agent=a,
            open_assigned=a.open_assigned,
            overdue=a.overdue,
            breaching_soon=a.breaching_soon,
            oldest_deadline=a.oldest_deadline,
        )
        for a in agents
    ]


POOL_COUNT_CAP = 1000


@dataclass(frozen=True, slots=True)
class PoolLoad:
    """Queued cases nobody holds. Counts stop at :data:`POOL_COUNT_CAP` (shown as
    "1000+"): a page never counts an unbounded number of rows."""

    unassigned: int
    overdue: int
    breaching_soon: int
    oldest_deadline: datetime | None


def pool_load(workspace: Workspace, *, now: datetime) -> PoolLoad:
    """Bounded counts and the earliest deadline of the unassigned queue: four index
    range scans on the queue index, each stopping early."""
    pool = Case.objects.filter(
        workspace=workspace, status__in=QUEUE_STATUSES, assignee__isnull=True
    ).order_by(F("escalation_at").asc(nulls_last=True), "id")
    soon = now + timedelta(minutes=BREACHING_SOON_MINUTES)
    return PoolLoad(
        unassigned=_capped(pool),
        overdue=_capped(pool.filter(escalation_at__lt=now)),
        breaching_soon=_capped(pool.filter(escalation_at__gte=now, escalation_at__lte=soon)),
        oldest_deadline=pool.values_list("escalation_at", flat=True).first(),
    )


def _capped(cases: QuerySet[Case]) -> int:
    return cases.values("id")[:POOL_COUNT_CAP].count()


# --- routing rules ---------------------------------------------------------------------

RULE_CHANGES_SHOWN = 20


def routing_rules(workspace: Workspace) -> list[RoutingRule]:
    """Every rule of the workspace in the order they are tried, with team and agent."""
    return list(
        RoutingRule.objects.filter(workspace=workspace)
        .select_related("team", "assignee__user")
        .order_by("position", "id")
    )


def routing_rule_for(workspace: Workspace, public_id: uuid.UUID) -> RoutingRule | None:
    return (
        RoutingRule.objects.filter(workspace=workspace, public_id=public_id)
        .select_related("team", "assignee__user")
        .first()
    )


def rule_changes(
    workspace: Workspace, *, limit: int = RULE_CHANGES_SHOWN
) -> list[RoutingRuleChange]:
    """The latest changes to the workspace's rules, newest first."""
    return list(
        RoutingRuleChange.objects.filter(workspace=workspace)
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
