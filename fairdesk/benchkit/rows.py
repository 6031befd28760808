"""The seeded rows: contacts with identities, cases with messages, events and CSAT answers.

Pure Python, deterministic by seed: the same seed, sizes, anchor time and texts give the
same rows on any database. Rows are plain tuples in the column order named by the
``*_COLUMNS`` constants (the loader fills any other column from its model default), so a
million cases fit in memory a chunk at a time and go to the database by COPY.

What "realistic" means here (DESIGN §4, the lifecycle in ``cases.lifecycle``):

* cases are spread evenly over the period before ``until``; case ids grow with time;
* a contact may have several cases over the year, but at most one open case;
* recent cases are mostly open, older ones mostly closed; a few old ones still wait;
* messages alternate between the customer and us, with repeats and internal notes; the
  status agrees with who spoke last (``new``: nobody answered; ``pending_customer``,
  ``resolved`` and ``closed``: we did);
* first response, resolution and closure times follow from the messages, and the
  deadlines of open cases are computed by the real SLA rules (``routing.policy``);
* triage fields the insights read: sentiment, stance, spam, praise (with a
  ``praise_forwarded`` event naming an employee), topic, reason, severity.
"""

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fairdesk.routing.policy import Targets

# fmt: off
CONTACT_COLUMNS: tuple[str, ...] = (
    "id", "workspace_id", "display_name", "email", "phone", "entitlement", "merged_into_id",
    "created_at", "updated_at",
)
IDENTITY_COLUMNS: tuple[str, ...] = (
    "id", "workspace_id", "contact_id", "channel", "external_id", "handle", "display_name",
    "follower_count", "verified", "created_at", "updated_at",
)
CASE_COLUMNS: tuple[str, ...] = (
    "id", "public_id", "workspace_id", "contact_id", "team_id", "assignee_id", "status",
    "severity", "entitlement", "reason", "topic", "subject", "origin_channel", "first_inbound_at",
    "last_inbound_at", "awaiting_since", "first_response_at", "last_response_at", "resolved_at",
    "closed_at", "first_response_due_at", "next_response_due_at", "resolution_due_at",
    "escalation_at", "next_step", "eta", "root_cause", "merged_into_id", "created_at",
    "updated_at",
)
MESSAGE_COLUMNS: tuple[str, ...] = (
    "id", "workspace_id", "case_id", "channel", "direction", "visibility", "identity_id",
    "agent_id", "external_id", "in_reply_to", "brand_handle", "text", "sent_at",
    "delivery_status", "sentiment", "stance", "is_spam", "duplicate_of", "triage", "created_at",
)
EVENT_COLUMNS: tuple[str, ...] = (
    "id", "workspace_id", "case_id", "type", "params", "actor_id", "at",
)
CSAT_COLUMNS: tuple[str, ...] = (
    "id", "workspace_id", "case_id", "contact_id", "channel", "score", "comment", "created_at",
)
# fmt: on

CHANNELS = ("x", "facebook", "instagram", "email", "webform", "phone", "mastodon", "bluesky")
CHANNEL_WEIGHTS = (28, 14, 12, 20, 8, 6, 6, 6)
SOCIAL = frozenset({"x", "facebook", "instagram", "mastodon", "bluesky"})
TOPICS = ("", "delivery", "billing", "account", "repair", "integration", "security")
TOPIC_WEIGHTS = (30, 22, 16, 14, 10, 5, 3)
TOPIC_TEAM = {"security": "security", "repair": "field-service", "billing": "billing"}
SEVERITIES = ("critical", "high", "normal", "low")
STATUS_BY_AGE = (
    # (younger than, days; statuses; weights)
    (2, ("new", "open", "pending_customer", "pending_internal", "resolved"), (25, 45, 15, 10, 5)),
    (
        14,
        ("open", "pending_customer", "pending_internal", "resolved", "closed"),
        (10, 12, 6, 12, 60),
    ),
    (
        10_000,
        ("open", "pending_customer", "pending_internal", "resolved", "closed"),
        (1, 1, 1, 2, 95),
    ),
)
OPEN = frozenset({"new", "open", "pending_customer", "pending_internal"})
ANSWERED_LAST = frozenset({"pending_customer", "pending_internal", "resolved", "closed"})
FIRST: tuple[str, ...] = (
    "Dana", "Jon", "Priya", "Sam", "Lena", "Tom", "Aiko", "Omar", "Zoe", "Ravi", "Ines",
    "Kofi", "Mila", "Ben", "Sara", "Luis", "Noor", "Emma", "Yuki", "Finn", "Ada", "Iva",
)  # fmt: skip
LAST: tuple[str, ...] = (
    "Kim", "Smith", "Garcia", "Okafor", "Nguyen", "Muller", "Rossi", "Haddad", "Silva",
    "Novak", "Cohen", "Larsen", "Tanaka", "Brown", "Dubois", "Kowalski", "Ali", "Berg",
)  # fmt: skip
SENTIMENT_SCORE = {"negative": -0.62, "neutral": 0.0, "positive": 0.71}
INTENT_BY_SENTIMENT = {"negative": "complaint", "neutral": "question", "positive": "praise"}
BRAND = "@AcmeSupport"
DAY = 86_400.0


class Weighted:
    """``rng.choices(values, weights)[0]`` without rebuilding the cumulative weights."""

    def __init__(self, values: Sequence[Any], weights: Sequence[float]) -> None:
        self.values = tuple(values)
        self.cumulative = tuple(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def __call__(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.total)]


