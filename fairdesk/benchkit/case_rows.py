"""One seeded case at a time: its row, its thread of messages, its events and CSAT answer.

See :mod:`fairdesk.benchkit.rows` for what "realistic" means and the column orders.
"""

import itertools
import json
import math
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from fairdesk.benchkit.rows import (
    ANSWERED_LAST,
    BRAND,
    DAY,
    INTENT_BY_SENTIMENT,
    OPEN,
    PICK_SCORE,
    PICK_SENTIMENT,
    PICK_SEVERITY,
    PICK_STATUS,
    PICK_TOPIC,
    SENTIMENT_SCORE,
    SOCIAL,
    TOPIC_TEAM,
    Chunk,
    Person,
    Plan,
    Staff,
)
from fairdesk.benchkit.texts import TextPools
from fairdesk.routing.policy import deadlines_for


class CaseWriter:
    """Turns one case at a time into rows; keeps the id counters and the open contacts."""

    def __init__(self, plan: Plan, staff: Staff, people: list[Person], pools: TextPools):
        self.plan, self.staff, self.people, self.pools = plan, staff, people, pools
        self.rng = plan.rng
        self.ids = dict(plan.first_ids)
        self.open_contacts: set[int] = set()
        self.triage_json: dict[tuple, str] = {}
        self.routed_json: dict[tuple[int, str], str] = {}
        self.start = plan.until - timedelta(days=plan.days)

    def chunks(self, counts: list[int], size: int) -> Iterator[Chunk]:
        chunk = Chunk()
        span = (self.plan.until - self.start).total_seconds()
        for index, count in enumerate(counts):
            offset = (index + self.rng.random()) / len(counts) * span
            self.case(chunk, self.start + timedelta(seconds=offset), count)
            if len(chunk.cases) >= size:
                yield chunk
                chunk = Chunk()
        if chunk.cases:
            yield chunk

    def _take(self, key: str) -> int:
        value = self.ids[key]
        self.ids[key] = value + 1
        return value

    def _person(self, status: str) -> tuple[Person, str]:
        """A customer for a new case, the frequent ones more often; one open case each
        (a recent case of a customer who already has one open counts as closed)."""
        rng, people = self.rng, self.people
        for _ in range(50):
            person = people[int(len(people) * rng.random() ** 1.4)]
            if status not in OPEN or person.contact_id not in self.open_contacts:
                break
        else:
            status = "closed"
        if status in OPEN:
            self.open_contacts.add(person.contact_id)
        return person, status

    def case(self, chunk: Chunk, opened: datetime, count: int) -> None:
        rng = self.rng
        age_days = (self.plan.until - opened).total_seconds() / DAY
        spam = count == 1 and rng.random() < 0.2
        status = _status(rng, age_days, count, spam)
        person, status = self._person(status)
        topic = "" if spam else PICK_TOPIC(rng)
        sentiment = PICK_SENTIMENT(rng)
        severity = _severity(rng, topic, sentiment, spam)
        team_id = self.staff.teams[TOPIC_TEAM.get(topic, "front-line")]
        replier = rng.choice(self.staff.agents[team_id])
        assigned = status != "new" and (status not in OPEN or rng.random() < 0.75)
        case_id = self._take("case")
        identity = rng.choice(person.identities)
        thread = _Thread(self, chunk, case_id, person, identity, sentiment, topic, spam)
        thread.team_id = team_id
        thread.write(count, status, opened, severity, replier)
        agent_id = replier[0] if assigned else None
        self._case_row(
            chunk,
            case_id,
            person,
            identity,
            status,
            severity,
            topic,
            team_id,
            agent_id,
            spam,
            thread,
        )

    def _case_row(
        self,
        chunk: Chunk,
        case_id: int,
        person: Person,
        identity: tuple,
        status: str,
        severity: str,
        topic: str,
        team_id: int,
        agent_id: int | None,
        spam: bool,
        thread: "_Thread",
    ) -> None:
        rng, t = self.rng, thread
        targets = self.staff.targets[(severity, person.entitlement)]
        first_due = next_due = resolution_due = escalation = None
        if status in OPEN:
            due = deadlines_for(
                targets=targets,
                first_inbound_at=t.first_inbound,
                awaiting_since=t.awaiting_since,
                first_response_at=t.first_response,
            )
            first_due, next_due = due.first_response_due_at, due.next_response_due_at
            resolution_due, escalation = due.resolution_due_at, due.escalation_at
        done = t.resolved_at
        cause = ""
        if status in {"resolved", "closed"} and topic and rng.random() < 0.3:
            cause = rng.choice(self.staff.causes.get(topic) or [""])
        next_step, eta = "", None
        if status == "pending_internal":
            next_step = "A replacement part is on its way"
            eta = t.last_at + timedelta(days=rng.randint(1, 6))
        reason = "spam" if spam else (_signal(topic, severity) or INTENT_BY_SENTIMENT[t.sentiment])
        subject = t.first_text[:80] if identity[1] in {"email", "webform"} else ""
        # Mixed with the workspace: the same seed in two workspaces gives two sets of ids.
        salt = (self.plan.workspace_id * 0x9E3779B97F4A7C15) % (1 << 128)
        public_id = uuid.UUID(int=rng.getrandbits(128) ^ salt, version=4)
        chunk.cases.append(
            (
                case_id,
                public_id,
                self.plan.workspace_id,
                person.contact_id,
                team_id,
                agent_id,
                status,
                severity,
                person.entitlement,
                reason,
                topic,
                subject,
                identity[1],
                t.first_inbound,
                t.last_inbound,
                t.awaiting_since,
                t.first_response,
                t.last_response,
                done,
                t.closed_at,
                first_due,
                next_due,
                resolution_due,
                escalation,
                next_step,
                eta,
                cause,
                None,
                t.first_inbound,
                t.last_at,
            )
        )
        self._events(chunk, case_id, identity, status, severity, reason, topic, t)
        if status == "closed" and t.closed_at and rng.random() < 0.2:
            score = PICK_SCORE(rng)
            answered = min(t.closed_at + timedelta(hours=rng.randint(1, 48)), self.plan.until)
            chunk.csat.append(
                (
                    self._take("csat"),
                    self.plan.workspace_id,
                    case_id,
                    person.contact_id,
                    identity[1],
                    score,
                    "",
                    answered,
                )
            )

    def _events(
        self,
        chunk: Chunk,
        case_id: int,
        identity: tuple,
        status: str,
        severity: str,
        reason: str,
        topic: str,
        t: "_Thread",
    ) -> None:
        ws, at, take = self.plan.workspace_id, t.first_inbound, self._take
        # Every value is a known identifier (no quotes to escape): JSON by formatting.
        opened = (
            f'{{"channel": "{identity[1]}", "external_id": "{t.first_external}", '
            f'"severity": "{severity}", "reason": "{reason}"}}'
        )
        chunk.events.append((take("event"), ws, case_id, "opened", opened, None, at))
        routed = self.routed_json.get((t.team_id, topic))
        if routed is None:
            team = next(slug for slug, pk in self.staff.teams.items() if pk == t.team_id)
            routed = self.routed_json[(t.team_id, topic)] = json.dumps(
                {"team": team, "topic": topic}
            )
        chunk.events.append((take("event"), ws, case_id, "routed", routed, None, at))
        if status in {"resolved", "closed"}:
            changed = f'{{"from": "open", "to": "{status}"}}'
            when = t.closed_at or t.resolved_at
            chunk.events.append(
                (take("event"), ws, case_id, "status_changed", changed, t.agent_id, when)
            )
        chunk.events.extend(t.praise_events)

    def triage(
        self, sentiment: str, stance: str, topic: str, severity: str, spam: bool, praised: str
    ) -> str:
        key = (sentiment, stance, topic, severity, spam, praised)
        cached = self.triage_json.get(key)
        if cached is None:
            signal = _signal(topic, severity)
            cached = json.dumps(
                {
                    "language": "en",
                    "sentiment": sentiment,
                    "sentiment_score": SENTIMENT_SCORE[sentiment],
                    "signals": [signal] if signal else [],
                    "topic": topic,
                    "intent": "spam" if spam else INTENT_BY_SENTIMENT[sentiment],
                    "praise": bool(praised),
                    "praised_staff": [praised] if praised else [],
                    "stance": stance,
                    "spam": spam,
                    "spam_reason": "bench" if spam else "",
                    "offensive": False,
                }
            )
            self.triage_json[key] = cached
        return cached


