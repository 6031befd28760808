"""Threading for one batch, inside the pipeline's transaction.

Every lookup is one query for the whole batch. Contacts touched by the batch are locked
in id order (``identities.lock_contacts``) before their open cases are read, so two
workers can never open two cases for the same customer at once.
"""

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.mail import send_mass_mail
from django.db import connection, transaction
from django.db.models import Exists, Q, QuerySet
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
from fairdesk.inbound.models import ActivePileon
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
# Reports read per problem in the first page while following a known pile-on, newest
# first: in a busy one that holds five different people, which is all a new report needs.
PILEON_PAGE = 25
# Reports a pile-on holds before batches follow it rather than read its window whole:
# below this, one read of the window is cheaper than following (a few more statements).
PILEON_FOLLOW_FROM = 200
PILEON_COLUMNS = (
    "id",
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
    pileons: list[ActivePileon] = field(default_factory=list)  # records to write
    deferred: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PileOnScan:
    """Pile-ons a batch joins, with the earlier messages' contacts and cases by key."""

    pileons: list[pileon.PileOn] = field(default_factory=list)
    contacts: set[int] = field(default_factory=set)  # to lock: cases of theirs get raised
    case_ids: dict[str, int] = field(default_factory=dict)
    alerted: set[int] = field(default_factory=set)  # cases already raised for a pile-on
    authors: dict[str, int] = field(default_factory=dict)  # earlier report key -> contact
    records: list[ActivePileon] = field(default_factory=list)  # pile-ons followed, to write
    continuing: set[str] = field(default_factory=set)  # problems whose record this grows


class BatchThreader:
    def __init__(self, *, workspace: Workspace, now: datetime) -> None:
        self.workspace = workspace
        self.now = now
        self.teams: list[Team] = list(Team.objects.filter(workspace=workspace))
        self.router = ArrivalRouter(workspace=workspace, teams=self.teams, now=now)
        self.targets = targets_table(workspace)
        self.brand_handle = workspace.brand_handle
        self._employees: dict[int, Employee] | None = None
        # Problems whose records this batch may trust and write (``_lock_problems``);
        # None: all (SQLite, where batches run one at a time).
        self._held: set[str] | None = None

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
        self._lock_problems(parsed)  # first: before any row lock of this transaction
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
        result.pileons = scan.records
        return result

    # --- pile-ons ----------------------------------------------------------------------

    def _lock_problems(self, parsed: Sequence["Parsed"]) -> None:
        """PostgreSQL: lock this batch's problems, exclusively where a pile-on is active.

        A pile-on's record (``ActivePileon``) says that every report of its problem up to
        its last one was seen and raised; a second worker storing a report of the same
        problem at the same time, unseen, would make that untrue. So a batch takes a
        transaction-scoped advisory lock on each problem of its reports: exclusive where
        the problem has a record active around the batch that is followed (from
        ``PILEON_FOLLOW_FROM`` reports: the batch trusts and updates it), shared elsewhere,
        so batches about problems that are no large pile-on still run side by side. Taken
        in one order and before any row lock, so two batches wait rather than deadlock.
        Only a batch holding a problem exclusively trusts its record; one that would
        write a record it does not hold first takes the lock over (``_claim``).
        SQLite needs none: its write transactions are serial (``IMMEDIATE``).
        """
        if connection.vendor != "postgresql":
            self._held = None  # every problem: nothing runs beside this batch
            return
        self._held = set()
        reports = _batch_reports(parsed, lambda p: 0)
        # A report that is its own root shares its text problem with no other batch.
        problems = {
            problem
            for report in reports
            for problem in pileon.problems_of(report)
            if problem != f"text:{report.key}"
        }
        if not problems:
            return
        lower = min(r.at for r in reports) - pileon.PILEON_WINDOW
        self._held = set(
            ActivePileon.objects.filter(
                workspace=self.workspace,
                problem__in=problems,
                last_at__gte=lower,
                reports__gte=PILEON_FOLLOW_FROM,
            ).values_list("problem", flat=True)
        )
        modes = {_lock_key(self.workspace.pk, p): p in self._held for p in problems}
        keys = sorted(modes)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT CASE WHEN x THEN pg_advisory_xact_lock(k)"
                " ELSE pg_advisory_xact_lock_shared(k) END FROM"
                " (SELECT unnest(%s::bigint[]) AS k, unnest(%s::boolean[]) AS x"
                " ORDER BY 1) AS ordered",
                [keys, [modes[k] for k in keys]],
            )

    def _claim(
        self,
        problems: list[str],
        reports: dict[str, pileon.Report],
        fresh_keys: set[str],
        window: tuple[datetime, datetime],
    ) -> set[str]:
        """Of the ``problems`` whose records this batch would write, those it may: the
        ones held exclusively, and others whose lock PostgreSQL takes over unless another
        batch holds it
        (never waiting), then reads the problem's reports again; a batch that committed
        one unseen since the first read makes the record wait for a later batch."""
        if self._held is None:
            return set(problems)
        wanted = [p for p in problems if p not in self._held]
        claimed = {p for p in problems if p in self._held}
        if not wanted:
            return claimed
        keys = [_lock_key(self.workspace.pk, p) for p in wanted]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k",
                [keys],
            )
            got = {k for k, ok in cursor.fetchall() if ok}
        taken = [p for p, k in zip(wanted, keys, strict=True) if k in got]
        if not taken:
            return claimed
        seen: dict[str, set[str]] = {p: set() for p in taken}
        for report in reports.values():
            if report.key not in fresh_keys:
                for problem in seen.keys() & set(pileon.problems_of(report)):
                    seen[problem].add(report.key)
        now: dict[str, set[str]] = {p: set() for p in taken}
        rows = self._problem_messages(taken, *window).order_by("-sent_at", "-id")
        for row in rows[:PILEON_MAX_RECENT]:
            report, _ = _report(row)
            for problem in now.keys() & set(pileon.problems_of(report)):
                now[problem].add(report.key)
        self._held.update(taken)
        return claimed | {p for p in taken if now[p] <= seen[p]}

    def _scan_pileons(
        self, parsed: Sequence["Parsed"], identities: dict[tuple[str, str], ContactIdentity]
    ) -> PileOnScan:
        """Pile-ons among this batch and the recent messages on the same problems.

        Only when the batch holds a problem report: earlier inbound messages in the window
        around the batch that share a near-duplicate root or a topic, read as far as they
        decide this batch's pile-ons (``_recent_reports``).
        """
        fresh = _batch_reports(
            parsed,
            lambda p: (
                identities[identity_key(p.message.channel, p.message.author.external_id)].contact_id
            ),
        )
        problems = [r for r in fresh if pileon.problems_of(r)]
        if not problems:
            return PileOnScan()
        scan = PileOnScan()
        by_problem: dict[str, list[pileon.Report]] = defaultdict(list)
        for report in problems:
            for problem in pileon.problems_of(report):
                by_problem[problem].append(report)
        records = {
            row.problem: row
            for row in ActivePileon.objects.filter(workspace=self.workspace, problem__in=by_problem)
        }
        earlier, covered = self._recent_reports(problems, by_problem, records, scan)
        reports = {**earlier, **{r.key: r for r in fresh}}
        # Only this batch's problems: another problem of an earlier message was decided
        # by the batch that stored it, and is read here only in part.
        found = {p.problem: p for p in pileon.detect(reports.values()) if p.problem in by_problem}
        for problem, keys in covered.items():  # within a record's span: in the pile-on
            burst = found.get(problem)
            keys = keys - burst.keys if burst else keys
            if keys:
                found[problem] = _with_keys(problem, burst, keys, reports)
        if found:
            times = [r.at for r in problems]
            window = (min(times) - pileon.PILEON_WINDOW, max(times) + pileon.PILEON_WINDOW)
            scan.pileons = self._follow(
                sorted(found.values(), key=lambda p: p.problem),
                records,
                reports,
                fresh,
                scan,
                window,
            )
            self._skip_alerted(scan)
        return scan

    def _recent_reports(
        self,
        problems: list[pileon.Report],
        by_problem: dict[str, list[pileon.Report]],
        records: dict[str, ActivePileon],
        scan: PileOnScan,
    ) -> tuple[dict[str, pileon.Report], dict[str, set[str]]]:
        """The earlier reports that decide this batch's pile-ons, by key, and for each
        problem with a record the keys of this batch's reports inside its span.

        A problem that has been a pile-on (a record) is followed: a report of this batch
        inside the record's span belongs to the pile-on (``pileon.spans``), and the rest
        is decided by reading newest first, a page at a time, only until every report
        after the span is read and every window ending at a report that may newly
        qualify (this batch's outside the span, earlier ones after it) holds five people
        or is read whole. The reports before the span's end were raised by then; in a
        pile-on that goes on that is one short page, however large the crowd. A problem
        without a record, or with a report of this batch that could extend its pile-on
        backwards (before the span, or within a window of its start with earlier reports
        there), is read whole in the window around the batch, as before.
        """
        times = [r.at for r in problems]
        lower = min(times) - pileon.PILEON_WINDOW
        upper = max(times) + pileon.PILEON_WINDOW
        covered: dict[str, set[str]] = {}
        near_start: list[str] = []  # may extend the pile-on backwards: are there earlier?
        for problem, fresh in by_problem.items():
            record = records.get(problem)
            if (
                record is None
                or record.reports < PILEON_FOLLOW_FROM
                or (self._held is not None and problem not in self._held)
                or min(r.at for r in fresh) < record.started_at
            ):
                continue
            if min(r.at for r in fresh) < record.started_at + pileon.PILEON_WINDOW:
                near_start.append(problem)
            covered[problem] = {r.key for r in fresh if r.at <= record.last_at}
        for problem in self._reported_before(near_start, records, lower):
            del covered[problem]
        found: dict[str, pileon.Report] = {}
        # A report that is no near-duplicate is its own text problem's root: no earlier
        # message can belong to that problem (``duplicate_of`` names a stored root).
        cold = [
            problem
            for problem, fresh in by_problem.items()
            if problem not in covered and not all(problem == f"text:{r.key}" for r in fresh)
        ]
        if cold:
            rows = self._problem_messages(cold, lower, upper).order_by("-sent_at", "-id")
            for row in rows[:PILEON_MAX_RECENT]:
                self._add_earlier(row, found, scan)
        read_by: dict[str, list[pileon.Report]] = defaultdict(list)
        pending = set(covered)
        cursor: tuple[datetime, int] | None = None
        read = pages = 0
        while pending and read < PILEON_MAX_RECENT:
            query = self._problem_messages(sorted(pending), lower, upper)
            if cursor is not None:
                before_at, before_id = cursor
                query = query.filter(
                    Q(sent_at__lt=before_at) | Q(sent_at=before_at, id__lt=before_id)
                )
            # A page per problem still open, doubling: a few queries however many are read.
            size = min(PILEON_PAGE * len(pending) << pages, PILEON_MAX_RECENT - read)
            pages += 1
            page = list(query.order_by("-sent_at", "-id")[:size])
            read += len(page)
            for row in page:
                report = self._add_earlier(row, found, scan)
                for problem in pending.intersection(pileon.problems_of(report)):
                    read_by[problem].append(report)
            if len(page) < size:
                break
            cursor = (page[-1][5], page[-1][0])
            pending = {
                problem
                for problem in pending
                if not _decided(
                    cursor[0],
                    read_by[problem],
                    by_problem[problem],
                    covered[problem],
                    records[problem].last_at,
                )
            }
        return found, covered

    def _reported_before(
        self, problems: list[str], records: dict[str, ActivePileon], lower: datetime
    ) -> list[str]:
        """Those of ``problems`` with a report in [lower, their record's start): one query
        of one EXISTS per problem, each stopping at its first row."""
        if not problems:
            return []
        checks = {
            f"p{i}": Exists(
                self._problem_messages([problem], lower, records[problem].started_at).filter(
                    sent_at__lt=records[problem].started_at
                )
            )
            for i, problem in enumerate(problems)
        }
        row = (
            Workspace.objects.filter(pk=self.workspace.pk)
            .annotate(**checks)
            .values_list(*checks)
            .get()
        )
        return [problem for problem, found in zip(problems, row, strict=True) if found]

    def _problem_messages(
        self, problems: Iterable[str], lower: datetime, upper: datetime
    ) -> QuerySet[Message, tuple[Any, ...]]:
        """Inbound messages in [lower, upper] that may count towards ``problems`` (a
        superset: ``pileon.problems_of`` decides), as ``PILEON_COLUMNS`` rows."""
        return Message.objects.filter(
            _problem_filter(problems),
            workspace=self.workspace,
            direction=Direction.INBOUND,
            is_spam=False,
            identity__isnull=False,
            sent_at__gte=lower,
            sent_at__lte=upper,
        ).values_list(*PILEON_COLUMNS)

    @staticmethod
    def _add_earlier(
        row: tuple[Any, ...], found: dict[str, pileon.Report], scan: PileOnScan
    ) -> pileon.Report:
        report, case_id = _report(row)
        found[report.key] = report
        if case_id is not None:
            scan.case_ids[report.key] = case_id
            scan.authors[report.key] = row[3]  # the contact
        return report

    def _follow(
        self,
        found: list[pileon.PileOn],
        records: dict[str, ActivePileon],
        reports: dict[str, pileon.Report],
        fresh: list[pileon.Report],
        scan: PileOnScan,
        window: tuple[datetime, datetime],
    ) -> list[pileon.PileOn]:
        """Each pile-on with its figures since it began, and its record brought up to date.

        A pile-on this batch continues (its latest span reaches the record's) counts the
        record's reports and people plus those new here: reports of this batch, or earlier
        ones outside the record's span; a person is new unless they reported the problem
        within that span already (``_counted``), so one customer repeating never adds to
        the count. Otherwise it starts (again) with its latest span, counted from what was
        read: the whole window around the batch.
        """
        fresh_keys = {r.key for r in fresh}
        members: dict[str, list[pileon.Report]] = defaultdict(list)
        for report in reports.values():
            for problem in pileon.problems_of(report):
                members[problem].append(report)
        followed: list[pileon.PileOn] = []
        starting: list[ActivePileon] = []  # records to write: pile-ons (re)starting or growing
        growing: list[tuple[pileon.PileOn, ActivePileon, tuple[datetime, datetime] | None]] = []
        for burst in found:
            record = records.get(burst.problem)
            spans = pileon.spans(burst.problem, members[burst.problem])
            if record is not None and (not spans or spans[-1][1] < record.started_at):
                if not spans:  # only reports within the record's span
                    growing.append((burst, record, None))
                else:  # an earlier burst, imported late: the record stays
                    followed.append(burst)
                continue
            start, end = spans[-1] if spans else (burst.started_at, burst.last_at)
            if record is not None and start <= record.last_at:
                growing.append((burst, record, (start, end)))
                continue
            chosen = [reports[key] for key in burst.keys if reports[key].at >= start]
            record = record or ActivePileon(workspace=self.workspace, problem=burst.problem)
            record.started_at, record.last_at = start, end
            record.reports, record.authors = len(chosen), len({r.author for r in chosen})
            starting.append(record)
            followed.append(
                replace(burst, authors=record.authors, reports=record.reports, started_at=start)
            )
        new_by: dict[str, list[pileon.Report]] = {}
        unknown: dict[str, set[Any]] = {}  # problem -> people to look up
        for burst, record, _ in growing:
            since, until = record.started_at, record.last_at
            new_by[burst.problem] = [
                reports[key]
                for key in sorted(burst.keys)
                if key in fresh_keys or not since <= reports[key].at <= until
            ]
            # People with a report within the span among those read were counted then;
            # only the others' own messages are looked up.
            seen = {
                r.author
                for r in members[burst.problem]
                if r.key not in fresh_keys and since <= r.at <= until
            }
            unknown[burst.problem] = {r.author for r in new_by[burst.problem]} - seen
        counted = self._counted({burst.problem: record for burst, record, _ in growing}, unknown)
        for burst, record, span in growing:
            new = new_by[burst.problem]
            record.reports += len(new)
            record.authors += len(unknown[burst.problem] - counted[burst.problem])
            if span is not None:
                record.started_at = min(record.started_at, span[0])
                record.last_at = max(record.last_at, span[1])
            starting.append(record)
            scan.continuing.add(burst.problem)
            followed.append(
                replace(
                    burst,
                    authors=record.authors,
                    reports=record.reports,
                    started_at=record.started_at,
                )
            )
        if starting:
            claimed = self._claim([r.problem for r in starting], reports, fresh_keys, window)
            scan.records.extend(r for r in starting if r.problem in claimed)
        return sorted(followed, key=lambda p: p.problem)

    def _counted(
        self, records: dict[str, ActivePileon], authors: dict[str, set[Any]]
    ) -> dict[str, set[Any]]:
        """For each problem, which of its ``authors`` reported it within its record's span
        already. One query, on the identity index: only those people's own messages (the
        span of a long pile-on is no index range to scan)."""
        counted: dict[str, set[Any]] = defaultdict(set)
        everyone = set().union(*authors.values()) if authors else set()
        if not everyone:
            return counted
        same = Q(pk__in=[])
        for problem, record in records.items():
            if authors[problem]:
                same |= _problem_filter([problem]) & Q(
                    sent_at__gte=record.started_at, sent_at__lte=record.last_at
                )
        rows = (
            Message.objects.filter(
                same,
                identity_id__in=ContactIdentity.objects.filter(
                    workspace=self.workspace, contact_id__in=everyone
                ).values("id"),
                direction=Direction.INBOUND,
                is_spam=False,
            )
            .order_by()
            .values_list(*PILEON_COLUMNS)
        )
        for row in rows:
            report, _ = _report(row)
            for problem in pileon.problems_of(report):
                followed = records.get(problem)
                if (
                    followed is not None
                    and report.author in authors[problem]
                    and followed.started_at <= report.at <= followed.last_at
                ):
                    counted[problem].add(report.author)
        return counted

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
        # The cases this batch's reports went to that existed before (a customer writing
        # again): the report that alerted one may be older than the reports read.
        again = {
            case.pk
            for p in scan.pileons
            for k in p.keys
            if k not in scan.case_ids
            and (case := self._pileon_case(k, scan, known, in_batch)) is not None
            and case.pk is not None
        }
        # Alerted before this batch locked their contacts, or by a worker that held the
        # lock in between (checked again now that this batch holds it): append-only, so
        # a case seen alerted stays alerted.
        alerted = scan.alerted | self._alerted((wanted | again) - scan.alerted)
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
                # It grew: earlier cases of it were alerted, or it grows a record's span
                # (whose cases were alerted when their reports were stored).
                continued = bool(earlier & alerted) or found.problem in scan.continuing
                joined = bool(found.keys & alerted_keys)
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
        if result.pileons:
            _save_pileons(result.pileons)
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


