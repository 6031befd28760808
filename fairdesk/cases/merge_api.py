"""API for merging and splitting cases, merging contacts, and undoing either.

Mounted on the cases router (``cases/api.py``). Bodies reject unknown fields (422); a
case id of another workspace, in the path or in the body, is a 404 and changes nothing;
a refused merge is a 409 that says why.
"""

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict

from fairdesk.api_auth import current_agent
from fairdesk.cases.merge import (
    MAX_REASON,
    MAX_SPLIT,
    MergeNotFound,
    MergeRefused,
    merge_cases,
    split_case,
    undo,
    undoable_event,
)
from fairdesk.cases.models import Case
from fairdesk.contacts import merge as contact_merge
from fairdesk.contacts.models import ContactEvent
from fairdesk.workspaces.models import Workspace

router = Router()


class MergeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    into: uuid.UUID = Field(description="The case (of your workspace) to merge into.")
    reason: str = Field(default="", max_length=MAX_REASON)


class SplitIn(Schema):
    model_config = ConfigDict(extra="forbid")

    message_ids: list[int] = Field(min_length=1, max_length=MAX_SPLIT)
    reason: str = Field(default="", max_length=MAX_REASON)


class MergeOut(Schema):
    case: uuid.UUID = Field(description="The case that now holds the history.")
    reference: str
    status: str
    event: int | None = Field(description="The event to undo it with, where there is one.")


def _case(workspace: Workspace, public_id: uuid.UUID) -> Case:
    return get_object_or_404(
        Case.objects.select_related("contact"), workspace=workspace, public_id=public_id
    )


def _out(case: Case, event: int | None) -> MergeOut:
    return MergeOut(case=case.public_id, reference=case.reference, status=case.status, event=event)


def _refused(error: Exception) -> HttpError:
    """403 for a role, 404 for another tenant's id anywhere in the request, 409 else."""
    if isinstance(error, PermissionDenied):
        return HttpError(403, str(error))
    return HttpError(404 if isinstance(error, MergeNotFound) else 409, str(error))


@router.post("/cases/{public_id}/merge", response=MergeOut, summary="Merge into another case")
def merge(request: Any, public_id: uuid.UUID, body: MergeIn) -> MergeOut:
    """Move everything of this case into ``into`` (same customer only; merge the contacts
    first otherwise). The target keeps the earliest deadlines of the two."""
    agent = current_agent(request)
    source = _case(agent.workspace, public_id)
    target = _case(agent.workspace, body.into)
    try:
        event = merge_cases(source=source, target=target, actor=agent, reason=body.reason)
    except MergeRefused as error:
        raise _refused(error) from error
    target.refresh_from_db()
    return _out(target, event.pk)


@router.post("/cases/{public_id}/split", response={201: MergeOut}, summary="Split messages off")
def split(request: Any, public_id: uuid.UUID, body: SplitIn) -> Status[MergeOut]:
    """Move these messages (ids from ``/messages``) and their replies into a new case."""
    agent = current_agent(request)
    case = _case(agent.workspace, public_id)
    try:
        done = split_case(case=case, message_ids=body.message_ids, actor=agent, reason=body.reason)
    except MergeRefused as error:
        raise _refused(error) from error
    return Status(201, _out(done.case, done.event.pk))


@router.post(
    "/cases/{public_id}/contact-merge", response=MergeOut, summary="Merge contacts (supervisors)"
)
def merge_contact(request: Any, public_id: uuid.UUID, body: MergeIn) -> MergeOut:
    """This case's customer is the customer of case ``into``: one contact from now on."""
    agent = current_agent(request)
    case = _case(agent.workspace, public_id)
    other = _case(agent.workspace, body.into)
    try:
        event = contact_merge.merge_contacts(
            source=case.contact, target=other.contact, actor=agent, reason=body.reason
        )
    except (MergeRefused, PermissionDenied) as error:
        raise _refused(error) from error
    case.refresh_from_db()
    return _out(case, event.pk)


@router.post(
    "/cases/{public_id}/merges/{event_id}/undo", response=MergeOut, summary="Undo a merge or split"
)
def undo_merge(request: Any, public_id: uuid.UUID, event_id: int) -> MergeOut:
    agent = current_agent(request)
    case = _case(agent.workspace, public_id)
    event = undoable_event(case, event_id)
    if event is None:
        raise HttpError(404, "No such merge or split on this case.")
    try:
        restored = undo(event=event, actor=agent)
    except MergeRefused as error:
        raise _refused(error) from error
    return _out(restored, None)


@router.post(
    "/cases/{public_id}/contact-merges/{event_id}/undo",
    response=MergeOut,
    summary="Undo a contact merge (supervisors)",
)
def undo_contact_merge(request: Any, public_id: uuid.UUID, event_id: int) -> MergeOut:
    agent = current_agent(request)
    case = _case(agent.workspace, public_id)
    event = ContactEvent.objects.filter(
        pk=event_id, contact_id=case.contact_id, workspace=agent.workspace
    ).first()
    if event is None:
        raise HttpError(404, "No such contact merge.")
    try:
        contact_merge.unmerge_contacts(event=event, actor=agent)
    except (MergeRefused, PermissionDenied) as error:
        raise _refused(error) from error
    case.refresh_from_db()
    return _out(case, None)
