import uuid

from django.db import models
from django.db.models import Q

from fairdesk.contacts.models import Entitlement
from fairdesk.workspaces.models import Agent, Team, Workspace


class Severity(models.TextChoices):
    """What is wrong, from the content of the messages. Ordered most urgent first."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.NORMAL: 2, Severity.LOW: 3}


class SlaPolicy(models.Model):
    """Service targets per severity x entitlement.

    There is deliberately no channel, reach or visibility field: see DESIGN section 5.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sla_policies")
    severity = models.CharField(max_length=20, choices=Severity.choices)
    entitlement = models.CharField(max_length=20, choices=Entitlement.choices)
    first_response_minutes = models.PositiveIntegerField()
    next_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "severity", "entitlement"]
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "severity", "entitlement"], name="sla_unique_cell"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity}/{self.entitlement}"


class AssignmentPolicy(models.Model):
    """How a team's cases reach its agents.

    The order is not configurable: longest waiting first means earliest deadline first,
    the same order as the queue. What a team tunes is how much one agent holds, when an
    untouched case goes back to the pool, and how early a nearing deadline escalates.
    A team without a row uses :data:`fairdesk.routing.assignment.DEFAULT_POLICY`.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="assignment_policy")
    max_open_per_agent = models.PositiveSmallIntegerField(
        default=10, help_text="Open assigned cases an agent may hold before taking more."
    )
    unassign_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=120,
        help_text="Back to the pool when the assignee did nothing for this long; empty: never.",
    )
    escalate_before_minutes = models.PositiveIntegerField(
        default=60, help_text="Escalate a case this long before its next deadline."
    )
    auto_assign = models.BooleanField(
        default=False, help_text="Hand unassigned cases to available agents (round robin)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "team"]
        verbose_name_plural = "assignment policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_open_per_agent__gte=1), name="assignment_policy_cap_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"assignment policy of team {self.team_id}"


class SavedView(models.Model):
    """A named, validated :class:`fairdesk.routing.conditions.Conditions` document.

    Private to its owner, or shared with the whole workspace when a supervisor saves it.
    ``conditions`` only ever holds JSON that passed the schema (services validate it).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="views")
    owner = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    shared = models.BooleanField(default=False)
    conditions = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_unique_name"),
        ]
        indexes = [models.Index(fields=["workspace", "shared"], name="saved_view_visible_idx")]

    def __str__(self) -> str:
        return self.name


class Escalation(models.Model):
    """A case whose next deadline came near, recorded once per deadline.

    The unique (case, deadline) pair makes the sweep idempotent: running it twice, or
    from two workers, escalates a deadline once. A new deadline escalates again.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="escalations")
    deadline = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "deadline"], name="escalation_once"),
        ]

    def __str__(self) -> str:
        return f"escalation of case {self.case_id} at {self.deadline:%Y-%m-%d %H:%M}"


class RoutingRule(models.Model):
    """Where a new case goes on arrival, decided by what the problem is.

    Enabled rules are tried in ``position`` order and the first whose conditions match
    sends the case to ``team`` (and, when ``assignee`` is set and that agent is available
    and under the team's cap, to them). No match: the skills routing of
    :func:`fairdesk.routing.teams.team_for`. ``conditions`` only ever holds JSON that
    passed :class:`fairdesk.routing.rules.RuleConditions`. There is deliberately no field
    that sets severity, deadlines or queue order, and no condition on channel, visibility
    or reach (DESIGN §5).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="routing_rules")
    name = models.CharField(max_length=80)
    position = models.PositiveIntegerField(help_text="1 is tried first.")
    enabled = models.BooleanField(default=True)
    conditions = models.JSONField(default=dict, blank=True)
    team = models.ForeignKey(Team, on_delete=models.RESTRICT, related_name="routing_rules")
    assignee = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="routing_rules"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="routing_rule_unique_name"),
        ]
        indexes = [
            models.Index(fields=["workspace", "enabled", "position"], name="routing_rule_order_idx")
        ]

    def __str__(self) -> str:
        return self.name


class RoutingRuleChange(models.Model):
    """The append-only audit log of routing rules: who changed which rule, from what to
    what. Kept by the rule's public id and name so that it outlives the rule."""

    class Action(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        MOVED = "moved"
        ENABLED = "enabled"
        DISABLED = "disabled"
        DELETED = "deleted"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    rule_public_id = models.UUIDField()
    rule_name = models.CharField(max_length=80)
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["workspace", "at"], name="routing_rule_change_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.rule_name}"
