"""Who works which case: "Take next", round-robin push, and taking back idle cases.

Order is never a choice here: the next case is always the one with the earliest
deadline (longest waiting for its severity and entitlement), exactly the queue order.
Who gets it is fair to agents too: among available agents under their cap, the one
holding the fewest open cases, then the one who waited longest since their last case
(round robin). Nothing about the customer's reach or loudness is read.

A claim is atomic: the case row is taken with a conditional UPDATE (``… WHERE assignee
IS NULL``, rows-affected checked); on PostgreSQL the candidate is first picked with
``FOR UPDATE SKIP LOCKED`` so concurrent agents take different cases instead of
queueing on the same one. The agent row is locked first (fixed order, see locks.py)
so that two claims of the same agent cannot both pass the cap.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from fairdesk.cases.models import OPEN_STATUSES, QUEUE_STATUSES, Case, CaseEvent, CaseStatus
from fairdesk.routing import events
from fairdesk.routing.locks import lock_agents
from fairdesk.routing.models import AssignmentPolicy
from fairdesk.workspaces.models import Agent, Team, Workspace

CLAIM_ATTEMPTS = 5
NEVER = datetime.min.replace(tzinfo=UTC)
# Cases an agent must act on; a case waiting on the customer or the back office is not
# taken back for idleness.
WORKED_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)


@dataclass(frozen=True, slots=True)
class Policy:
    max_open_per_agent: int = 10
    unassign_after_minutes: int | None = 120
    escalate_before_minutes: int = 60
    auto_assign: bool = False


DEFAULT_POLICY = Policy()


class AtCapacity(Exception):
    """The agent already holds as many open cases as the team's policy allows."""

    def __init__(self, held: int, cap: int) -> None:
        super().__init__(f"You hold {held} open cases; the limit is {cap}.")
        self.held = held
        self.cap = cap


def policies(workspace_id: int) -> dict[int | None, Policy]:
    """Every team's policy by team id (None: cases without a team), in one query."""
    table: dict[int | None, Policy] = {None: DEFAULT_POLICY}
    for row in AssignmentPolicy.objects.filter(workspace_id=workspace_id):
        table[row.team_id] = Policy(
            max_open_per_agent=row.max_open_per_agent,
            unassign_after_minutes=row.unassign_after_minutes,
            escalate_before_minutes=row.escalate_before_minutes,
            auto_assign=row.auto_assign,
        )
    return table


def held_by(agent: Agent) -> int:
    return Case.objects.filter(assignee=agent, status__in=OPEN_STATUSES).count()


# --- pull: "Take next" -----------------------------------------------------------------


def take_next(*, agent: Agent) -> Case | None:
    """Claim the next unassigned case of the agent's team (any team for an agent without
    one) for ``agent``. None when nothing is waiting; AtCapacity over the cap."""
    now = timezone.now()
    with transaction.atomic():
        (me,) = lock_agents(Agent.objects.filter(pk=agent.pk))  # fresh team, locked row
        cap = policies(me.workspace_id).get(me.team_id, DEFAULT_POLICY).max_open_per_agent
        held = held_by(me)
        if held >= cap:
            raise AtCapacity(held, cap)
        waiting = Case.objects.filter(workspace_id=me.workspace_id)
        if me.team_id is not None:
            waiting = waiting.filter(team_id=me.team_id)
        case_id = claim_next(waiting, agent=agent, now=now)
        if case_id is None:
            return None
        case = Case.objects.select_related("team", "contact").get(pk=case_id)
        events.assigned(case, to=agent, previous=None, actor=agent, how="take_next", at=now).save()
        Agent.objects.filter(pk=agent.pk).update(last_assigned_at=now)
    return case


def claim_next(cases: QuerySet[Case], *, agent: Agent, now: datetime) -> int | None:
    """Atomically give ``agent`` the earliest-deadline unassigned case among ``cases``.
    Call inside a transaction. Returns the case id, or None if none is left."""
    waiting = cases.filter(status__in=QUEUE_STATUSES, assignee__isnull=True).order_by(
        F("escalation_at").asc(nulls_last=True), "id"
    )
    skip_locked = connection.features.has_select_for_update_skip_locked
    tried: list[int] = []
    for _ in range(CLAIM_ATTEMPTS):
        candidates = waiting.exclude(pk__in=tried)
        if skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        case_id = candidates.values_list("pk", flat=True).first()
        if case_id is None:
            return None
        taken = Case.objects.filter(
            pk=case_id, assignee__isnull=True, status__in=QUEUE_STATUSES
        ).update(assignee=agent, updated_at=now)
        if taken == 1:
            return case_id
        tried.append(case_id)
    return None


