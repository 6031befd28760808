"""Routing rules: which team a new case goes to, decided on arrival by what is wrong.

A rule is conditions (this module's :class:`RuleConditions`, built from the same field
types as the queue's :class:`~fairdesk.routing.conditions.Conditions`) and actions
(:class:`RuleActions`: a team, optionally one agent of it). Enabled rules are tried in
position order; the first that matches wins; none matching leaves the case to the skills
routing of :func:`~fairdesk.routing.teams.team_for`, unchanged.

What a rule can never do (DESIGN §5): set or change severity, deadlines, priority or
queue order (there is no such action), or look at the channel the case started on,
public vs private, the customer's reach, followers, verified badge, sentiment intensity,
loudness or how often they repeated themselves (there is no such condition, and
:class:`Arrival` does not carry them). Both schemas reject unknown fields, so
``{"channel": ["email"]}``, ``{"followers_gt": 1000}`` or ``{"priority": "high"}`` is an
error, not a silently ignored key. A phrase is matched on its words only: capitals,
punctuation, emoji and spacing are ignored, so shouting can neither trigger nor block a
rule, and a phrase of punctuation alone (``"!!!"``) is refused. A security report is
routed by a rule only when the rule names the ``security_report`` signal: a broad rule
("anything mentioning refund") never pulls a vulnerability report away from the security
team (DESIGN principle 7).
"""

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from fairdesk.cases.models import Case, CaseEvent
from fairdesk.routing import events
from fairdesk.routing.assignment import DEFAULT_POLICY, Policy, held_by, policies
from fairdesk.routing.conditions import Slug, Word
from fairdesk.routing.locks import lock_agents
from fairdesk.routing.models import RoutingRule, Severity
from fairdesk.routing.teams import team_for
from fairdesk.workspaces.models import Agent, Team, Workspace

log = logging.getLogger(__name__)

MAX_RULES = 200
MAX_PHRASES = 20
SECURITY_SIGNAL = "security_report"

# The triage signals (fairdesk.triage.types.SIGNALS; a test keeps the two equal).
Signal = Literal[
    "security_report", "safety", "outage", "money_lost", "legal_threat", "service_down"
]
Phrase = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=2, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
Username = Annotated[str, StringConstraints(min_length=1, max_length=150)]


class RuleConditions(BaseModel):
    """All given conditions must hold (AND); a list means any of its values (OR).
    No condition at all matches every new case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: list[Word] | None = Field(
        default=None, min_length=1, max_length=20, description="Triage topics, e.g. billing."
    )
    severity: list[Severity] | None = Field(default=None, min_length=1, max_length=4)
    signals: list[Signal] | None = Field(
        default=None, min_length=1, max_length=6, description="Any of these triage signals."
    )
    language: list[Word] | None = Field(
        default=None, min_length=1, max_length=20, description="Language triage detected."
    )
    text_contains: list[Phrase] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PHRASES,
        description="Any of these phrases in the first message. Matched on words: "
        "capitals, punctuation, emoji and spacing are ignored.",
    )

    @field_validator("text_contains")
    @classmethod
    def _phrases_have_words(cls, phrases: list[str] | None) -> list[str] | None:
        for phrase in phrases or ():
            if not _words(phrase):
                raise ValueError(
                    f"the phrase {phrase!r} has no letter or digit: punctuation and emoji "
                    "are ignored when matching, so it could only match loudness"
                )
        return phrases

    def stored(self) -> dict[str, object]:
        """The JSON kept on the rule: only the conditions that were given."""
        return self.model_dump(mode="json", exclude_none=True)


class RuleActions(BaseModel):
    """What a matching rule does. There is nothing here about severity, deadlines or
    order, and unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: Slug = Field(description="The slug of the team the case goes to.")
    assignee: Username | None = Field(
        default=None,
        description="Username of an agent of that team, given the case only while "
        "available and under the team's cap; otherwise the team's assignment policy decides.",
    )


@dataclass(slots=True)
class Arrival:
    """What is known of a new case when it arrives: the problem, never the person.

    There is deliberately no channel, visibility, author or reach here, so no rule can
    look at them (DESIGN §5).
    """

    topic: str
    severity: str
    signals: Sequence[str]
    language: str
    text: str
    _folded: str | None = field(default=None, repr=False)

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = _fold(self.text)
        return self._folded


_WORD = re.compile(r"[^\W_]+")  # letters and digits, in any script


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _fold(text: str) -> str:
    """The words of ``text``, lower case, one space apart (punctuation and emoji dropped)."""
    return " ".join(_words(text))


