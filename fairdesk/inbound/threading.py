"""Threading for one batch, inside the pipeline's transaction.

Every lookup is one query for the whole batch. Contacts touched by the batch are locked
in id order (``identities.lock_contacts``) before their open cases are read, so two
workers can never open two cases for the same customer at once.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import Q
from django.db.models.fields.json import KT

from fairdesk.cases.lifecycle import (
    DEADLINE_FIELDS,
    apply_inbound,
    apply_response,
    refresh_deadlines,
)
from fairdesk.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    DeliveryStatus,
    Direction,
    Message,
)
from fairdesk.contacts.models import ContactIdentity
from fairdesk.followthrough.satisfaction import survey_answers
from fairdesk.inbound.bulk_writes import (
    adapt_datetime,
    create_rows,
    insert_values,
    update_rows,
)
from fairdesk.inbound.echoes import fold_echoes
from fairdesk.inbound.events import (
    acknowledge_security_report,
    case_opened,
    pileon_alerted,
    pileon_raised,
    praise_forwarded,
    rerouted,
    security_ack_text,
    severity_changed,
)
from fairdesk.inbound.identities import (
    CASE_REFERENCE,
    IdentityResolver,
    identity_key,
    lock_contacts,
    referenced_case,
)
from fairdesk.inbound.team_alerts import PileonAlert, queue_pileon_alerts
from fairdesk.replies.models import OutboxMessage
from fairdesk.routing.queries import targets_table
from fairdesk.routing.rules import Arrival, ArrivalRouter
from fairdesk.routing.teams import team_for
from fairdesk.triage import pileon
from fairdesk.workspaces.models import Employee, Team, Workspace

if TYPE_CHECKING:
    from fairdesk.inbound.pipeline import ClaimedEvent, Parsed

MESSAGE_COLUMNS = (
    "workspace_id",
    "case_id",
    "channel",
    "direction",
    "visibility",
    "identity_id",
    "agent_id",
    "external_id",
    "in_reply_to",
    "brand_handle",
    "text",
    "sent_at",
    "delivery_status",
    "sentiment",
    "stance",
    "is_spam",
    "duplicate_of",
    "triage",
    "created_at",
)
CASE_EVENT_COLUMNS = ("workspace_id", "case_id", "type", "params", "actor_id", "at")
# What threading reads of an existing case: its lifecycle and routing fields. The
# deadlines are not read: refresh_deadlines sets all of them before a case is written.
CASE_FIELDS = (
    "id",
    "workspace_id",
    "contact_id",
    "team_id",
    "status",
    "severity",
    "entitlement",
    "reason",
    "topic",
    "first_inbound_at",
    "last_inbound_at",
    "awaiting_since",
    "first_response_at",
    "last_response_at",
    "resolved_at",
    "updated_at",
)
MAX_DEFERRALS = 3
# Recent messages read per batch to find pile-ons: a bound on the one query's cost.
PILEON_MAX_RECENT = 5_000


@dataclass(slots=True)
class ThreadResult:
    new_cases: list[Case] = field(default_factory=list)
    touched: dict[int, Case] = field(default_factory=dict)
    # (item, case, identity id or None for a brand reply): rows are built at save time,
    # once the new cases have their ids.
    messages: list[tuple["Parsed", Case | None, int | None]] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)
    acks: list[tuple[Message, OutboxMessage]] = field(default_factory=list)
    mails: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    alerts: list[PileonAlert] = field(default_factory=list)  # e-mails to the owning teams
    deferred: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PileOnScan:
    """Pile-ons a batch joins, with the earlier messages' contacts and cases by key."""

    pileons: list[pileon.PileOn] = field(default_factory=list)
    contacts: set[int] = field(default_factory=set)  # to lock: cases of theirs get raised
    case_ids: dict[str, int] = field(default_factory=dict)
    alerted: set[int] = field(default_factory=set)  # cases already raised for a pile-on
    authors: dict[str, int] = field(default_factory=dict)  # earlier report key -> contact


