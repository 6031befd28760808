"""Merge two contacts found to be one person, and undo it.

Every row that points at the source contact (identities, cases, portal links and
sessions, satisfaction answers, …: found from the model graph) moves to the target;
the source stays as a tombstone with ``merged_into``. Its e-mail and phone move too
where the target has none, and are cleared on the source either way, so that identity
resolution never lands new messages on the empty tombstone (nothing is lost: the
values are in the event, and undo puts them back).

Only supervisors and admins merge contacts: joining two people decides who receives
the private replies of every case of both, so it is not a per-case shortcut. The
target keeps its own entitlement: a merge never raises anyone's service tier.

Locks: both contact rows, lowest id first, then the moved rows by UPDATE.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from fairdesk.cases.merge import (
    MergeNotFound,
    MergeRefused,
    changed_since,
    clean_reason,
    lock_pair,
    move_rows,
    move_rows_back,
    restore,
    rows_still_at,
    snapshot,
)
from fairdesk.cases.models import Case, CaseEvent
from fairdesk.contacts.models import Contact, ContactEvent
from fairdesk.workspaces.models import Agent

CONTACT_FIELDS = ("display_name", "email", "phone", "merged_into_id", "updated_at")
# The contact's own log stays with each contact (it records what happened to *it*).
CONTACT_ROWS_THAT_STAY = frozenset({"contacts.ContactEvent"})


def may_merge_contacts(agent: Agent) -> bool:
    return agent.is_supervisor


def merge_contacts(
    *, source: Contact, target: Contact, actor: Agent, reason: str = ""
) -> ContactEvent:
    """Fold ``source`` into ``target``; returns the target's ``merged`` event, which
    ``unmerge_contacts`` undoes. Same workspace only; supervisors and admins only."""
    if not may_merge_contacts(actor):
        raise PermissionDenied("Only supervisors merge contacts.")
    reason = clean_reason(reason)
    if source.workspace_id != actor.workspace_id or target.workspace_id != actor.workspace_id:
        raise MergeNotFound("No such contact in this workspace.")
    if source.pk == target.pk:
        raise MergeRefused("These are the same contact already.")
    with transaction.atomic():
        source, target = lock_pair(Contact, actor.workspace_id, source.pk, target.pk)
        for contact in (source, target):
            if contact.merged_into_id is not None:
                raise MergeRefused(f"{contact} was already merged into another contact.")
        try:
            with transaction.atomic():
                return _merge_locked(source, target, actor=actor, reason=reason)
        except IntegrityError as error:
            raise MergeRefused("These contacts hold records that cannot be joined.") from error


def _merge_locked(source: Contact, target: Contact, *, actor: Agent, reason: str) -> ContactEvent:
    now = timezone.now()
    before = {
        "target": snapshot(target, CONTACT_FIELDS),
        "source": snapshot(source, CONTACT_FIELDS),
    }
    moved = move_rows(
        Contact, source_pk=source.pk, target_pk=target.pk, stay=CONTACT_ROWS_THAT_STAY
    )
    for name in ("display_name", "email", "phone"):
        if not getattr(target, name):
            setattr(target, name, getattr(source, name))
    source.email = source.phone = ""
    source.merged_into = target
    source.updated_at = target.updated_at = now
    after = {"target": snapshot(target, CONTACT_FIELDS), "source": snapshot(source, CONTACT_FIELDS)}
    restore(Contact, target.pk, after["target"])
    restore(Contact, source.pk, after["source"])
    undo = {"source": source.pk, "moved": moved, "before": before, "after": after}
    event = ContactEvent.objects.create(
        workspace_id=target.workspace_id,
        contact=target,
        type=ContactEvent.Type.MERGED,
        params={"role": "target", "reason": reason, "undo": undo},
        actor=actor,
        at=now,
    )
    ContactEvent.objects.create(
        workspace_id=source.workspace_id,
        contact=source,
        type=ContactEvent.Type.MERGED,
        params={"role": "source", "reason": reason, "event": event.pk},
        actor=actor,
        at=now,
    )
    _case_events(moved, CaseEvent.Type.CONTACT_MERGED, actor=actor, reason=reason)
    return event


def _case_events(moved: dict[str, Any], type_: str, *, actor: Agent, reason: str) -> None:
    """One line on the timeline of every case whose contact changed."""
    cases = Case.objects.filter(pk__in=moved.get("cases.Case.contact", [])).only(
        "id", "workspace_id"
    )
    at = timezone.now()
    CaseEvent.objects.bulk_create(
        CaseEvent(
            workspace_id=case.workspace_id,
            case=case,
            type=type_,
            params={"reason": reason} if reason else {},
            actor=actor,
            at=at,
        )
        for case in cases
    )


def _target_event(event: ContactEvent) -> ContactEvent:
    if event.type != ContactEvent.Type.MERGED:
        raise MergeRefused("That event is not a merge.")
    if event.params.get("role") != "source":
        return event
    found = ContactEvent.objects.filter(
        pk=event.params.get("event"), workspace_id=event.workspace_id
    ).first()
    if found is None:
        raise MergeRefused("The merge's record is missing.")
    return found


def is_undone(event: ContactEvent) -> bool:
    return ContactEvent.objects.filter(
        contact_id=event.contact_id, type=ContactEvent.Type.MERGE_UNDONE, params__undoes=event.pk
    ).exists()


def unmerge_contacts(*, event: ContactEvent, actor: Agent) -> Contact:
    """Undo a contact merge exactly. Refused (nothing changed) when undo would split a
    case history: a moved case merged with one of the target's cases, or the contacts'
    rows changed since."""
    if not may_merge_contacts(actor):
        raise PermissionDenied("Only supervisors undo contact merges.")
    if event.workspace_id != actor.workspace_id:
        raise MergeNotFound("No such merge in this workspace.")
    event = _target_event(event)
    undo = event.params["undo"]
    with transaction.atomic():
        target, source = lock_pair(Contact, actor.workspace_id, event.contact_id, undo["source"])
        if is_undone(event):
            raise MergeRefused("This merge was already undone.")
        _check_undoable(source, target, undo)
        move_rows_back(undo["moved"], from_pk=target.pk, to_pk=source.pk)
        restore(Contact, target.pk, undo["before"]["target"])
        restore(Contact, source.pk, undo["before"]["source"])
        now = timezone.now()
        ContactEvent.objects.bulk_create(
            ContactEvent(
                workspace_id=contact.workspace_id,
                contact=contact,
                type=ContactEvent.Type.MERGE_UNDONE,
                params={"undoes": event.pk},
                actor=actor,
                at=now,
            )
            for contact in (target, source)
        )
        _case_events(undo["moved"], CaseEvent.Type.CONTACT_MERGE_UNDONE, actor=actor, reason="")
    source.refresh_from_db()
    return source


def _check_undoable(source: Contact, target: Contact, undo: dict[str, Any]) -> None:
    for contact, side in ((source, "source"), (target, "target")):
        if changed_since(contact, undo["after"][side]):
            raise MergeRefused(f"{contact} has changed since the merge; undo is no longer exact.")
    if not rows_still_at(undo["moved"], owner_pk=target.pk):
        raise MergeRefused(
            "Some of what moved has moved on since (another merge); undo that first."
        )
    moved_cases = undo["moved"].get("cases.Case.contact", [])
    crossing = Case.objects.filter(pk__in=moved_cases, merged_into__isnull=False).exclude(
        merged_into__in=moved_cases
    ) | Case.objects.filter(merged_into__in=moved_cases).exclude(pk__in=moved_cases)
    if crossing.exists():
        raise MergeRefused(
            "Cases of the two contacts were merged together since; undo those merges first."
        )


def undoable_contact_events(contact_id: int) -> list[ContactEvent]:
    """The contact's merges not yet undone, newest first (two queries)."""
    done = set(
        ContactEvent.objects.filter(
            contact_id=contact_id, type=ContactEvent.Type.MERGE_UNDONE
        ).values_list("params__undoes", flat=True)
    )
    events = ContactEvent.objects.filter(
        contact_id=contact_id, type=ContactEvent.Type.MERGED
    ).order_by("-at", "-id")[:20]
    return [e for e in events if e.pk not in done and e.params.get("event") not in done][:10]
