import uuid
from typing import Any

from django import forms

from fairdesk.followthrough.models import WorkOrder, WorkOrderKind
from fairdesk.workspaces.fields import WorkspaceChoiceField
from fairdesk.workspaces.models import Team, Workspace


class WorkOrderForm(forms.Form):
    """Create a work order from the case page. The idempotency key is minted when the
    form renders: a double submit creates one order."""

    kind = forms.ChoiceField(label="Kind")
    team = WorkspaceChoiceField(queryset=Team.objects.none(), label="Team", to_field_name="slug")
    title = forms.CharField(max_length=200, label="What must be done")
    customer_label = forms.CharField(
        max_length=200,
        label="What the customer sees",
        help_text="Shown to the customer as the next step, e.g. 'Replacement part on its way'.",
    )
    due_at = forms.DateTimeField(
        label="Due (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = list(WorkOrder.Kind.choices) + [
            (kind.slug, kind.label) for kind in WorkOrderKind.objects.filter(workspace=workspace)
        ]
        kind_field = self.fields["kind"]
        assert isinstance(kind_field, forms.ChoiceField)
        kind_field.choices = kinds
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)
        team_field.queryset = Team.objects.filter(workspace=workspace).order_by("name")

    @classmethod
    def fresh(cls, *, workspace: Workspace) -> "WorkOrderForm":
        return cls(initial={"idempotency_key": uuid.uuid4()}, workspace=workspace)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=WorkOrder.Status.choices)
