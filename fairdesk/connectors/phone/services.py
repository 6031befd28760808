"""Writes for phone calls: an agent logs a call on a case, a telephony system reports one.

A call is a private message on channel "phone". An inbound call (the customer rang us)
is a customer message; an outbound call (we rang them) answers them, exactly like a
reply for the SLA clock (``apply_response``).

Calls reported by a telephony system go through the inbound store and the pipeline, like
every channel's messages, so a known number or a quoted case reference joins the
customer's case. The exception is an outbound call that belongs to a case (the one the
record names, else the open case of the number called): the pipeline threads our own
messages only as answers to an earlier message on the same channel, and a call-back
usually answers a message from another channel, so it is filed on that case directly,
as if an agent had logged it. An outbound call with no case is stored for the pipeline
as history.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Case as DbCase
from django.db.models import Value, When
from django.utils import timezone

from fairdesk.cases.lifecycle import (
    DEADLINE_FIELDS,
    apply_inbound,
    apply_response,
    refresh_deadlines,
)
from fairdesk.cases.models import Case, CaseEvent, DeliveryStatus, Direction, Message, Visibility
from fairdesk.connectors.models import Channel
from fairdesk.connectors.phone import adapter, queries
from fairdesk.connectors.services import record_event
from fairdesk.contacts.models import ContactIdentity
from fairdesk.inbound.identities import lock_contacts
from fairdesk.inbound.services import store_events
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Agent

MAX_NOTES_CHARS = 4_000
MAX_TRANSCRIPT_CHARS = 15_000
MAX_DURATION = timedelta(hours=24)
# How far a call's start may lie ahead of our clock (the telephony system's may differ).
CLOCK_SKEW = timedelta(minutes=5)


class CallInvalid(ValueError):
    """The call cannot be recorded as given; nothing was written."""


class NoPhoneChannel(Exception):
    """The workspace has no phone channel to receive telephony records on."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call as a telephony system reports it; ``customer_number`` is E.164."""

    call_id: str
    direction: str
    customer_number: str
    started_at: datetime
    duration: timedelta
    caller_name: str = ""
    notes: str = ""
    transcript: str = ""
    case_reference: str = ""


@dataclass(frozen=True, slots=True)
class CallReceipt:
    """``stored`` False: the call id was known (nothing written). ``case``: the case the
    call was filed on at once, None when the pipeline files it later."""

    stored: bool
    case: Case | None = None


def log_call(
    *,
    case: Case,
    agent: Agent,
    direction: str,
    started_at: datetime,
    duration: timedelta,
    notes: str,
    key: str,
) -> Message:
    """Record a call an agent had with the case's customer, with a timeline event. The
    notes are the agent's summary, not the customer's words, so triage does not read
    them and an inbound call leaves the case's severity as it is.

    ``key`` is minted when the form renders: the same key again returns the call already
    logged and writes nothing.
    """
    if agent.workspace_id != case.workspace_id:
        raise PermissionDenied("This case belongs to another workspace.")
    check_call(direction=direction, started_at=started_at, duration=duration, notes=notes)
    if not key or len(key) > 100:
        raise CallInvalid("The form is missing its key; reload the page.")
    message, _ = _file_on_case(
        case=case,
        agent=agent,
        direction=direction,
        started_at=started_at,
        duration=duration,
        text=adapter.call_text(direction=direction, duration=duration, notes=notes),
        external_id=f"logged-{key}",
    )
    if message.case_id != case.pk:
        raise CallInvalid("This form was already used for another case; reload the page.")
    return message


def receive_call(*, agent: Agent, call: CallRecord) -> CallReceipt:
    """Store a call reported by the telephony system with ``agent``'s API token, in
    ``agent``'s workspace only, and mark the phone channel's health.

    Raises ``NoPhoneChannel``, or ``CallInvalid`` (a case reference this workspace does
    not have, bad values) with nothing written. A known call id is a no-op.
    """
    workspace = agent.workspace
    channel = queries.phone_channel(workspace=workspace)
    if channel is None:
        raise NoPhoneChannel("Connect a phone channel in this workspace first.")
    check_call(
        direction=call.direction,
        started_at=call.started_at,
        duration=call.duration,
        notes=call.notes,
        transcript=call.transcript,
    )
    named = _named_case(agent, call.case_reference)
    if queries.call_known(workspace=workspace, call_id=call.call_id):
        return CallReceipt(stored=False)
    if call.direction == "outbound":
        case = named or queries.open_case_for_number(
            workspace=workspace, number=call.customer_number
        )
        if case is not None:
            return _file_reported(channel=channel, agent=agent, case=case, call=call)
    return _store_reported(channel=channel, call=call)


