"""``fairdesk bench ingest``: the end-to-end ingest benchmark on the configured database.

A realistic stream (customers with follow-ups, brand replies, praise, security reports,
spam) is stored as pending events and processed by the real pipeline with N worker
processes. In the same run, the same rows are bulk-inserted raw as the baseline, so the
ratio between the two is meaningful on a noisy machine.
"""

import multiprocessing
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, connections, transaction
from django.utils import timezone

from fairdesk.cases.models import CaseEvent, Direction, Message
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.inbound.services import store_events
from fairdesk.workspaces.models import Workspace
from fairdesk.workspaces.services import add_employee, create_workspace

TEXTS = [
    "My dryer is three years old and the heating element failed again. Can someone fix it?",
    "I was charged twice for order {n}, please refund the second payment",
    "Where is my parcel? Tracking for {n} has not moved in five days",
    "Your app crashes every time I open my account page",
    "How do I change the delivery address for order {n}?",
    "Internet has not been working since this morning, router lights are red",
    "Can someone call me back about the API integration with our CRM?",
    "Thanks Maria for sorting my booking out so quickly, brilliant service",
    "Is the website down for everyone? Can't log in",
    "Your checkout page shows other people's addresses, that's a security vulnerability",
    "Still waiting for an answer about my refund, this is the third time I ask",
    "Love the new update, the app is so much faster now",
    "Do you ship to Norway? Looking at the {n} model",
    "The technician never came, I took a day off for nothing",
    "Earn $$$ from home, click here http://spam.example/{n} buy now, free followers",
]
CHANNELS = ["x", "x", "x", "facebook", "instagram", "mastodon", "bluesky", "email"]
VIRAL_CUSTOMERS = 997
STREAMS = ("mixed", "viral")


@dataclass(slots=True)
class BenchResult:
    db: str
    messages: int
    workers: int
    seconds: float
    store_seconds: float
    process_seconds: float
    baseline_seconds: float
    stream: str = "mixed"
    cases: int = 0
    escalations: int = 0  # ESCALATED events: a case raised twice for one pile-on shows here

    def as_dict(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "stream": self.stream,
            "messages": self.messages,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "store_seconds": round(self.store_seconds, 3),
            "process_seconds": round(self.process_seconds, 3),
            "msgs_per_s": round(self.messages / self.seconds, 1),
            "baseline_bulk_insert_msgs_per_s": round(self.messages / self.baseline_seconds, 1),
            "ratio_to_baseline": round(self.baseline_seconds / self.seconds, 3),
            "cases": self.cases,
            "escalations": self.escalations,
        }


def stream(count: int, *, seed: int = 1) -> list[dict[str, Any]]:
    """A realistic mix: ~4 messages per customer, a third of them answered by the brand."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    customers = max(1, count // 4)
    last_by_customer: dict[int, tuple[str, str]] = {}
    records: list[dict[str, Any]] = []
    for n in range(count):
        at = (start + timedelta(seconds=n * 3)).isoformat()
        customer = rng.randrange(customers)
        previous = last_by_customer.get(customer)
        if previous is not None and rng.random() < 0.25:
            channel, parent = previous
            records.append(
                {
                    "channel": channel,
                    "external_id": f"b{n}",
                    "direction": "outbound",
                    "created_at": at,
                    "author": {"external_id": "brand", "handle": "@AcmeSupport"},
                    "text": "Sorry about this, we're on it. Could you DM us the order number? ^JC",
                    "in_reply_to": parent,
                }
            )
            continue
        channel = previous[0] if previous else rng.choice(CHANNELS)
        author = f"c{customer}@example.com" if channel == "email" else f"c{customer}"
        records.append(
            {
                "channel": channel,
                "external_id": f"m{n}",
                "visibility": "public" if rng.random() < 0.7 else "private",
                "created_at": at,
                "author": {
                    "external_id": author,
                    "handle": f"@c{customer}",
                    "display_name": f"Customer {customer}",
                    "followers": rng.choice([12, 340, 5_100, 48_000, 210_000]),
                },
                "text": rng.choice(TEXTS).format(n=n),
                "in_reply_to": previous[1] if previous and rng.random() < 0.5 else None,
            }
        )
        last_by_customer[customer] = (channel, f"m{n}")
    return [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]


def viral(count: int) -> list[dict[str, Any]]:
    """A viral pile-on: one public mention every 4 ms (250/s) from 997 customers in turn,
    all about the same problem — what ``bench webhooks`` sends, processed here."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = [
        {
            "channel": "x",
            "external_id": f"v{n}",
            "created_at": (start + timedelta(milliseconds=4 * n)).isoformat(),
            "author": {
                "external_id": f"u{n % VIRAL_CUSTOMERS}",
                "handle": f"@u{n % VIRAL_CUSTOMERS}",
                "followers": 10,
            },
            "text": f"@AcmeSupport my order {1000 + n} has not arrived, still waiting",
        }
        for n in range(count)
    ]
    return [InterchangeMessage.model_validate(r).model_dump(mode="json") for r in records]


