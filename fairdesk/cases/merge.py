"""Merge two cases of one customer, split messages off into a new case, and undo either.

Nothing is deleted. A merge moves every row that points at the source case (messages,
outbox rows, work orders, resolutions, portal links, events, …: found from the model
graph, so a new table that references a case moves too) onto the target, and leaves the
source as a ``merged`` tombstone pointing at it. The target's event records the ids it
moved and the fields it changed, before and after: undo moves exactly those rows back
and restores exactly those fields, and refuses when something has changed since (a
later merge, a split, a new message) rather than guess.

Fairness (DESIGN §5): the merged case keeps the earliest first-inbound time, waiting
time and deadline of the two and the most severe of their severities. Two cases about
the same thing never become *more* urgent than either was: merging counts nothing.

Locks: both case rows, lowest id first (``lock_pair``), so two merges of the same cases
in opposite directions queue instead of deadlocking, and the second sees the first.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.apps import apps
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from fairdesk.cases.lifecycle import apply_inbound, apply_response, refresh_deadlines
from fairdesk.cases.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Direction,
    Message,
    Visibility,
)
from fairdesk.replies.models import OutboxMessage
from fairdesk.routing.policy import most_severe
from fairdesk.routing.queries import targets_table
from fairdesk.triage.severity import severity_of
from fairdesk.triage.types import TriageResult
from fairdesk.workspaces.models import Agent

M = TypeVar("M", bound=models.Model)
MAX_REASON = 300
MAX_SPLIT = 500
# Rows that describe the source case itself and stay with it: an escalation is the
# record of one of *its* deadlines (unique per case and deadline), and the expectation
# row is what *its* customer was last told (one per case; its pending update is held).
CASE_ROWS_THAT_STAY = frozenset({"routing.Escalation", "followthrough.ExpectationUpdate"})
# The target fields a merge combines, and the source fields it sets (see _combined).
TARGET_FIELDS = (
    "status",
    "severity",
    "first_inbound_at",
    "last_inbound_at",
    "awaiting_since",
    "first_response_at",
    "last_response_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "escalation_at",
    "updated_at",
)
SOURCE_FIELDS = (
    "status",
    "merged_into_id",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "escalation_at",
    "updated_at",
)
# What a split moves (and its undo checks separately); any other row on the new case
# means someone has worked on it since.
SPLIT_ROWS = frozenset({"cases.Message", "replies.OutboxMessage", "cases.CaseEvent"})
DEADLINES = ("first_response_due_at", "next_response_due_at", "resolution_due_at")


class MergeRefused(ValueError):
    """The merge, split or undo cannot be done as asked; nothing was changed."""


class MergeNotFound(MergeRefused):
    """An id that is not of this workspace (or not of this case): a 404 to callers."""


# --- moving rows that point at an owner (shared with contacts.merge) ---------------------


def reverse_relations(owner: type[models.Model], *, stay: frozenset[str]) -> list[Any]:
    """Every foreign key from another table to ``owner`` (hidden ``related_name="+"``
    ones too), except the owner's own self-references and the tables in ``stay``."""
    found = []
    for rel in owner._meta.get_fields(include_hidden=True):
        if not (rel.is_relation and rel.auto_created and not rel.concrete):
            continue
        model = rel.related_model
        if model is None or rel.many_to_many or model is owner or model._meta.label in stay:
            continue
        found.append(rel)
    return found


def move_rows(
    owner: type[models.Model], *, source_pk: int, target_pk: int, stay: frozenset[str]
) -> dict[str, list[Any]]:
    """Point every row referencing ``source_pk`` at ``target_pk``; return the moved ids as
    ``{"app.Model.field": [ids]}``. A one-to-one row moves only where the target has none.
    ``QuerySet.update`` leaves the rows' ``updated_at`` alone, so undo can be exact."""
    moved: dict[str, list[Any]] = {}
    for rel in reverse_relations(owner, stay=stay):
        manager = rel.related_model._base_manager
        name = rel.field.name
        if rel.one_to_one and manager.filter(**{name: target_pk}).exists():
            continue
        ids = [
            _plain_pk(pk) for pk in manager.filter(**{name: source_pk}).values_list("pk", flat=True)
        ]
        if ids:
            manager.filter(pk__in=ids).update(**{name: target_pk})
            moved[f"{rel.related_model._meta.label}.{name}"] = ids
    return moved