def check_call(
    *,
    direction: str,
    started_at: datetime,
    duration: timedelta,
    notes: str,
    transcript: str = "",
) -> None:
    """Refuse what cannot be a real call record, with a message for the person or the
    system that sent it."""
    if direction not in adapter.DIRECTIONS:
        raise CallInvalid("A call is inbound or outbound.")
    if timezone.is_naive(started_at):
        raise CallInvalid("The start time needs a time zone.")
    if started_at > timezone.now() + CLOCK_SKEW:
        raise CallInvalid("A call cannot start in the future.")
    if not timedelta(0) <= duration <= MAX_DURATION:
        raise CallInvalid("A call lasts between 0 seconds and 24 hours.")
    if len(notes) > MAX_NOTES_CHARS:
        raise CallInvalid(f"Notes can be at most {MAX_NOTES_CHARS:,} characters.")
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise CallInvalid(f"A transcript can be at most {MAX_TRANSCRIPT_CHARS:,} characters.")


def _named_case(agent: Agent, reference: str) -> Case | None:
    if not reference:
        return None
    case = queries.case_by_reference(workspace=agent.workspace, reference=reference)
    if case is None:
        raise CallInvalid(f"There is no case {reference} in this workspace.")
    return case


def _reported_text(call: CallRecord) -> str:
    return adapter.call_text(
        direction=call.direction,
        duration=call.duration,
        notes=call.notes,
        transcript=call.transcript,
        case_reference=call.case_reference,
    )


def _file_reported(*, channel: Channel, agent: Agent, case: Case, call: CallRecord) -> CallReceipt:
    with transaction.atomic():
        _, created = _file_on_case(
            case=case,
            agent=agent,
            direction=call.direction,
            started_at=call.started_at,
            duration=call.duration,
            text=_reported_text(call),
            external_id=call.call_id,
        )
        record_event(channel=channel)
    return CallReceipt(stored=created, case=case if created else None)


def _store_reported(*, channel: Channel, call: CallRecord) -> CallReceipt:
    record = adapter.record(
        call_id=call.call_id,
        direction=call.direction,
        customer_number=call.customer_number,
        caller_name=call.caller_name,
        started_at=call.started_at,
        text=_reported_text(call),
    )
    with transaction.atomic():
        result = store_events(workspace=channel.workspace, records=[record], source="phone")
        record_event(channel=channel)
    return CallReceipt(stored=result.stored == 1)


def _file_on_case(
    *,
    case: Case,
    agent: Agent,
    direction: str,
    started_at: datetime,
    duration: timedelta,
    text: str,
    external_id: str,
) -> tuple[Message, bool]:
    """The call's message on ``case`` and its effect on the case's clock, in one
    transaction; the message already stored under ``external_id`` if there is one."""
    existing = _stored(case, external_id)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            # The pipeline's lock order: the contact first, then the case.
            lock_contacts([case.contact_id])
            locked = Case.objects.select_for_update().select_related("workspace").get(pk=case.pk)
            message = _call_message(locked, agent, direction, started_at, text, external_id)
            _apply(locked, direction=direction, at=started_at)
            _call_event(locked, message, agent=agent, duration=duration)
            return message, True
    except IntegrityError:  # the same call, stored by a concurrent request
        existing = _stored(case, external_id)
        if existing is None:
            raise
        return existing, False


def _call_event(case: Case, message: Message, *, agent: Agent, duration: timedelta) -> CaseEvent:
    """The timeline entry of a call: an inbound call is the customer speaking (message
    received), an outbound call is our answer (reply sent)."""
    inbound = message.direction == Direction.INBOUND
    return CaseEvent.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        type=CaseEvent.Type.MESSAGE_RECEIVED if inbound else CaseEvent.Type.REPLY_SENT,
        params={
            "message_id": message.pk,
            "channel": adapter.CHANNEL,
            "call": message.direction,
            "duration": adapter.describe_duration(duration),
        },
        actor=agent,
        at=message.sent_at,
    )


def _stored(case: Case, external_id: str) -> Message | None:
    return Message.objects.filter(
        workspace_id=case.workspace_id, channel=adapter.CHANNEL, external_id=external_id
    ).first()


def _call_message(
    case: Case, agent: Agent, direction: str, started_at: datetime, text: str, external_id: str
) -> Message:
    inbound = direction == "inbound"
    return Message.objects.create(
        workspace_id=case.workspace_id,
        case=case,
        channel=adapter.CHANNEL,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        visibility=Visibility.PRIVATE,
        identity=_speaker(case) if inbound else None,
        agent=agent,
        external_id=external_id,
        text=text,
        sent_at=started_at,
        delivery_status=DeliveryStatus.RECEIVED if inbound else DeliveryStatus.SENT,
    )


def _speaker(case: Case) -> ContactIdentity | None:
    """Who spoke on an inbound call: the customer's phone identity, else (no number
    known yet) their oldest identity, so the timeline still names the customer."""
    phone_first = DbCase(When(channel=adapter.CHANNEL, then=Value(0)), default=Value(1))
    return (
        ContactIdentity.objects.filter(contact_id=case.contact_id)
        .order_by(phone_first, "id")
        .first()
    )


def _apply(case: Case, *, direction: str, at: datetime) -> None:
    if direction == "inbound":
        apply_inbound(case, at=at, severity=case.severity)
    else:
        apply_response(case, at=at)
    refresh_deadlines(case, targets_table(case.workspace))
    case.save(update_fields=DEADLINE_FIELDS)