# --- push: round robin -----------------------------------------------------------------


def auto_assign(*, workspace: Workspace, now: datetime | None = None) -> int:
    """Hand unassigned cases of every auto-assigning team to its available agents.
    Returns how many cases were assigned."""
    now = now or timezone.now()
    table = policies(workspace.pk)
    teams = Team.objects.filter(workspace=workspace, pk__in=[k for k in table if k is not None])
    total = 0
    for team in teams:
        policy = table[team.pk]
        if policy.auto_assign:
            total += _assign_team(team, cap=policy.max_open_per_agent, now=now)
    return total


def _assign_team(team: Team, *, cap: int, now: datetime) -> int:
    """Round robin inside one transaction: each case goes to the agent whose turn key
    (see :func:`_rota`) is lowest; an agent leaves the rota at the cap."""
    assigned = 0
    with transaction.atomic():
        rota = _rota(team, cap=cap)
        while rota:
            agent = min(rota, key=lambda a: rota[a])
            case_id = claim_next(Case.objects.filter(team=team), agent=agent, now=now)
            if case_id is None:
                break
            case = Case.objects.get(pk=case_id)
            events.assigned(case, to=agent, previous=None, actor=None, how="auto", at=now).save()
            Agent.objects.filter(pk=agent.pk).update(last_assigned_at=now)
            assigned += 1
            held = rota[agent][0] + 1
            rota[agent] = (held, now, assigned, agent.pk)
            if held >= cap:
                del rota[agent]
    return assigned


Turn = tuple[int, datetime, int, int]


def _rota(team: Team, *, cap: int) -> dict[Agent, Turn]:
    """The team's available agents under the cap (rows locked), each with a turn key:
    fewest open cases, then longest since their last case, then a stable id."""
    members = Agent.objects.filter(team=team, is_available=True, user__is_active=True)
    lock_agents(members)
    loaded = members.annotate(held=Count("case", filter=Q(case__status__in=OPEN_STATUSES)))
    return {
        agent: (agent.held, agent.last_assigned_at or NEVER, 0, agent.pk)
        for agent in loaded.filter(held__lt=cap)
    }


# --- taking back idle cases ------------------------------------------------------------


def auto_unassign(*, workspace: Workspace, now: datetime | None = None) -> int:
    """Put back in the pool every new/open case whose assignee did nothing on it for
    longer than the team's ``unassign_after_minutes``. Returns how many."""
    now = now or timezone.now()
    table = policies(workspace.pk)
    released = 0
    with transaction.atomic():
        for case in _idle_candidates(workspace):
            timeout = table.get(case.team_id, DEFAULT_POLICY).unassign_after_minutes
            last_touch: datetime = case.last_touch  # type: ignore[attr-defined]
            if timeout is None or last_touch > now - timedelta(minutes=timeout):
                continue
            previous = case.assignee
            assert previous is not None
            if Case.objects.filter(pk=case.pk, assignee=previous).update(
                assignee=None, updated_at=now
            ):
                reason = f"no action by the assignee for {timeout} min"
                events.unassigned(case, previous=previous, actor=None, reason=reason, at=now).save()
                released += 1
    return released


def _idle_candidates(workspace: Workspace) -> QuerySet[Case]:
    """Assigned new/open cases with the time of the assignee's last touch: their last
    event on the case, or the assignment itself, whichever is later."""
    touches = CaseEvent.objects.filter(case=OuterRef("pk")).filter(
        Q(actor=OuterRef("assignee")) | Q(type=CaseEvent.Type.ASSIGNED)
    )
    return (
        Case.objects.filter(workspace=workspace, status__in=WORKED_STATUSES, assignee__isnull=False)
        .annotate(
            last_touch=Coalesce(Subquery(touches.order_by("-at").values("at")[:1]), F("created_at"))
        )
        .select_related("assignee")
        .order_by("id")
    )
