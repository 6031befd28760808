"""Case page actions: merge cases, split messages off, merge contacts, undo.

Parse, authorise, call one service (``cases.merge`` / ``contacts.merge``), redirect with
the outcome. Every id is looked up in the agent's workspace: another tenant's case is a
404, a refused merge changes nothing and says why.
"""

import re
import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from fairdesk.cases.access import agent_required
from fairdesk.cases.merge import (
    MAX_REASON,
    MAX_SPLIT,
    MergeRefused,
    merge_cases,
    split_case,
    undo,
    undoable_event,
)
from fairdesk.cases.models import Case, Message
from fairdesk.cases.queries import case_for
from fairdesk.contacts import merge as contact_merge
from fairdesk.contacts.models import ContactEvent
from fairdesk.workspaces.models import Agent, Workspace

REFERENCE = re.compile(r"^\s*(?:FD-?)?(\d{1,18})\s*$", re.IGNORECASE)


class MergeForm(forms.Form):
    into = forms.CharField(max_length=60, help_text="A case reference (FD-123) or its id.")
    reason = forms.CharField(max_length=MAX_REASON, required=False)
    confirm = forms.BooleanField(required=True)


class SplitForm(forms.Form):
    message = forms.TypedMultipleChoiceField(coerce=int)
    reason = forms.CharField(max_length=MAX_REASON, required=False)
    confirm = forms.BooleanField(required=True)

    def __init__(self, *args: object, choices: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["message"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = choices


def case_by_reference(workspace: Workspace, text: str) -> Case | None:
    """``FD-123``, ``123`` or a public id, in this workspace only."""
    match = REFERENCE.match(text)
    if match:
        return Case.objects.filter(workspace=workspace, pk=int(match.group(1))).first()
    try:
        public_id = uuid.UUID(text.strip())
    except ValueError:
        return None
    return Case.objects.filter(workspace=workspace, public_id=public_id).first()


def _chosen(request: HttpRequest, agent: Agent) -> tuple[Case | None, str]:
    """The other case named in a merge form and the reason; or None and what is wrong."""
    form = MergeForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        return None, errors
    other = case_by_reference(agent.workspace, form.cleaned_data["into"])
    if other is None:
        return None, "no such case in this workspace."
    return other, form.cleaned_data["reason"]


@require_POST
@agent_required
def merge(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    target, reason = _chosen(request, agent)
    if target is None:
        messages.error(request, f"Not merged — {reason}")
        return redirect("case", public_id=case.public_id)
    try:
        merge_cases(source=case, target=target, actor=agent, reason=reason)
    except MergeRefused as refused:
        messages.error(request, f"Not merged — {refused}")
        return redirect("case", public_id=case.public_id)
    messages.success(request, f"{case.reference} merged into this case. Undo is below.")
    return redirect("case", public_id=target.public_id)


@require_http_methods(["GET", "POST"])
@agent_required
def split(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """Choose messages to move into a new case (their replies follow them)."""
    case = case_for(workspace=agent.workspace, public_id=public_id)
    rows = list(
        Message.objects.filter(case=case).select_related("identity").order_by("sent_at", "id")
    )
    choices = [(m.pk, m.text[:200]) for m in rows[:MAX_SPLIT]]
    form = SplitForm(request.POST or None, choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                done = split_case(
                    case=case,
                    message_ids=form.cleaned_data["message"],
                    actor=agent,
                    reason=form.cleaned_data["reason"],
                )
            except MergeRefused as refused:
                form.add_error(None, str(refused))
            else:
                messages.success(request, f"{done.moved} messages moved from {case.reference}.")
                return redirect("case", public_id=done.case.public_id)
        status = 422
    context = {"case": case, "rows": rows[:MAX_SPLIT], "form": form}
    return render(request, "cases/split.html", context, status=status)


@require_POST
@agent_required
def merge_contact(request: HttpRequest, public_id: uuid.UUID, *, agent: Agent) -> HttpResponse:
    """This case's customer is the customer of another case: merge the contacts."""
    case = case_for(workspace=agent.workspace, public_id=public_id)
    if not contact_merge.may_merge_contacts(agent):
        raise PermissionDenied("Only supervisors merge contacts.")
    other, reason = _chosen(request, agent)
    if other is None:
        messages.error(request, f"Not merged — {reason}")
        return redirect("case", public_id=case.public_id)
    try:
        contact_merge.merge_contacts(
            source=case.contact, target=other.contact, actor=agent, reason=reason
        )
    except MergeRefused as refused:
        messages.error(request, f"Not merged — {refused}")
    else:
        messages.success(request, "Contacts merged: every identity and case is on one person.")
    return redirect("case", public_id=case.public_id)


@require_POST
@agent_required
def undo_merge(
    request: HttpRequest, public_id: uuid.UUID, event_id: int, *, agent: Agent
) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    event = undoable_event(case, event_id)
    if event is None:
        raise Http404("No such merge or split on this case.")
    try:
        restored = undo(event=event, actor=agent)
    except MergeRefused as refused:
        messages.error(request, f"Not undone — {refused}")
        return redirect("case", public_id=case.public_id)
    messages.success(request, "Undone: everything is back where it was.")
    return redirect("case", public_id=restored.public_id)


@require_POST
@agent_required
def undo_contact_merge(
    request: HttpRequest, public_id: uuid.UUID, event_id: int, *, agent: Agent
) -> HttpResponse:
    case = case_for(workspace=agent.workspace, public_id=public_id)
    event = ContactEvent.objects.filter(
        pk=event_id, contact_id=case.contact_id, workspace=agent.workspace
    ).first()
    if event is None:
        raise Http404("No such contact merge.")
    try:
        contact_merge.unmerge_contacts(event=event, actor=agent)  # PermissionDenied -> 403
    except MergeRefused as refused:
        messages.error(request, f"Not undone — {refused}")
    else:
        messages.success(request, "Contact merge undone.")
    return redirect("case", public_id=case.public_id)