class BatchThreader:
    def __init__(self, *, workspace: Workspace, now: datetime) -> None:
        self.workspace = workspace
        self.now = now
        self.teams: list[Team] = list(Team.objects.filter(workspace=workspace))
        self.router = ArrivalRouter(workspace=workspace, teams=self.teams, now=now)
        self.targets = targets_table(workspace)
        self.brand_handle = workspace.brand_handle
        self._employees: dict[int, Employee] | None = None

    @property
    def employees(self) -> dict[int, Employee]:
        """The staff directory, loaded once per batch and only when praise names someone."""
        if self._employees is None:
            rows = Employee.objects.select_related("manager").filter(workspace=self.workspace)
            self._employees = {e.id: e for e in rows}
        return self._employees

    # --- threading --------------------------------------------------------------------

    def thread(self, parsed: list["Parsed"], events: dict[int, "ClaimedEvent"]) -> ThreadResult:
        result = ThreadResult()
        reference_ids = {
            int(m.group(1))
            for p in parsed
            if p.message.direction == "inbound"
            for m in CASE_REFERENCE.finditer(p.message.text[:5000])
        }
        referenced = (
            {
                c.id: c
                for c in Case.objects.select_related("contact").filter(
                    workspace=self.workspace, id__in=reference_ids
                )
            }
            if reference_ids
            else {}
        )
        folds = fold_echoes(self.workspace, parsed)  # before identities: it links some
        identities = IdentityResolver(self.workspace).resolve(parsed, referenced)
        scan = self._scan_pileons(parsed, identities)
        lock_contacts([*(i.contact_id for i in identities.values()), *scan.contacts])
        parents = self._reply_targets(parsed)
        cases = {
            c.id: c
            for c in Case.objects.only(*CASE_FIELDS).filter(
                workspace=self.workspace,
                id__in={case_id for case_id in parents.values() if case_id},
            )
        }
        cases.update(referenced)
        open_by_contact = self._open_cases({i.contact_id for i in identities.values()})
        cases.update({c.id: c for c in open_by_contact.values()})
        surveys = survey_answers(self.workspace, parsed, identities)
        in_batch: dict[tuple[str, str], Case | None] = {}
        for item in sorted(parsed, key=lambda p: (p.message.created_at, p.event_id)):
            msg = item.message
            parent: Case | None = None
            if msg.in_reply_to:
                parent_key = (msg.channel, msg.in_reply_to)
                if parent_key in in_batch:
                    parent = in_batch[parent_key]
                elif parents.get(parent_key):
                    parent = cases.get(parents[parent_key] or 0)
            if msg.direction == "outbound":
                if item.event_id in folds.folded:
                    continue  # the platform's echo of a reply we stored: that message
                if folds.waits(item, events[item.event_id].attempts, MAX_DEFERRALS):
                    result.deferred.append(item.event_id)
                    continue
                if (
                    msg.in_reply_to
                    and parent is None
                    and parent_key not in parents
                    and (events[item.event_id].attempts < MAX_DEFERRALS)
                    and parent_key not in in_batch
                ):
                    result.deferred.append(item.event_id)
                    continue
                in_batch[(msg.channel, msg.external_id)] = parent
                self._add_outbound(result, item, parent)
                continue
            identity = identities[identity_key(msg.channel, msg.author.external_id)]
            if item.spam:
                result.messages.append(self._message(item, None, identity))
                in_batch[(msg.channel, msg.external_id)] = None
                continue
            survey = surveys.get((msg.channel, msg.external_id))
            if survey is not None and parent in (None, survey):  # a score: the case stays closed
                result.messages.append(self._message(item, survey, identity))
                in_batch[(msg.channel, msg.external_id)] = survey
                continue
            case = self._choose_case(item, parent, identity, referenced, open_by_contact)
            opened = case is None
            if case is None:
                case = self._open_case(result, item, identity)
                open_by_contact[identity.contact_id] = case
            self._add_inbound(result, item, case, identity, opened=opened)
            in_batch[(msg.channel, msg.external_id)] = case
        if scan.pileons:
            known = {**cases, **{c.pk: c for c in open_by_contact.values() if c.pk}}
            self._raise_pileons(result, scan, known, in_batch)
        return result

    # --- pile-ons ----------------------------------------------------------------------

    def _scan_pileons(
        self, parsed: Sequence["Parsed"], identities: dict[tuple[str, str], ContactIdentity]
    ) -> PileOnScan:
        """Pile-ons among this batch and the recent messages on the same problems.

        One query, only when the batch holds a problem report: earlier inbound messages
        in the window around the batch that share a near-duplicate root or a topic.
        """
        fresh = [
            pileon.Report(
                key=f"{p.message.channel}:{p.message.external_id}",
                author=identities[
                    identity_key(p.message.channel, p.message.author.external_id)
                ].contact_id,
                at=p.message.created_at,
                topic=p.triage.topic,
                signals=p.triage.signals,
                intent=p.triage.intent,
                duplicate_of=p.duplicate_of,
            )
            for p in parsed
            if p.message.direction == "inbound" and p.triage is not None and not p.spam
        ]
        problems = [r for r in fresh if pileon.problems_of(r)]
        if not problems:
            return PileOnScan()
        scan = PileOnScan()
        earlier = self._recent_reports(problems, scan)
        scan.pileons = pileon.detect([*earlier, *fresh])
        if scan.pileons:
            self._skip_alerted(scan)
        return scan

    def _skip_alerted(self, scan: PileOnScan) -> None:
        """Drop the earlier cases already alerted for a pile-on; lock only the others' contacts.

        A pile-on that goes on for an hour is re-detected by every batch; its earlier
        cases were raised by the batch that first saw it, so only the few not yet
        alerted are loaded and locked (not the whole crowd's contacts each time).
        """
        keys = {k for p in scan.pileons for k in p.keys if k in scan.case_ids}
        scan.alerted = self._alerted({scan.case_ids[k] for k in keys})
        scan.contacts = {scan.authors[k] for k in keys if scan.case_ids[k] not in scan.alerted}

    def _alerted(self, case_ids: set[int]) -> set[int]:
        if not case_ids:
            return set()
        return set(
            CaseEvent.objects.filter(
                workspace=self.workspace,
                case_id__in=case_ids,
                type=CaseEvent.Type.ESCALATED,
                params__kind="pileon",
            )
            .order_by()
            .values_list("case_id", flat=True)
        )

    def _recent_reports(
        self, problems: list[pileon.Report], scan: PileOnScan
    ) -> list[pileon.Report]:
        roots = {r.duplicate_of or r.key for r in problems}
        same = Q(duplicate_of__in=roots) | Q(external_id__in={k.split(":", 1)[1] for k in roots})
        topics = {r.topic for r in problems if pileon.grouped_by_topic(r)}
        if topics:
            same |= Q(triage__topic__in=sorted(topics))
        times = [r.at for r in problems]
        rows = (
            Message.objects.filter(
                same,
                workspace=self.workspace,
                direction=Direction.INBOUND,
                is_spam=False,
                identity__isnull=False,
                sent_at__gte=min(times) - pileon.PILEON_WINDOW,
                sent_at__lte=max(times) + pileon.PILEON_WINDOW,
            )
            .order_by("-sent_at")
            .values_list(
                "channel",
                "external_id",
                "identity__contact_id",
                "case_id",
                "sent_at",
                # Three keys, not the whole triage document: thousands of rows per batch.
                KT("triage__topic"),
                "triage__signals",
                KT("triage__intent"),
                "duplicate_of",
            )
        )[:PILEON_MAX_RECENT]
        reports = []
        for channel, external_id, contact_id, case_id, sent_at, topic, signals, intent, dup in rows:
            key = f"{channel}:{external_id}"
            reports.append(
                pileon.Report(
                    key=key,
                    author=contact_id,
                    at=sent_at,
                    topic=topic or "other",
                    signals=tuple(signals or ()),
                    intent=intent or "",
                    duplicate_of=dup,
                )
            )
            if case_id is not None:
                scan.case_ids[key] = case_id
                scan.authors[key] = contact_id
        return reports

    def _raise_pileons(
        self,
        result: ThreadResult,
        scan: PileOnScan,
        known: dict[int, Case],
        in_batch: dict[tuple[str, str], Case | None],
    ) -> None:
        """Raise each open case of each pile-on one level and alert its team, once per case.

        A case already alerted for a pile-on (an earlier batch) is left alone, so a
        pile-on that goes on for hours raises each case once.
        """
        wanted = {scan.case_ids[k] for p in scan.pileons for k in p.keys if k in scan.case_ids}
        # Alerted before this batch locked their contacts, or by a worker that held the
        # lock in between (checked again now that this batch holds it): append-only, so
        # a case seen alerted stays alerted.
        alerted = scan.alerted | self._alerted(wanted - scan.alerted)
        missing = wanted - alerted - known.keys()
        if missing:
            known = {**known, **self._open_cases_by_id(missing)}
        teams = {team.pk: team.name for team in self.teams}
        done: set[int] = set()
        alerted_keys: set[str] = set()  # reports of the pile-ons this batch alerted
        for found in scan.pileons:
            raised: list[Case] = []
            for key in sorted(found.keys):
                case = self._pileon_case(key, scan, known, in_batch)
                if case is None or id(case) in done or case.pk in alerted or not case.is_open:
                    continue
                done.add(id(case))
                raised.append(case)
                previous = case.severity
                case.severity = pileon.raised(previous)
                if case.severity != previous:
                    result.events.append(pileon_raised(case, previous, found))
                    refresh_deadlines(case, self.targets)
                result.events.append(pileon_alerted(case, teams.get(case.team_id or 0, ""), found))
                if case.pk is not None:
                    result.touched[case.pk] = case
            if raised:  # one e-mail per team, not per case (``team_alerts``)
                earlier = {scan.case_ids[k] for k in found.keys if k in scan.case_ids}
                continued, joined = bool(earlier & alerted), bool(found.keys & alerted_keys)
                result.alerts.append(PileonAlert(found, raised, continued, joined))
                alerted_keys |= found.keys

    @staticmethod
    def _pileon_case(
        key: str,
        scan: PileOnScan,
        known: dict[int, Case],
        in_batch: dict[tuple[str, str], Case | None],
    ) -> Case | None:
        if key in scan.case_ids:
            return known.get(scan.case_ids[key])
        channel, external_id = key.split(":", 1)
        return in_batch.get((channel, external_id))

    def _open_cases_by_id(self, case_ids: set[int]) -> dict[int, Case]:
        rows = Case.objects.only(*CASE_FIELDS).filter(
            workspace=self.workspace, id__in=case_ids, status__in=OPEN_STATUSES
        )
        return {case.id: case for case in rows}

    def _reply_targets(self, parsed: Sequence["Parsed"]) -> dict[tuple[str, str], int | None]:
        wanted = {
            (item.message.channel, item.message.in_reply_to)
            for item in parsed
            if item.message.in_reply_to
        }
        if not wanted:
            return {}
        # One query for every channel; ids found on another channel are dropped here.
        rows = Message.objects.filter(
            workspace=self.workspace,
            channel__in={channel for channel, _ in wanted},
            external_id__in={external_id for _, external_id in wanted},
        ).values_list("channel", "external_id", "case_id")
        found: dict[tuple[str, str], int | None] = {}
        for channel, ext, case_id in rows:
            key = (channel, ext or "")
            if key in wanted:
                found[key] = case_id
        return found

    def _open_cases(self, contact_ids: set[int]) -> dict[int, Case]:
        # A resolved case waits for the customer's "is it fixed?" answer: their next
        # message (a DM carries no in-reply-to) continues it rather than opening another.
        rows = (
            Case.objects.only(*CASE_FIELDS)
            .filter(
                workspace=self.workspace,
                contact_id__in=contact_ids,
                status__in=(*OPEN_STATUSES, CaseStatus.RESOLVED),
            )
            .order_by("id")
        )
        return {case.contact_id: case for case in rows}

    def _choose_case(
        self,
        item: "Parsed",
        parent: Case | None,
        identity: ContactIdentity,
        referenced: dict[int, Case],
        open_by_contact: dict[int, Case],
    ) -> Case | None:
        if parent is not None and parent.status != CaseStatus.CLOSED:
            return parent
        case = referenced_case(item.message.text, referenced)
        if case is not None and case.contact_id == identity.contact_id and case.is_open:
            return case
        return open_by_contact.get(identity.contact_id)

    def _open_case(self, result: ThreadResult, item: "Parsed", identity: ContactIdentity) -> Case:
        msg = item.message
        triage = item.triage
        topic = triage.topic if triage else "other"
        signals = triage.signals if triage else ()
        case = Case(
            workspace=self.workspace,
            contact=identity.contact,
            status=CaseStatus.NEW,
            severity=item.severity,
            entitlement=identity.contact.entitlement,
            reason=signals[0] if signals else (triage.intent if triage else ""),
            topic=topic,
            subject=" ".join((msg.subject or msg.text).split())[:200],
            origin_channel=msg.channel,
            first_inbound_at=msg.created_at,
            last_inbound_at=msg.created_at,
            awaiting_since=msg.created_at,
        )
        refresh_deadlines(case, self.targets)
        result.new_cases.append(case)
        result.events.extend(case_opened(case, item, at=msg.created_at))
        arrival = Arrival(
            topic=topic,
            severity=case.severity,
            signals=signals,
            language=triage.language if triage else "",
            text=f"{msg.subject or ''}\n{msg.text}",
        )
        result.events.extend(self.router.route(case, arrival, at=msg.created_at))
        return case

    def _add_inbound(
        self,
        result: ThreadResult,
        item: "Parsed",
        case: Case,
        identity: ContactIdentity,
        *,
        opened: bool,
    ) -> None:
        msg = item.message
        triage = item.triage
        signals = triage.signals if triage else ()
        was_security = case.reason == "security_report" and not opened
        if not opened:
            previous = case.severity
            if apply_inbound(case, at=msg.created_at, severity=item.severity):
                result.events.append(severity_changed(case, previous, signals, at=msg.created_at))
                if signals:
                    case.reason = signals[0]
                new_team = team_for(self.teams, topic=case.topic, signals=signals)
                if "security_report" in signals and new_team and new_team.pk != case.team_id:
                    case.team = new_team
                    result.events.append(rerouted(case, new_team.name, at=msg.created_at))
            if case.topic in ("", "other") and triage and triage.topic != "other":
                case.topic = triage.topic
            refresh_deadlines(case, self.targets)
            if case.pk is not None:
                result.touched[case.pk] = case
        message = self._message(item, case, identity)
        result.messages.append(message)
        if "security_report" in signals and not was_security:
            case.reason = "security_report"
            event, ack = acknowledge_security_report(case, item, brand_handle=self.brand_handle)
            result.events.append(event)
            result.acks.append(ack)
        if triage and triage.praised_staff:
            self._forward_praise(result, case, item)

    def _add_outbound(self, result: ThreadResult, item: "Parsed", case: Case | None) -> None:
        msg = item.message
        if case is not None:
            apply_response(case, at=msg.created_at)
            refresh_deadlines(case, self.targets)
            if case.pk is not None:
                result.touched[case.pk] = case
        result.messages.append((item, case, None))

    def _message(
        self, item: "Parsed", case: Case | None, identity: ContactIdentity
    ) -> tuple["Parsed", Case | None, int | None]:
        return item, case, identity.pk

    def _forward_praise(self, result: ThreadResult, case: Case, item: "Parsed") -> None:
        assert item.triage is not None
        for key in item.triage.praised_staff:
            employee = self.employees.get(int(key))
            if employee is None:
                continue
            event, mail = praise_forwarded(case, employee, item)
            result.events.append(event)
            if mail is not None:
                result.mails.append(mail)

    # --- persistence ------------------------------------------------------------------

    def save(self, result: ThreadResult) -> None:
        for case in result.new_cases:
            case.updated_at = self.now
        create_rows(Case, result.new_cases)
        if result.touched:
            update_rows(
                Case, result.touched.values(), [*DEADLINE_FIELDS, "team", "topic", "reason"]
            )
        insert_values(Message._meta.db_table, MESSAGE_COLUMNS, self._message_rows(result))
        insert_values(
            CaseEvent._meta.db_table,
            CASE_EVENT_COLUMNS,
            [
                (
                    event.workspace_id,
                    event.case.pk,
                    str(event.type),
                    json.dumps(event.params),
                    None,
                    adapt_datetime(event.at),
                )
                for event in result.events
            ],
        )
        if result.acks:
            for message, _ in result.acks:
                assert message.case is not None
                message.text = security_ack_text(message.case)
            create_rows(Message, [message for message, _ in result.acks])
            create_rows(OutboxMessage, [outbox for _, outbox in result.acks])
        if result.alerts:  # after create_rows: the new cases have their ids
            queue_pileon_alerts(self.workspace, result.alerts)
        if result.mails:
            mails = tuple(result.mails)
            transaction.on_commit(lambda: send_mass_mail(mails, fail_silently=True))

    def _message_rows(self, result: ThreadResult) -> list[tuple[object, ...]]:
        """Message rows straight from the parsed records (no model instances)."""
        created_at = adapt_datetime(self.now)
        workspace_id = self.workspace.pk
        inbound, outbound = Direction.INBOUND.value, Direction.OUTBOUND.value
        received, sent = DeliveryStatus.RECEIVED.value, DeliveryStatus.SENT.value
        rows: list[tuple[object, ...]] = []
        for item, case, identity_id in result.messages:
            msg = item.message
            triage = item.triage
            is_inbound = identity_id is not None
            rows.append(
                (
                    workspace_id,
                    case.pk if case is not None else None,
                    msg.channel,
                    inbound if is_inbound else outbound,
                    msg.visibility,
                    identity_id,
                    None,
                    msg.external_id,
                    msg.in_reply_to or "",
                    msg.brand_handle or "",
                    msg.text,
                    adapt_datetime(msg.created_at),
                    received if is_inbound else sent,
                    triage.sentiment if triage and is_inbound else "",
                    triage.stance if triage and is_inbound else "",
                    item.spam if is_inbound else False,
                    item.duplicate_of if is_inbound else "",
                    json.dumps(triage.to_dict() if triage and is_inbound else {}),
                    created_at,
                )
            )
        return rows
