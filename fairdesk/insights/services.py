"""Writes of the insights app: the root-cause catalogue and tagging a case with a cause.

Every write checks that the cause, the case, the owner and the acting agent share one
workspace: another workspace's cause is refused with ``RootCauseInvalid`` and nothing
changes. Tagging is recorded on the case's timeline (``root_cause_tagged``).
"""

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from fairdesk.cases.models import Case, CaseEvent
from fairdesk.insights.models import RootCause
from fairdesk.workspaces.models import Agent, Workspace

NAME_CHARS = 120


class RootCauseInvalid(ValueError):
    """The cause or its fields cannot be used; the message says why, for the caller."""


def _owner_in(workspace: Workspace, owner: Agent | None) -> Agent | None:
    if owner is not None and owner.workspace_id != workspace.pk:
        raise RootCauseInvalid("The owner must be an agent of this workspace.")
    return owner


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > NAME_CHARS:
        raise RootCauseInvalid(f"A name needs 1 to {NAME_CHARS} characters.")
    return name


def create_root_cause(
    *,
    workspace: Workspace,
    name: str,
    owner: Agent | None = None,
    description: str = "",
    slug: str = "",
) -> RootCause:
    """Add a cause to the catalogue; the slug defaults to the name's and must be new."""
    name = _clean_name(name)
    slug = slugify(slug or name)[:100]
    if not slug:
        raise RootCauseInvalid("A slug needs at least one letter or digit.")
    try:
        with transaction.atomic():
            return RootCause.objects.create(
                workspace=workspace,
                slug=slug,
                name=name,
                description=description.strip(),
                owner=_owner_in(workspace, owner),
            )
    except IntegrityError as exc:
        raise RootCauseInvalid(f"The slug {slug!r} is taken in this workspace.") from exc


def update_root_cause(
    *,
    cause: RootCause,
    name: str | None = None,
    description: str | None = None,
    owner: Agent | None = None,
    clear_owner: bool = False,
    active: bool | None = None,
) -> RootCause:
    """Rename, describe, hand over or retire a cause (its slug, stored on cases, stays)."""
    if name is not None:
        cause.name = _clean_name(name)
    if description is not None:
        cause.description = description.strip()
    if owner is not None or clear_owner:
        cause.owner = _owner_in(cause.workspace, owner)
    if active is not None:
        cause.active = active
    cause.save()
    return cause


def active_cause(workspace_id: int, slug: str) -> RootCause:
    """The workspace's active cause with ``slug``, or ``RootCauseInvalid``."""
    cause = RootCause.objects.filter(workspace_id=workspace_id, slug=slug, active=True).first()
    if cause is None:
        raise RootCauseInvalid(f"No active root cause {slug!r} in this workspace.")
    return cause


def tag_root_cause(*, case: Case, agent: Agent, slug: str) -> bool:
    """Set (or, with ``slug=""``, clear) the case's root cause. False when unchanged."""
    if agent.workspace_id != case.workspace_id:
        raise PermissionDenied("This case belongs to another workspace.")
    cause = active_cause(case.workspace_id, slug) if slug else None
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        changed = tag_locked_case(locked, cause=cause, agent=agent, at=timezone.now())
    case.root_cause = locked.root_cause
    return changed


def tag_locked_case(case: Case, *, cause: RootCause | None, agent: Agent, at: datetime) -> bool:
    """Tag a case the caller holds locked (in its transaction); records the event."""
    if cause is not None and cause.workspace_id != case.workspace_id:
        raise RootCauseInvalid("The root cause belongs to another workspace.")
    slug = cause.slug if cause else ""
    if case.root_cause == slug:
        return False
    previous = case.root_cause
    case.root_cause = slug
    case.save(update_fields=["root_cause", "updated_at"])
    root_cause_tagged(case, cause=cause, previous=previous, actor=agent, at=at).save()
    return True


def root_cause_tagged(
    case: Case, *, cause: RootCause | None, previous: str, actor: Agent, at: datetime
) -> CaseEvent:
    return CaseEvent(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.ROOT_CAUSE_TAGGED,
        params={
            "root_cause": cause.name if cause else None,
            "slug": cause.slug if cause else "",
            "previous": previous or None,
        },
        actor=actor,
        at=at,
    )