def _batch_reports(
    parsed: Sequence["Parsed"], author_of: Callable[["Parsed"], Any]
) -> list[pileon.Report]:
    """The batch's inbound messages that triage read and are not spam, as the detector
    sees them (``author_of`` gives each one's person)."""
    return [
        pileon.Report(
            key=f"{p.message.channel}:{p.message.external_id}",
            author=author_of(p),
            at=p.message.created_at,
            topic=p.triage.topic,
            signals=p.triage.signals,
            intent=p.triage.intent,
            duplicate_of=p.duplicate_of,
        )
        for p in parsed
        if p.message.direction == "inbound" and p.triage is not None and not p.spam
    ]


def _lock_key(workspace_id: int, problem: str) -> int:
    """A signed 64-bit advisory lock key for one workspace's problem label."""
    digest = hashlib.blake2b(f"pileon:{workspace_id}:{problem}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _decided(
    cutoff: datetime,
    read: list[pileon.Report],
    fresh: list[pileon.Report],
    covered: set[str],
    last_at: datetime,
) -> bool:
    """Whether the reports of one followed problem read so far (every one after ``cutoff``)
    decide the batch: every report after the record's ``last_at`` is read, and each window
    that may newly qualify (ending at a report of the batch outside the span, or at an
    earlier one after ``last_at``) holds five people among them or is read whole."""
    if cutoff > last_at:
        return False
    ends = [r for r in fresh if r.key not in covered]
    ends += [r for r in read if r.at > last_at]
    everyone = sorted([*read, *fresh], key=lambda r: r.at)
    times = [r.at for r in everyone]
    for end in ends:
        since = end.at - pileon.PILEON_WINDOW
        if since > cutoff:
            continue  # read whole
        window = everyone[bisect_left(times, since) : bisect_right(times, end.at)]
        if len({r.author for r in window}) < pileon.PILEON_MIN_AUTHORS:
            return False
    return True