def _status(rng: random.Random, age_days: float, count: int, spam: bool) -> str:
    if spam and age_days > 2:
        return "closed"
    status = "closed"
    for younger_than, pick in PICK_STATUS:
        if age_days < younger_than:
            status = pick(rng)
            break
    if count == 1 and status in ANSWERED_LAST:
        # One message and nobody answered: still waiting, or closed unanswered.
        return "closed" if age_days > 14 else "open"
    return status


def _severity(rng: random.Random, topic: str, sentiment: str, spam: bool) -> str:
    if spam:
        return "low"
    if topic == "security":
        return "critical" if rng.random() < 0.5 else "high"
    if sentiment == "positive":
        return "low"
    return PICK_SEVERITY(rng)


def _signal(topic: str, severity: str) -> str:
    if topic == "security":
        return "security_report"
    if severity == "critical":
        return "outage"
    if topic == "billing" and severity == "high":
        return "money_lost"
    return ""


RESPONSE_MEDIAN_S = {"critical": 900.0, "high": 2_400.0, "normal": 7_200.0, "low": 14_400.0}


class _Thread:
    """The messages of one case, and the lifecycle times they imply."""

    def __init__(
        self,
        owner: CaseWriter,
        chunk: Chunk,
        case_id: int,
        person: Person,
        identity: tuple,
        sentiment: str,
        topic: str,
        spam: bool,
    ) -> None:
        self.owner, self.chunk, self.case_id = owner, chunk, case_id
        self.person, self.identity, self.sentiment = person, identity, sentiment
        self.topic, self.spam = topic, spam
        self.first_inbound: datetime = owner.plan.until
        self.last_inbound: datetime = owner.plan.until
        self.first_response: datetime | None = None
        self.last_response: datetime | None = None
        self.awaiting_since: datetime | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.last_at: datetime = owner.plan.until
        self.first_external = ""
        self.first_text = ""
        self.team_id = 0
        self.agent_id: int | None = None
        self.praise_events: list[tuple] = []

    def write(
        self, count: int, status: str, opened: datetime, severity: str, replier: tuple[int, str]
    ) -> None:
        rng, owner = self.owner.rng, self.owner
        agent_id, initials = replier
        self.agent_id = agent_id
        directions = _directions(rng, count, status)
        times = _times(rng, directions, opened, owner.plan.until, severity, status)
        public = self.identity[1] in SOCIAL and rng.random() < 0.65
        last_inbound_external = ""
        identity = self.identity
        for position, (inbound, at) in enumerate(zip(directions, times, strict=True)):
            if inbound and position and len(self.person.identities) > 1 and rng.random() < 0.1:
                identity = rng.choice(self.person.identities)  # the customer switched channel
                public = public and identity[1] in SOCIAL
            message_id = owner._take("message")
            if inbound:
                last_inbound_external = f"m{message_id}"
                self._inbound(message_id, identity, public, at, severity, position == 0)
            else:
                note = position < count - 1 and rng.random() < 0.06
                self._outbound(
                    message_id,
                    identity,
                    public,
                    at,
                    agent_id,
                    initials,
                    last_inbound_external,
                    note,
                )
        self.last_at = times[-1]
        self._lifecycle(status, directions, times)

    def _inbound(
        self,
        message_id: int,
        identity: tuple,
        public: bool,
        at: datetime,
        severity: str,
        first: bool,
    ) -> None:
        rng, owner, pools = self.owner.rng, self.owner, self.owner.pools
        visibility = "public" if public else "private"
        if self.spam:
            text = rng.choice(pools.spam)
        elif not public and identity[1] not in SOCIAL and rng.random() < 0.5:
            text = rng.choice(pools.private)
        else:
            text = rng.choice(pools.inbound[self.sentiment])
        stance = "neutral"
        if public and self.sentiment == "positive" and rng.random() < 0.4:
            stance = "promotes"
        elif public and self.sentiment == "negative" and rng.random() < 0.2:
            stance = "detracts"
        praised = ""
        if self.sentiment == "positive" and not self.spam and rng.random() < 0.15:
            employee = rng.choice(owner.staff.employees)
            praised = employee[1]
            params = json.dumps(
                {
                    "employee_id": employee[0],
                    "employee": employee[1],
                    "manager_id": employee[2],
                    "manager": employee[3],
                    "recipients": [],
                }
            )
            self.praise_events.append(
                (
                    owner._take("event"),
                    owner.plan.workspace_id,
                    self.case_id,
                    "praise_forwarded",
                    params,
                    None,
                    at,
                )
            )
        triage = owner.triage(self.sentiment, stance, self.topic, severity, self.spam, praised)
        external = f"m{message_id}"
        if first:
            self.first_external, self.first_text = external, text
        self.chunk.messages.append(
            (
                message_id,
                owner.plan.workspace_id,
                self.case_id,
                identity[1],
                "inbound",
                visibility,
                identity[0],
                None,
                external,
                "",
                "",
                text,
                at,
                "received",
                self.sentiment,
                stance,
                self.spam,
                "",
                triage,
                at,
            )
        )

    def _outbound(
        self,
        message_id: int,
        identity: tuple,
        public: bool,
        at: datetime,
        agent_id: int,
        initials: str,
        replying_to: str,
        note: bool,
    ) -> None:
        rng, owner = self.owner.rng, self.owner
        if note:
            text = "Internal note: checked the order history, waiting on the warehouse."
            row = (
                message_id,
                owner.plan.workspace_id,
                self.case_id,
                identity[1],
                "outbound",
                "internal",
                None,
                agent_id,
                None,
                "",
                "",
                text,
                at,
                "sent",
                "",
                "",
                False,
                "",
                "{}",
                at,
            )
        else:
            text = f"{rng.choice(owner.pools.replies)} ^{initials}"
            row = (  # type: ignore[assignment]  # external id: NULL for a note, set here
                message_id,
                owner.plan.workspace_id,
                self.case_id,
                identity[1],
                "outbound",
                "public" if public else "private",
                None,
                agent_id,
                f"o{message_id}",
                replying_to,
                BRAND,
                text,
                at,
                "sent",
                "",
                "",
                False,
                "",
                "{}",
                at,
            )
            if self.first_response is None:
                self.first_response = at
            self.last_response = at
        self.chunk.messages.append(row)

    def _lifecycle(self, status: str, directions: list[bool], times: list[datetime]) -> None:
        rng, until = self.owner.rng, self.owner.plan.until
        inbound_times = [at for inbound, at in zip(directions, times, strict=True) if inbound]
        self.first_inbound, self.last_inbound = inbound_times[0], inbound_times[-1]
        if status in OPEN:
            waiting = [
                at for at in inbound_times if self.last_response is None or at > self.last_response
            ]
            self.awaiting_since = min(waiting) if waiting else None
        if status in {"resolved", "closed"}:
            resolved = min(times[-1] + timedelta(seconds=rng.uniform(60, DAY)), until)
            self.resolved_at = self.last_at = resolved
            if status == "closed":
                self.closed_at = self.last_at = min(resolved + timedelta(days=3), until)