def rows_still_at(moved: dict[str, list[Any]], *, owner_pk: int) -> bool:
    """True when every moved row still points at ``owner_pk`` (nothing moved them on)."""
    for key, ids in moved.items():
        model, name = _model_field(key)
        if model._base_manager.filter(pk__in=ids, **{name: owner_pk}).count() != len(ids):
            return False
    return True


def move_rows_back(moved: dict[str, list[Any]], *, from_pk: int, to_pk: int) -> None:
    for key, ids in moved.items():
        model, name = _model_field(key)
        model._base_manager.filter(pk__in=ids, **{name: from_pk}).update(**{name: to_pk})


def _model_field(key: str) -> tuple[type[models.Model], str]:
    app_label, model_name, name = key.split(".")
    return apps.get_model(app_label, model_name), name


def _plain_pk(pk: Any) -> Any:
    return pk if isinstance(pk, int) else str(pk)


# --- row snapshots for exact undo --------------------------------------------------------


def snapshot(row: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The fields' values, JSON-ready (datetimes as ISO text in UTC)."""
    return {name: _json(getattr(row, name)) for name in fields}


def restore(model: type[models.Model], pk: int, values: dict[str, Any]) -> None:
    """Write the snapshot back with one UPDATE (``updated_at`` included, not bumped)."""
    parsed = {name: _field(model, name).to_python(v) for name, v in values.items()}
    model._base_manager.filter(pk=pk).update(**parsed)


def _field(model: type[models.Model], name: str) -> "models.Field[Any, Any]":
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def changed_since(row: models.Model, after: dict[str, Any]) -> list[str]:
    """The fields that no longer hold what the operation wrote (``updated_at`` aside:
    any save bumps it, and it is only restored when it still matches)."""
    now = snapshot(row, after)
    return [name for name in after if name != "updated_at" and now[name] != after[name]]


def clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_REASON:
        raise MergeRefused(f"Keep the reason under {MAX_REASON} characters.")
    return reason


# --- locks -------------------------------------------------------------------------------


def lock_pair(model: type[M], workspace_id: int, first_pk: int, second_pk: int) -> tuple[M, M]:
    """Lock two rows (cases, contacts) of one workspace, lowest id first, whatever the
    direction asked; ``MergeNotFound`` if either is not in the workspace."""
    rows = {
        row.pk: row
        for row in model._base_manager.select_for_update()
        .filter(workspace_id=workspace_id, pk__in=[first_pk, second_pk])
        .order_by("id")
    }
    if first_pk not in rows or second_pk not in rows:
        raise MergeNotFound(f"No such {model._meta.verbose_name} in this workspace.")
    return rows[first_pk], rows[second_pk]


# --- merge -------------------------------------------------------------------------------


def merge_cases(*, source: Case, target: Case, actor: Agent, reason: str = "") -> CaseEvent:
    """Fold ``source`` into ``target``; returns the target's ``merged`` event (undo it
    with ``unmerge``). Both must be cases of the actor's workspace and of one contact:
    cases of two contacts are refused until the contacts are merged, because a case's
    replies go to its own contact only, and joining two people is a supervisor's
    decision (``contacts.merge``), made once for the person, not per case."""
    reason = clean_reason(reason)
    if source.workspace_id != actor.workspace_id or target.workspace_id != actor.workspace_id:
        raise MergeNotFound("No such case in this workspace.")
    if source.pk == target.pk:
        raise MergeRefused("A case cannot be merged into itself.")
    with transaction.atomic():
        source, target = lock_pair(Case, actor.workspace_id, source.pk, target.pk)
        _check_mergeable(source, target)
        try:
            with transaction.atomic():
                return _merge_locked(source, target, actor=actor, reason=reason)
        except IntegrityError as error:
            raise MergeRefused(
                f"{source} and {target} hold records that cannot be joined."
            ) from error


def _check_mergeable(source: Case, target: Case) -> None:
    for case in (source, target):
        if case.status == CaseStatus.MERGED:
            raise MergeRefused(f"{case} was already merged into another case.")
    if source.contact_id != target.contact_id:
        raise MergeRefused(
            f"{source} and {target} belong to different contacts: merge the contacts first."
        )
    if source.is_open and not target.is_open:
        raise MergeRefused(f"{target} is {target.status}; merge it into {source} instead.")
    pending = source.resolutions.filter(outcome="pending").exists()
    if pending and target.resolutions.filter(outcome="pending").exists():
        raise MergeRefused("Both cases wait for the customer to confirm a fix; settle one first.")


def _merge_locked(source: Case, target: Case, *, actor: Agent, reason: str) -> CaseEvent:
    now = timezone.now()
    before = {"target": snapshot(target, TARGET_FIELDS), "source": snapshot(source, SOURCE_FIELDS)}
    moved = move_rows(Case, source_pk=source.pk, target_pk=target.pk, stay=CASE_ROWS_THAT_STAY)
    held = _hold_expectation_update(source)
    if source.is_open:
        _combine(target, source)
    target.updated_at = now
    _tombstone(source, into=target, now=now)
    after = {"target": snapshot(target, TARGET_FIELDS), "source": snapshot(source, SOURCE_FIELDS)}
    restore(Case, target.pk, after["target"])
    restore(Case, source.pk, after["source"])
    undo = {
        "source": source.pk,
        "moved": moved,
        "before": before,
        "after": after,
        "held_update": held,
    }
    done: dict[str, Any] = {"actor": actor, "at": now, "reason": reason}
    event = _event(target, CaseEvent.Type.MERGED, role="target", from_=source, undo=undo, **done)
    _event(source, CaseEvent.Type.MERGED, role="source", into=target, event=event.pk, **done)
    return event


def _event(case: Case, type_: str, *, actor: Agent, at: datetime, **params: Any) -> CaseEvent:
    """One timeline row. Cases in ``params`` are written as their reference (``FD-12``),
    an empty reason is left out; ``from_`` stands for ``from``."""
    params = {
        key.rstrip("_"): value.reference if isinstance(value, Case) else value
        for key, value in params.items()
        if value != ""
    }
    return CaseEvent.objects.create(
        workspace_id=case.workspace_id, case=case, type=type_, params=params, actor=actor, at=at
    )


def _combine(target: Case, source: Case) -> None:
    """The earliest of every time the customer has waited from, every deadline they were
    promised, the most severe of the two severities: merging never raises anything past
    what one of the two cases already had, and never resets a wait."""
    target.severity = most_severe(target.severity, source.severity)
    target.first_inbound_at = min(target.first_inbound_at, source.first_inbound_at)
    target.last_inbound_at = max(target.last_inbound_at, source.last_inbound_at)
    target.awaiting_since = _earliest(target.awaiting_since, source.awaiting_since)
    target.first_response_at = _earliest(target.first_response_at, source.first_response_at)
    target.last_response_at = _latest(target.last_response_at, source.last_response_at)
    for name in DEADLINES:
        setattr(target, name, _earliest(getattr(target, name), getattr(source, name)))
    target.escalation_at = _earliest(*(getattr(target, name) for name in DEADLINES))
    if target.status == CaseStatus.PENDING_CUSTOMER and target.awaiting_since is not None:
        target.status = CaseStatus.OPEN  # the source's customer is still waiting on us


def _tombstone(case: Case, *, into: Case | None, now: datetime) -> None:
    case.status = CaseStatus.MERGED
    case.merged_into = into
    for name in (*DEADLINES, "escalation_at"):
        setattr(case, name, None)
    case.updated_at = now


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _hold_expectation_update(case: Case) -> str | None:
    """A status update still due on the source would tell its customer "merged" in
    words the customer never sees: hold it (undo puts the due time back)."""
    from fairdesk.followthrough.models import ExpectationUpdate

    row = ExpectationUpdate.objects.filter(case=case, due_at__isnull=False).first()
    if row is None:
        return None
    ExpectationUpdate.objects.filter(pk=row.pk).update(due_at=None)
    return _json(row.due_at)


# --- undo a merge ------------------------------------------------------------------------


def _merge_event(event: CaseEvent) -> CaseEvent:
    """The target-side ``merged`` event holding the undo data, from either side."""
    if event.type != CaseEvent.Type.MERGED:
        raise MergeRefused("That event is not a merge.")
    if event.params.get("role") == "source":
        found = CaseEvent.objects.filter(
            pk=event.params.get("event"), workspace_id=event.workspace_id
        ).first()
        if found is None:
            raise MergeRefused("The merge's record is missing.")
        return found
    return event


def is_undone(event: CaseEvent) -> bool:
    return CaseEvent.objects.filter(
        case_id=event.case_id, type=UNDO_TYPES.get(str(event.type), ""), params__undoes=event.pk
    ).exists()


def unmerge(*, event: CaseEvent, actor: Agent) -> Case:
    """Undo a merge exactly: the moved rows go back, both cases get their fields back.
    Refused (nothing changed) once either case has changed in a way undo would lose."""
    if event.workspace_id != actor.workspace_id:
        raise MergeNotFound("No such merge in this workspace.")
    event = _merge_event(event)
    undo = event.params["undo"]
    with transaction.atomic():
        target, source = lock_pair(Case, actor.workspace_id, event.case_id, undo["source"])
        if is_undone(event):
            raise MergeRefused("This merge was already undone.")
        _check_unmergeable(source, target, undo)
        move_rows_back(undo["moved"], from_pk=target.pk, to_pk=source.pk)
        _restore_case(target, undo["before"]["target"], undo["after"]["target"])
        restore(Case, source.pk, undo["before"]["source"])
        if undo.get("held_update"):
            _release_expectation_update(source, undo["held_update"])
        _undone_events(event, target, source, actor=actor, type_=CaseEvent.Type.MERGE_UNDONE)
    source.refresh_from_db()
    return source


def _check_unmergeable(source: Case, target: Case, undo: dict[str, Any]) -> None:
    if changed_since(source, undo["after"]["source"]):
        raise MergeRefused(f"{source} has changed since the merge; undo is no longer exact.")
    changed = changed_since(target, undo["after"]["target"])
    if changed:
        fields = ", ".join(name.replace("_", " ") for name in changed)
        raise MergeRefused(
            f"{target} has changed since the merge ({fields}); undo is no longer exact. "
            "Split the messages off instead."
        )
    if not rows_still_at(undo["moved"], owner_pk=target.pk):
        raise MergeRefused(f"Some of what moved into {target} has moved on since; undo that first.")


def _restore_case(case: Case, before: dict[str, Any], after: dict[str, Any]) -> None:
    values = dict(before)
    if _json(case.updated_at) != after.get("updated_at"):
        values.pop("updated_at")  # saved since (e.g. assigned): keep that moment
    restore(Case, case.pk, values)


def _release_expectation_update(case: Case, due_at: str) -> None:
    from fairdesk.followthrough.models import ExpectationUpdate

    ExpectationUpdate.objects.filter(case=case, due_at__isnull=True).update(
        due_at=_field(ExpectationUpdate, "due_at").to_python(due_at)
    )


def _undone_events(
    event: CaseEvent, first: Case, second: Case, *, actor: Agent, type_: str
) -> None:
    now = timezone.now()
    CaseEvent.objects.bulk_create(
        CaseEvent(
            workspace_id=case.workspace_id,
            case=case,
            type=type_,
            params={"undoes": event.pk, "cases": f"{first} and {second}"},
            actor=actor,
            at=now,
        )
        for case in (first, second)
    )


# --- split -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    case: Case
    event: CaseEvent
    moved: int


def split_case(*, case: Case, message_ids: Iterable[int], actor: Agent, reason: str = "") -> Split:
    """Move the chosen messages, and every reply to them on this case, into a new case of
    the same contact. Its times and deadlines come from the moved messages' own platform
    times (a split never restarts anyone's wait) and its severity from their content."""
    reason = clean_reason(reason)
    wanted = sorted({int(pk) for pk in message_ids})
    if not wanted or len(wanted) > MAX_SPLIT:
        raise MergeRefused(f"Choose between 1 and {MAX_SPLIT} messages to split off.")
    if case.workspace_id != actor.workspace_id:
        raise MergeNotFound("No such case in this workspace.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.status == CaseStatus.MERGED:
            raise MergeRefused(f"{case} was merged into another case; split that one.")
        messages = list(Message.objects.filter(case=case).order_by("sent_at", "id"))
        chosen = _with_replies(messages, wanted)
        new = _new_case(case, chosen)
        return _write_split(case, new, chosen, actor=actor, reason=reason)


def _with_replies(messages: list[Message], wanted: list[int]) -> list[Message]:
    by_pk = {m.pk: m for m in messages}
    if any(pk not in by_pk for pk in wanted):
        raise MergeNotFound("Some of those messages are not on this case.")
    chosen = {pk: by_pk[pk] for pk in wanted}
    grew = True
    while grew:  # replies to replies: until nothing new answers a chosen message
        answered = {(m.channel, m.external_id) for m in chosen.values() if m.external_id}
        more = [
            m for m in messages if m.pk not in chosen and (m.channel, m.in_reply_to) in answered
        ]
        chosen.update((m.pk, m) for m in more)
        grew = bool(more)
    if len(chosen) == len(messages):
        raise MergeRefused("Leave at least one message on this case.")
    if not any(m.direction == Direction.INBOUND for m in chosen.values()):
        raise MergeRefused("Choose at least one customer message: a case starts with one.")
    return sorted(chosen.values(), key=lambda m: (m.sent_at, m.pk))


def _new_case(case: Case, chosen: list[Message]) -> Case:
    """The new case, replaying the moved messages through the usual lifecycle."""
    inbound = [m for m in chosen if m.direction == Direction.INBOUND]
    first = inbound[0]
    new = Case(
        workspace_id=case.workspace_id,
        contact_id=case.contact_id,
        team_id=case.team_id,
        status=CaseStatus.NEW,
        severity=_severity(inbound, fallback=case.severity),
        entitlement=case.entitlement,
        topic=_triage_value(inbound, "topic") or case.topic,
        reason=next(iter(_triage_value(inbound, "signals") or ()), ""),
        subject=" ".join(first.text.split())[:200],
        origin_channel=first.channel,
        first_inbound_at=first.sent_at,
        last_inbound_at=first.sent_at,
    )
    for message in chosen:
        if message.direction == Direction.INBOUND:
            apply_inbound(new, at=message.sent_at, severity=new.severity)
        elif message.direction == Direction.OUTBOUND and message.visibility != Visibility.INTERNAL:
            apply_response(new, at=message.sent_at)
    refresh_deadlines(new, targets_table(case.workspace))
    return new


def _severity(inbound: list[Message], *, fallback: str) -> str:
    """From what the moved messages say (the same rule as on arrival), never how many."""
    found = [
        severity_of(_triage_of(m.triage))
        for m in inbound
        if isinstance(m.triage, dict) and m.triage
    ]
    return most_severe(*found) if found else fallback


def _triage_of(stored: dict[str, Any]) -> TriageResult:
    return TriageResult(
        language="",
        sentiment="",
        sentiment_score=0.0,
        signals=tuple(str(s) for s in stored.get("signals", ())),
        topic=str(stored.get("topic", "")),
        intent=str(stored.get("intent", "")),
        praise=False,
        praised_staff=(),
        stance="",
        spam=False,
        spam_reason="",
        offensive=False,
    )


def _triage_value(inbound: list[Message], key: str) -> Any:
    for message in inbound:
        value = message.triage.get(key) if isinstance(message.triage, dict) else None
        if value and value != "other":
            return value
    return None


def _write_split(
    case: Case, new: Case, chosen: list[Message], *, actor: Agent, reason: str
) -> Split:
    now = timezone.now()
    new.save()
    ids = [m.pk for m in chosen]
    outbox = list(OutboxMessage.objects.filter(message_id__in=ids).values_list("pk", flat=True))
    Message.objects.filter(pk__in=ids).update(case=new)
    OutboxMessage.objects.filter(pk__in=outbox).update(case=new)
    undo = {"case": new.pk, "messages": ids, "outbox": outbox}
    done: dict[str, Any] = {"actor": actor, "at": now, "reason": reason, "messages": len(ids)}
    event = _event(case, CaseEvent.Type.SPLIT, into=new, undo=undo, **done)
    _event(new, CaseEvent.Type.SPLIT, from_=case, **done)
    return Split(case=new, event=event, moved=len(ids))


def undo_split(*, event: CaseEvent, actor: Agent) -> Case:
    """Put the split-off messages back. The new case stays, as a ``merged`` tombstone
    pointing at the original (events are never deleted). Refused once anything else
    happened on the new case."""
    if event.workspace_id != actor.workspace_id:
        raise MergeNotFound("No such split in this workspace.")
    if event.type != CaseEvent.Type.SPLIT or "undo" not in event.params:
        raise MergeRefused("That event is not a split.")
    undo = event.params["undo"]
    with transaction.atomic():
        case, new = lock_pair(Case, actor.workspace_id, event.case_id, undo["case"])
        if is_undone(event):
            raise MergeRefused("This split was already undone.")
        _check_split_undoable(new, undo)
        Message.objects.filter(pk__in=undo["messages"]).update(case=case)
        OutboxMessage.objects.filter(pk__in=undo["outbox"]).update(case=case)
        _tombstone(new, into=case, now=timezone.now())
        new.save(update_fields=["status", "merged_into", *DEADLINES, "escalation_at", "updated_at"])
        _undone_events(event, case, new, actor=actor, type_=CaseEvent.Type.SPLIT_UNDONE)
    case.refresh_from_db()
    return case


def _check_split_undoable(new: Case, undo: dict[str, Any]) -> None:
    if new.status == CaseStatus.MERGED:
        raise MergeRefused(f"{new} was merged since; undo that first.")
    messages = set(Message.objects.filter(case=new).values_list("pk", flat=True))
    if messages != set(undo["messages"]):
        raise MergeRefused(f"{new} has changed since the split; merge it back instead.")
    if CaseEvent.objects.filter(case=new).exclude(type=CaseEvent.Type.SPLIT).exists() or any(
        rel.related_model._base_manager.filter(**{rel.field.name: new.pk}).exists()
        for rel in reverse_relations(Case, stay=SPLIT_ROWS)
    ):
        raise MergeRefused(f"{new} has been worked on since the split; merge it back instead.")


def merge_target_of(case: Case) -> Case | None:
    """Where a merged case's history now lives (one step; a chain is followed by links)."""
    if case.merged_into_id is None:
        return None
    return Case.objects.filter(pk=case.merged_into_id, workspace_id=case.workspace_id).first()


# --- what the case page offers to undo ---------------------------------------------------

UNDO_TYPES: dict[str, str] = {
    CaseEvent.Type.MERGED: CaseEvent.Type.MERGE_UNDONE,
    CaseEvent.Type.SPLIT: CaseEvent.Type.SPLIT_UNDONE,
}
UNDOABLE_SHOWN = 10


def undoable_events(case: Case) -> list[CaseEvent]:
    """Merges and splits recorded on this case and not yet undone, newest first (one
    query: a case's merges, splits and their undos are few). Whether undo is still
    exact is decided when it is asked for."""
    recorded = list(
        CaseEvent.objects.filter(case=case, type__in=[*UNDO_TYPES, *UNDO_TYPES.values()]).order_by(
            "-at", "-id"
        )
    )
    done = {e.params.get("undoes") for e in recorded if e.type not in UNDO_TYPES}
    found = []
    for event in [e for e in recorded if e.type in UNDO_TYPES][: UNDOABLE_SHOWN * 2]:
        target_side = event.params.get("event", event.pk)
        if event.pk in done or target_side in done:
            continue
        if event.type == CaseEvent.Type.SPLIT and "undo" not in event.params:
            continue  # the new case's side of a split: undone from the original
        found.append(event)
    return found[:UNDOABLE_SHOWN]


def undoable_event(case: Case, event_id: int) -> CaseEvent | None:
    """A merge or split event of this case (None: 404 for the caller)."""
    return CaseEvent.objects.filter(
        pk=event_id, case=case, workspace_id=case.workspace_id, type__in=list(UNDO_TYPES)
    ).first()


def undo(*, event: CaseEvent, actor: Agent) -> Case:
    """Undo a merge or a split; returns the case that got its history back."""
    if event.type == CaseEvent.Type.SPLIT:
        return undo_split(event=event, actor=actor)
    return unmerge(event=event, actor=actor)
