"""The queue's web forms: building a view's conditions, naming it, bulk actions, and
routing rules.

Forms only turn request fields into typed values; the condition schema itself
(:class:`~fairdesk.routing.conditions.Conditions`) decides what is valid.
"""

import uuid
from collections.abc import Sequence
from typing import Any, get_args

from django import forms
from pydantic import ValidationError

from fairdesk.cases.models import CaseStatus
from fairdesk.routing.conditions import MAX_WINDOW_MINUTES, Conditions
from fairdesk.routing.models import RoutingRule, Severity
from fairdesk.routing.rules import MAX_PHRASES, RuleConditions, Signal
from fairdesk.routing.services import MAX_BULK, MAX_RULE_NAME, MAX_VIEW_NAME, SETTABLE_STATUSES
from fairdesk.workspaces.fields import WorkspaceChoiceField
from fairdesk.workspaces.models import Agent, Team

MY_TEAM = "mine"


def _words(raw: str) -> list[str] | None:
    words = [w.strip().lower() for w in raw.split(",") if w.strip()]
    return words or None


class ConditionsForm(forms.Form):
    """Conditions of a view as form fields (the filter box on the queue page)."""

    status = forms.MultipleChoiceField(
        choices=CaseStatus.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    severity = forms.MultipleChoiceField(
        choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    team = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    assignee = forms.ChoiceField(
        choices=[("", "Anyone"), ("me", "Me"), ("nobody", "Nobody"), ("someone", "Someone")],
        required=False,
    )
    waiting = forms.ChoiceField(
        label="Waiting on",
        choices=[("", "—"), ("customer", "The customer"), ("internal", "Internal work")],
        required=False,
    )
    breaching_within_minutes = forms.IntegerField(
        label="Deadline within (minutes)", min_value=0, max_value=MAX_WINDOW_MINUTES, required=False
    )
    channel = forms.CharField(
        label="Started on channel", max_length=200, required=False, help_text="e.g. x, email"
    )
    topic = forms.CharField(max_length=200, required=False, help_text="e.g. billing, repair")

    def __init__(self, *args: Any, teams: Sequence[Team] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(MY_TEAM, "My team"), *((t.slug, t.name) for t in teams)]

    def conditions(self) -> Conditions | None:
        """The validated conditions, or None with the schema's complaint as a form error."""
        if not self.is_valid():
            return None
        data = self.cleaned_data
        teams = data["team"] or None
        raw: dict[str, Any] = {
            "status": data["status"] or None,
            "severity": data["severity"] or None,
            "team": MY_TEAM if teams and MY_TEAM in teams else teams,
            "assignee": data["assignee"] or None,
            "breaching_within_minutes": data["breaching_within_minutes"],
            "waiting_on_customer": data["waiting"] == "customer",
            "waiting_on_internal": data["waiting"] == "internal",
            "channel": _words(data["channel"]),
            "topic": _words(data["topic"]),
        }
        try:
            return Conditions.model_validate(raw)
        except ValidationError as error:
            for problem in error.errors():
                where = ".".join(str(p) for p in problem["loc"]) or "view"
                self.add_error(None, f"{where}: {problem['msg']}")
            return None

    @classmethod
    def initial_from(cls, conditions: Conditions) -> dict[str, Any]:
        """Form values showing ``conditions`` (to edit a view as a new one)."""
        waiting = "customer" if conditions.waiting_on_customer else ""
        waiting = "internal" if conditions.waiting_on_internal else waiting
        team = conditions.team
        return {
            "status": conditions.status or [],
            "severity": conditions.severity or [],
            "team": [MY_TEAM] if team == MY_TEAM else (team or []),
            "assignee": conditions.assignee or "",
            "waiting": waiting,
            "breaching_within_minutes": conditions.breaching_within_minutes,
            "channel": ", ".join(conditions.channel or []),
            "topic": ", ".join(conditions.topic or []),
        }


class SaveViewForm(ConditionsForm):
    name = forms.CharField(max_length=MAX_VIEW_NAME)
    shared = forms.BooleanField(label="Share with the workspace", required=False)


class CaseIdsField(forms.Field):
    """The public ids of the ticked cases (``case`` repeated)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[uuid.UUID]:
        try:
            return [uuid.UUID(str(v)) for v in value or ()]
        except ValueError:
            raise forms.ValidationError("Select cases from the queue.") from None

    def validate(self, value: Any) -> None:
        if not value:
            raise forms.ValidationError("Select at least one case.")
        if len(value) > MAX_BULK:
            raise forms.ValidationError(f"Select at most {MAX_BULK} cases at a time.")


class BulkForm(forms.Form):
    """A bulk action on the selected cases of the queue page."""

    ACTIONS = ("assign_me", "assign", "unassign", "route", "status")

    case = CaseIdsField()
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    agent = WorkspaceChoiceField(queryset=Agent.objects.none(), required=False)
    team = WorkspaceChoiceField(queryset=Team.objects.none(), required=False, to_field_name="slug")
    status = forms.ChoiceField(
        choices=[("", "—"), *((s, s) for s in SETTABLE_STATUSES)], required=False
    )

    def __init__(self, *args: Any, viewer: Agent, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agent_field = self.fields["agent"]
        team_field = self.fields["team"]
        assert isinstance(agent_field, forms.ModelChoiceField)
        assert isinstance(team_field, forms.ModelChoiceField)
        agent_field.queryset = Agent.objects.filter(workspace_id=viewer.workspace_id)
        team_field.queryset = Team.objects.filter(workspace_id=viewer.workspace_id)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needs = {"assign": "agent", "route": "team", "status": "status"}.get(data.get("action", ""))
        if needs and not data.get(needs):
            self.add_error(needs, f"Choose the {needs} for this action.")
        return data


# --- routing rules ---------------------------------------------------------------------


class TeamAgentField(WorkspaceChoiceField):
    """An agent, shown with their team (a rule's agent must be of the rule's team)."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.team.name if obj.team else 'no team'})"


SIGNAL_CHOICES = [(s, s.replace("_", " ")) for s in get_args(Signal)]


class RuleForm(forms.Form):
    """A routing rule as form fields; :class:`RuleConditions` decides what is valid.

    Fields the form does not have (``channel``, ``followers``, ``priority``,
    ``workspace`` …) are refused with an error rather than silently dropped, as the API
    refuses them. There is deliberately no channel field: the channel a case started on
    may not choose its team (DESIGN §5), unlike the saved views' filter above.
    """

    name = forms.CharField(max_length=MAX_RULE_NAME)
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    topic = forms.CharField(max_length=400, required=False, help_text="e.g. billing, repair")
    severity = forms.MultipleChoiceField(
        choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    signals = forms.MultipleChoiceField(
        choices=SIGNAL_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    language = forms.CharField(max_length=400, required=False, help_text="e.g. en")
    text_contains = forms.CharField(
        label="Message contains",
        max_length=MAX_PHRASES * 101,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One phrase per line; any of them matches. Capitals, punctuation and "
        "emoji are ignored.",
    )
    team = WorkspaceChoiceField(queryset=Team.objects.none(), to_field_name="slug")
    assignee = TeamAgentField(
        queryset=Agent.objects.none(),
        required=False,
        empty_label="Nobody: the team's assignment policy decides",
        help_text="Given the case only while available and under the team's cap.",
    )

    ALLOWED_EXTRA = frozenset({"csrfmiddlewaretoken"})

    def __init__(self, *args: Any, viewer: Agent, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team_field = self.fields["team"]
        agent_field = self.fields["assignee"]
        assert isinstance(team_field, forms.ModelChoiceField)
        assert isinstance(agent_field, forms.ModelChoiceField)
        team_field.queryset = Team.objects.filter(workspace_id=viewer.workspace_id)
        agent_field.queryset = Agent.objects.filter(
            workspace_id=viewer.workspace_id, team__isnull=False
        ).select_related("team")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        unknown = sorted(set(self.data) - set(self.fields) - self.ALLOWED_EXTRA)
        if unknown:
            raise forms.ValidationError(f"Unknown fields: {', '.join(unknown[:5])}.")
        if self.errors:
            return data
        raw = {
            "topic": _words(data["topic"]),
            "severity": data["severity"] or None,
            "signals": data["signals"] or None,
            "language": _words(data["language"]),
            "text_contains": [p.strip() for p in data["text_contains"].splitlines() if p.strip()]
            or None,
        }
        try:
            data["conditions"] = RuleConditions.model_validate(raw)
        except ValidationError as error:
            for problem in error.errors():
                where = ".".join(str(p) for p in problem["loc"]) or "rule"
                self.add_error(None, f"{where}: {problem['msg']}")
        return data

    @staticmethod
    def initial_from(rule: RoutingRule) -> dict[str, Any]:
        conditions = RuleConditions.model_validate(rule.conditions)
        return {
            "name": rule.name,
            "enabled": rule.enabled,
            "topic": ", ".join(conditions.topic or []),
            "severity": conditions.severity or [],
            "signals": conditions.signals or [],
            "language": ", ".join(conditions.language or []),
            "text_contains": "\n".join(conditions.text_contains or []),
            "team": rule.team.slug,
            "assignee": rule.assignee_id,
        }