def matches(conditions: RuleConditions, arrival: Arrival) -> bool:
    if SECURITY_SIGNAL in arrival.signals and SECURITY_SIGNAL not in (conditions.signals or ()):
        return False
    if conditions.topic is not None and arrival.topic not in conditions.topic:
        return False
    if conditions.severity is not None and arrival.severity not in conditions.severity:
        return False
    if conditions.signals is not None and not set(conditions.signals) & set(arrival.signals):
        return False
    if conditions.language is not None and arrival.language not in conditions.language:
        return False
    if conditions.text_contains is not None:
        return any(_fold(phrase) in arrival.folded for phrase in conditions.text_contains)
    return True


CONDITION_LABELS = {
    "topic": "topic",
    "severity": "severity",
    "signals": "signal",
    "language": "language",
    "text_contains": "message contains",
}


def describe(stored: dict[str, object]) -> list[tuple[str, str]]:
    """(label, values) pairs of a rule's stored conditions, for people to read."""
    pairs = []
    for key, label in CONDITION_LABELS.items():
        values = stored.get(key)
        if isinstance(values, list) and values:
            shown = [f"“{v}”" if key == "text_contains" else str(v) for v in values]
            pairs.append((label, " or ".join(shown)))
    return pairs


@dataclass(frozen=True, slots=True)
class ActiveRule:
    id: str
    name: str
    conditions: RuleConditions
    team_id: int
    assignee_id: int | None


def active_rules(workspace: Workspace) -> list[ActiveRule]:
    """The workspace's enabled rules in the order they are tried: one query."""
    rows = RoutingRule.objects.filter(workspace=workspace, enabled=True).order_by("position", "id")
    found = []
    for rule in rows.only("public_id", "name", "conditions", "team_id", "assignee_id"):
        try:
            conditions = RuleConditions.model_validate(rule.conditions)
        except ValidationError:
            log.warning("routing rule %s has conditions the schema refuses: skipped", rule.pk)
            continue
        found.append(
            ActiveRule(str(rule.public_id), rule.name, conditions, rule.team_id, rule.assignee_id)
        )
    return found


def first_match(rules: Sequence[ActiveRule], arrival: Arrival) -> ActiveRule | None:
    return next((rule for rule in rules if matches(rule.conditions, arrival)), None)


class ArrivalRouter:
    """Routes the new cases of one pipeline batch, inside its transaction.

    The rules are read once per batch, and only when a batch opens a case. A rule's agent
    is locked (agents before cases, see locks.py) and counted before a case is handed
    over, so that two workers never take one agent past the cap.
    """

    def __init__(self, *, workspace: Workspace, teams: Sequence[Team], now: datetime) -> None:
        self.workspace = workspace
        self.teams = list(teams)
        self.now = now
        self._held: dict[int, int] = {}

    @cached_property
    def rules(self) -> list[ActiveRule]:
        return active_rules(self.workspace)

    @cached_property
    def _teams_by_id(self) -> dict[int, Team]:
        return {team.pk: team for team in self.teams}

    @cached_property
    def _policies(self) -> dict[int | None, Policy]:
        return policies(self.workspace.pk)

    def route(self, case: Case, arrival: Arrival, *, at: datetime) -> list[CaseEvent]:
        """Set ``case.team`` (and perhaps ``case.assignee``); return the events saying why."""
        rule = first_match(self.rules, arrival) if self.rules else None
        team = self._teams_by_id.get(rule.team_id) if rule else None
        if rule is None or team is None:
            case.team = team_for(self.teams, topic=arrival.topic, signals=arrival.signals)
            if case.team is None:
                return []
            return [events.routed_on_arrival(case, team=case.team, at=at)]
        case.team = team
        note = None
        assigned: list[CaseEvent] = []
        if rule.assignee_id is not None:
            agent, note = self._take(rule.assignee_id, team=team)
            if agent is not None:
                case.assignee = agent
                assigned.append(
                    events.assigned(case, to=agent, previous=None, actor=None, how="rule", at=at)
                )
        routed = events.routed_on_arrival(
            case, team=team, rule=(rule.id, rule.name), assignment=note, at=at
        )
        return [routed, *assigned]

    def _take(self, agent_id: int, *, team: Team) -> tuple[Agent | None, str | None]:
        """The rule's agent if they may take one more case now, else why not."""
        found = lock_agents(Agent.objects.filter(pk=agent_id).select_related("user"))
        agent = found[0] if found else None
        if agent is None or agent.team_id != team.pk or not agent.user.is_active:
            return None, "the rule's agent is not on this team now: left to its assignment policy"
        if not agent.is_available:
            return None, f"{agent.display_name} is not available: left to the assignment policy"
        held = self._held.get(agent.pk)
        if held is None:
            held = held_by(agent)
        cap = self._policies.get(team.pk, DEFAULT_POLICY).max_open_per_agent
        if held >= cap:
            self._held[agent.pk] = held
            return None, (
                f"{agent.display_name} holds {held} open cases (limit {cap}): "
                "left to the assignment policy"
            )
        self._held[agent.pk] = held + 1
        Agent.objects.filter(pk=agent.pk).update(last_assigned_at=self.now)
        return agent, None