def _drain_in_child(batch: int) -> None:
    connections.close_all()
    drain(limit=batch)
    connections.close_all()


def process(workers: int, batch: int) -> None:
    if workers <= 1:
        drain(limit=batch)
        return
    connections.close_all()
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_drain_in_child, args=(batch,)) for _ in range(workers)]
    for child in children:
        child.start()
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"a benchmark worker exited with {child.exitcode}")


def baseline(workspace: Workspace, records: list[dict[str, Any]]) -> float:
    """Seconds to bulk-insert the same messages raw, with no pipeline at all."""
    rows = [
        Message(
            workspace=workspace,
            channel=r["channel"],
            direction=r["direction"],
            visibility=r["visibility"],
            external_id="raw-" + r["external_id"],
            text=r["text"],
            sent_at=datetime.fromisoformat(r["created_at"]),
        )
        for r in records
    ]
    started = time.perf_counter()
    for chunk in range(0, len(rows), 1000):
        with transaction.atomic():
            Message.objects.bulk_create(rows[chunk : chunk + 1000])
    return time.perf_counter() - started


def run(*, messages: int, workers: int, batch: int, kind: str = "mixed") -> BenchResult:
    records = viral(messages) if kind == "viral" else stream(messages)
    slug = f"bench-{int(time.time() * 1000)}"
    workspace = create_workspace(name="Benchmark", slug=slug, brand_handle="@AcmeSupport")
    add_employee(workspace=workspace, name="Maria Lopez", aliases=["Maria L."])
    scratch = create_workspace(name="Benchmark baseline", slug=slug + "-raw")
    try:
        baseline_seconds = baseline(scratch, records)
        started = time.perf_counter()
        for chunk in range(0, len(records), 1000):
            store_events(workspace=workspace, records=records[chunk : chunk + 1000])
        stored = time.perf_counter()
        process(workers, batch)
        while deferred := InboundEvent.objects.filter(workspace=workspace, status="pending"):
            # Replies whose parent was in another worker's batch wait a few seconds;
            # a live worker picks them up as soon as they are due.
            first_due = deferred.order_by("available_at").values_list("available_at", flat=True)[0]
            time.sleep(max(0.0, (first_due - timezone.now()).total_seconds()))
            drain(limit=batch)
        finished = time.perf_counter()
        left = InboundEvent.objects.filter(workspace=workspace).exclude(status="done").count()
        if left:
            raise RuntimeError(f"{left} events were not processed")
        processed = Message.objects.filter(workspace=workspace).exclude(
            direction=Direction.OUTBOUND, external_id__isnull=True
        )
        if processed.count() < messages:
            raise RuntimeError("the pipeline stored fewer messages than it was given")
        events = CaseEvent.objects.filter(workspace=workspace)
        cases = events.filter(type=CaseEvent.Type.OPENED).count()
        escalations = events.filter(type=CaseEvent.Type.ESCALATED).count()
    finally:
        Message.objects.filter(workspace=scratch).delete()
        scratch.delete()
    return BenchResult(
        db=connection.vendor,
        messages=messages,
        workers=workers,
        seconds=finished - started,
        store_seconds=stored - started,
        process_seconds=finished - stored,
        baseline_seconds=baseline_seconds,
        stream=kind,
        cases=cases,
        escalations=escalations,
    )