PICK_CHANNEL = Weighted(CHANNELS, CHANNEL_WEIGHTS)
PICK_IDENTITIES = Weighted((1, 2, 3), (55, 30, 15))
PICK_TOPIC = Weighted(TOPICS, TOPIC_WEIGHTS)
PICK_SENTIMENT = Weighted(("negative", "neutral", "positive"), (55, 30, 15))
PICK_SEVERITY = Weighted(SEVERITIES, (1, 8, 60, 31))
PICK_SCORE = Weighted((5, 4, 3, 2, 1), (45, 25, 12, 8, 10))
PICK_STATUS = tuple(
    (days, Weighted(statuses, weights)) for days, statuses, weights in STATUS_BY_AGE
)


@dataclass(frozen=True, slots=True)
class Staff:
    """What the rows refer to: teams by slug, agents per team, employees, causes, SLAs."""

    teams: dict[str, int]
    agents: dict[int, list[tuple[int, str]]]  # team id -> [(agent id, initials)]
    employees: list[tuple[int, str, int | None, str]]  # (id, name, manager id, manager)
    causes: dict[str, list[str]]  # topic -> root-cause slugs
    targets: dict[tuple[str, str], Targets]


@dataclass(slots=True)
class Plan:
    """Sizes, ids, time and randomness of one seeded workspace."""

    workspace_id: int
    cases: int
    messages: int
    contacts: int
    until: datetime
    days: int
    seed: int
    first_ids: dict[str, int]  # table key -> first id to use
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if self.cases < 1 or self.messages < self.cases:
            raise ValueError("Seed at least one case and at least one message per case.")
        self.rng = random.Random(self.seed)


@dataclass(slots=True)
class Chunk:
    cases: list[tuple] = field(default_factory=list)
    messages: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    csat: list[tuple] = field(default_factory=list)


@dataclass(slots=True)
class Person:
    contact_id: int
    entitlement: str
    identities: list[tuple[int, str, str]]  # (identity id, channel, handle)


def contacts(plan: Plan) -> tuple[list[tuple], list[tuple], list[Person]]:
    """Contact rows, identity rows (1 to 3 channels each) and who is who, for the cases."""
    rng, ws, now = plan.rng, plan.workspace_id, plan.until
    contact_rows: list[tuple] = []
    identity_rows: list[tuple] = []
    people: list[Person] = []
    next_identity = plan.first_ids["identity"]
    for n in range(plan.contacts):
        contact_id = plan.first_ids["contact"] + n
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        slug = name.lower().replace(" ", "_") + str(n)
        channels = _distinct_channels(rng, PICK_IDENTITIES(rng))
        entitlement = "premium" if rng.random() < 0.08 else "standard"
        email = f"{slug}@mail.example" if "email" in channels else ""
        phone = f"+4420{7_000_000 + n:08d}" if "phone" in channels else ""
        created = now - timedelta(days=plan.days + 30)
        contact_rows.append((contact_id, ws, name, email, phone, entitlement, None, created, now))
        person = Person(contact_id, entitlement, [])
        for channel in channels:
            handle, external = _handle(channel, slug, email, phone, n)
            followers = int(rng.lognormvariate(5.0, 2.2)) if channel in SOCIAL else None
            verified = channel in SOCIAL and rng.random() < 0.01
            identity_rows.append(
                (
                    next_identity,
                    ws,
                    contact_id,
                    channel,
                    external,
                    handle,
                    name,
                    followers,
                    verified,
                    created,
                    now,
                )
            )
            person.identities.append((next_identity, channel, handle))
            next_identity += 1
        people.append(person)
    return contact_rows, identity_rows, people


def _distinct_channels(rng: random.Random, count: int) -> list[str]:
    chosen: list[str] = []
    while len(chosen) < count:
        channel = PICK_CHANNEL(rng)
        if channel not in chosen:
            chosen.append(channel)
    return chosen


def _handle(channel: str, slug: str, email: str, phone: str, n: int) -> tuple[str, str]:
    """(handle, external id) of one identity, as the channel's connector stores them."""
    if channel == "email":
        return email, email
    if channel == "phone":
        return phone, phone
    if channel == "webform":
        return "", f"form-{n}"
    if channel in {"mastodon", "bluesky"}:
        host = "mastodon.example" if channel == "mastodon" else "bsky.social"
        return f"@{slug}@{host}" if channel == "mastodon" else f"@{slug}.{host}", f"{channel}-{n}"
    return f"@{slug}", f"{channel}-{n}"


def message_counts(plan: Plan) -> list[int]:
    """Messages per case, adding up to exactly ``plan.messages``: most cases 2 to 8, a
    few long ones (up to 300), some single unanswered messages."""
    rng = plan.rng
    mean = plan.messages / plan.cases
    counts = []
    for _ in range(plan.cases):
        roll = rng.random()
        if roll < 0.0005:
            counts.append(rng.randint(40, 300))
        elif roll < 0.05 or mean < 2:
            counts.append(1)
        else:
            extra = max(mean - 2.0, 0.0)
            counts.append(2 + (int(rng.expovariate(1 / extra)) if extra > 0 else 0))
    difference = plan.messages - sum(counts)
    step = 1 if difference > 0 else -1
    while difference:
        index = rng.randrange(plan.cases)
        if step > 0 or counts[index] > 1:
            counts[index] += step
            difference -= step
    return counts