def _with_keys(
    problem: str,
    burst: pileon.PileOn | None,
    keys: set[str],
    reports: dict[str, pileon.Report],
) -> pileon.PileOn:
    """``burst`` (or a new pile-on of ``problem``) with the reports of ``keys`` in it; its
    figures are the record's (``_follow``)."""
    members = [reports[key] for key in keys]
    if burst is not None:
        members += [reports[key] for key in burst.keys]
    times = [r.at for r in members]
    return pileon.PileOn(
        problem=problem,
        keys=frozenset(r.key for r in members),
        authors=len({r.author for r in members}),
        started_at=min(times),
        last_at=max(times),
        reports=len(members),
    )


def _problem_filter(problems: Iterable[str]) -> Q:
    """Messages that may count towards any of ``problems`` (``pileon.problems_of``
    labels): a superset, ``problems_of`` decides. Three lists, however many labels."""
    roots: set[str] = set()
    complaints: set[str] = set()
    signalled: set[str] = set()
    for problem in problems:
        kind, _, rest = problem.partition(":")
        if kind == "text":  # the root itself, or a near-duplicate of it
            roots.add(rest)
        elif kind == "topic":
            complaints.add(rest)
        else:  # signal:<topic>:<signals>
            signalled.add(rest.partition(":")[0])
    same = Q(pk__in=[])
    if roots:
        ids = {root.partition(":")[2] for root in roots}
        same |= Q(duplicate_of__in=sorted(roots)) | Q(external_id__in=sorted(ids))
    if complaints - signalled:
        same |= Q(triage__topic__in=sorted(complaints - signalled), triage__intent="complaint")
    if signalled:
        same |= Q(triage__topic__in=sorted(signalled))
    return same


def _report(row: tuple[Any, ...]) -> tuple[pileon.Report, int | None]:
    """A ``PILEON_COLUMNS`` row as the detector sees it, and its case."""
    _, channel, external_id, contact_id, case_id, sent_at, topic, signals, intent, dup = row
    report = pileon.Report(
        key=f"{channel}:{external_id}",
        author=contact_id,
        at=sent_at,
        topic=topic or "other",
        signals=tuple(signals or ()),
        intent=intent or "",
        duplicate_of=dup,
    )
    return report, case_id


def _save_pileons(records: list[ActivePileon]) -> None:
    """Write the pile-on records of a batch. No other batch about these problems runs
    meanwhile (``_lock_problems``); a new one would still never make a second row."""
    fields = ["started_at", "last_at", "reports", "authors"]
    known = [r for r in records if r.pk is not None]
    if known:
        update_rows(ActivePileon, known, fields)
    new = [r for r in records if r.pk is None]
    if new:
        ActivePileon.objects.bulk_create(
            new,
            update_conflicts=True,
            unique_fields=["workspace", "problem"],
            update_fields=fields,
        )