def _directions(rng: random.Random, count: int, status: str) -> list[bool]:
    """True for a customer message. The first is the customer's; who speaks last agrees
    with the status; nobody answered a ``new`` case."""
    if status == "new" or count == 1:
        return [True] * count
    directions = [True]
    for _ in range(count - 1):
        previous = directions[-1]
        directions.append(rng.random() >= 0.8 if previous else rng.random() < 0.85)
    directions[-1] = status not in ANSWERED_LAST
    if not any(not d for d in directions):
        directions[1] = False  # an open case that was answered once
    return directions


def _times(
    rng: random.Random,
    directions: list[bool],
    opened: datetime,
    until: datetime,
    severity: str,
    status: str,
) -> list[datetime]:
    """Message times from ``opened``: our replies after a delay that depends on severity,
    the customer's after hours; squeezed to end before ``until`` (and before the
    resolution that follows a resolved or closed case)."""
    median = RESPONSE_MEDIAN_S[severity]
    gaps = [0.0]
    for previous, current in itertools.pairwise(directions):
        if previous and not current:
            gaps.append(rng.lognormvariate(math.log(median), 1.1))
        elif not previous and current:
            gaps.append(rng.lognormvariate(math.log(3 * 3600), 1.2))
        else:
            gaps.append(rng.uniform(60, 3600))
    total = sum(gaps)
    room = (until - opened).total_seconds() * (0.5 if status in {"resolved", "closed"} else 0.95)
    scale = min(1.0, room / total) if total else 1.0
    times, elapsed = [], 0.0
    for gap in gaps:
        elapsed += gap * scale
        times.append(opened + timedelta(seconds=elapsed))
    return times
