"""The one typed condition schema behind saved views (and, later, routing rules).

A condition narrows WHICH cases a view shows; it never changes their ORDER. Every view
is served earliest deadline first (``escalation_at``, then id) by ``queue_page``, and
this schema has no field for followers, reach, verified badges or sorting: unknown
fields are rejected (``extra="forbid"``), so ``{"followers_gt": 1000}`` or
``{"order_by": "-followers"}`` is a validation error, not a silently ignored key.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from django.db.models import Q
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from fairdesk.cases.models import QUEUE_STATUSES, CaseStatus
from fairdesk.routing.models import Severity
from fairdesk.workspaces.models import Agent

MAX_WINDOW_MINUTES = 7 * 24 * 60
BREACHING_SOON_MINUTES = 60

Slug = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[-a-z0-9_]+$")]
Word = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[-a-z0-9_]+$")]


class Conditions(BaseModel):
    """All given conditions must hold (AND); a list means any of its values (OR)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: list[CaseStatus] | None = Field(
        default=None,
        min_length=1,
        max_length=6,
        description="Default: new, open, pending internal.",
    )
    severity: list[Severity] | None = Field(default=None, min_length=1, max_length=4)
    team: Literal["mine"] | list[Slug] | None = Field(
        default=None, description='"mine" (the viewer\'s team) or team slugs.'
    )
    assignee: Literal["me", "nobody", "someone"] | None = None
    channel: list[Word] | None = Field(
        default=None, min_length=1, max_length=20, description="Channel the case started on."
    )
    breaching_within_minutes: int | None = Field(
        default=None,
        ge=0,
        le=MAX_WINDOW_MINUTES,
        description="Deadline within N minutes, or overdue.",
    )
    waiting_on_customer: bool = Field(default=False, description="Status pending customer.")
    waiting_on_internal: bool = Field(default=False, description="Status pending internal work.")
    topic: list[Word] | None = Field(default=None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def one_status_source(self) -> "Conditions":
        sources = [self.status is not None, self.waiting_on_customer, self.waiting_on_internal]
        if sum(sources) > 1:
            raise ValueError("use only one of status, waiting_on_customer and waiting_on_internal")
        return self

    def statuses(self) -> tuple[str, ...]:
        if self.waiting_on_customer:
            return (CaseStatus.PENDING_CUSTOMER,)
        if self.waiting_on_internal:
            return (CaseStatus.PENDING_INTERNAL,)
        if self.status is not None:
            return tuple(self.status)
        return QUEUE_STATUSES

    def to_q(self, *, agent: Agent, now: datetime) -> Q:
        """The filter for the viewing ``agent`` ("me", "mine") at ``now``. No ordering."""
        q = Q(status__in=self.statuses())
        if self.severity is not None:
            q &= Q(severity__in=self.severity)
        if self.team == "mine":
            q &= Q(team_id=agent.team_id) if agent.team_id else Q(pk__in=[])
        elif self.team is not None:
            q &= Q(team__slug__in=self.team)
        if self.assignee is not None:
            q &= ASSIGNEE_FILTERS[self.assignee](agent)
        if self.channel is not None:
            q &= Q(origin_channel__in=self.channel)
        if self.topic is not None:
            q &= Q(topic__in=self.topic)
        if self.breaching_within_minutes is not None:
            limit = now + timedelta(minutes=self.breaching_within_minutes)
            q &= Q(escalation_at__lte=limit)
        return q


ASSIGNEE_FILTERS = {
    "me": lambda agent: Q(assignee_id=agent.pk),
    "nobody": lambda agent: Q(assignee__isnull=True),
    "someone": lambda agent: Q(assignee__isnull=False),
}


@dataclass(frozen=True, slots=True)
class BuiltInView:
    key: str
    name: str
    conditions: Conditions


BUILT_IN_VIEWS: tuple[BuiltInView, ...] = (
    BuiltInView("all", "Queue", Conditions()),
    BuiltInView("mine", "Mine", Conditions(assignee="me")),
    BuiltInView("team", "My team", Conditions(team="mine")),
    BuiltInView("unassigned", "Unassigned", Conditions(assignee="nobody")),
    BuiltInView(
        "breaching-soon",
        "Breaching soon",
        Conditions(breaching_within_minutes=BREACHING_SOON_MINUTES),
    ),
    BuiltInView("waiting-on-customer", "Waiting on customer", Conditions(waiting_on_customer=True)),
    BuiltInView(
        "waiting-on-internal", "Waiting on internal work", Conditions(waiting_on_internal=True)
    ),
)
BUILT_IN = {view.key: view for view in BUILT_IN_VIEWS}
