"""A worker killed with SIGKILL at any instant loses nothing and duplicates nothing.

Two worker processes are started on the same database and killed repeatedly in the
middle of batches; afterwards one more run drains what is left. The result must equal
an undisturbed run of the same stream: every event done once, every message once, the
same cases for the same customers.
"""

import json
import random
import signal
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from conftest import record
from tests.subprocess_db import fairdesk, python, scratch_database, spawn

CUSTOMERS = 300
SNAPSHOT = """
import json
from fairdesk.cases.models import Case, Message
from fairdesk.inbound.models import InboundEvent
print(json.dumps({
    "events": {
        s: InboundEvent.objects.filter(status=s).count()
        for s in ["pending", "processing", "done", "dead"]
    },
    "messages": Message.objects.count(),
    "distinct_messages": Message.objects.values("channel", "external_id").distinct().count(),
    "cases": Case.objects.count(),
    "reclaimed": InboundEvent.objects.filter(attempts__gt=1).count(),
    "threads": sorted(
        [m.external_id, m.case.contact.display_name if m.case else None]
        for m in Message.objects.select_related("case__contact")
    ),
}))
"""


def stream(path: Path) -> tuple[Path, int]:
    rng = random.Random(7)
    problems = [
        "My dryer stopped heating, the heating element failed",
        "I was charged twice for my order",
        "Where is my parcel? Tracking says nothing",
        "Your app crashes every time I log in",
    ]
    lines = []
    seen = set()
    for n in range(CUSTOMERS * 10):
        customer = rng.randrange(CUSTOMERS)
        seen.add(customer)
        lines.append(
            json.dumps(
                record(
                    f"m{n}",
                    f"{rng.choice(problems)} (message {n})",
                    author=f"c{customer}",
                    handle=f"@c{customer}",
                    minutes=n,
                )
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path, len(seen)


def load(env: dict[str, str], path: Path) -> None:
    python(
        env,
        "from fairdesk.workspaces.services import create_workspace\n"
        "create_workspace(name='Kill', slug='kill')",
    )
    fairdesk(env, "import", str(path), "--format", "jsonl", "--workspace", "kill", "--json")


def done_events(env: dict[str, str], status: str = "done") -> int:
    url = env["DATABASE_URL"]
    query = f"SELECT count(*) FROM inbound_inboundevent WHERE status = '{status}'"
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)) as conn:
            return int(conn.execute(query).fetchone()[0])
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0])


def wait_for_progress(env: dict[str, str], before: int) -> None:
    """Wait until the workers are past start-up and processing batches."""
    deadline = time.monotonic() + 60
    while done_events(env) == before and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.django_db
def test_sigkill_in_the_middle_of_batches_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    path, customers = stream(tmp_path / "stream.jsonl")
    with scratch_database(tmp_path / "calm") as env:
        load(env, path)
        fairdesk(env, "worker", "--drain", "--batch", "10")
        expected = json.loads(python(env, SNAPSHOT))
    assert expected["events"]["done"] == CUSTOMERS * 10
    with scratch_database(tmp_path / "killed") as env:
        env["FAIRDESK_WORKER_LEASE_SECONDS"] = "1"
        load(env, path)
        rng = random.Random(11)
        kills = 0
        for _ in range(6):
            if done_events(env, "pending") == 0:
                break
            before = done_events(env)
            workers = [spawn(env, "worker", "--batch", "10") for _ in range(2)]
            wait_for_progress(env, before)
            time.sleep(rng.uniform(0.0, 0.15))
            for worker in workers:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                kills += 1
        time.sleep(1.2)  # let the leases of the killed batches run out
        fairdesk(env, "worker", "--drain", "--batch", "10")
        actual = json.loads(python(env, SNAPSHOT))
    assert kills >= 4
    assert actual["events"] == {"pending": 0, "processing": 0, "done": CUSTOMERS * 10, "dead": 0}
    assert actual["messages"] == actual["distinct_messages"] == CUSTOMERS * 10
    assert actual["cases"] == expected["cases"] == customers
    assert actual["threads"] == expected["threads"]
    assert actual["reclaimed"] > 0  # the kills really did land in the middle of batches
