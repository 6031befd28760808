"""``fairdesk bench webhooks``: webhook acknowledgement latency under a burst, and loss.

The production web server (``fairdesk serve``, waitress) and a pipeline worker run as
separate processes on the configured database, as in production. An open-loop load
generator sends signed X Account Activity deliveries (one tweet each) at a fixed rate:
each request is scheduled at its tick whatever the previous ones are doing, and its
latency is measured from that tick (a slow server cannot hide its queueing).

In the same run, X's CRC check of the same webhook URL (a GET: the channel read and one
HMAC, nothing stored) is driven at the same rate first as the baseline: the ratio
of the two p99s says what storing an event costs beyond serving a request on this
machine. Loss: every delivery answered 200 must be in the inbound store, exactly once.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from django.db import connection

from fairdesk.connectors.models import Channel
from fairdesk.connectors.services import create_channel
from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace
from fairdesk.workspaces.services import create_workspace

BENCH_SLUG = "bench-webhooks"
BRAND_ID = "900000000000000001"
CONNECTIONS = 16
DRAIN_TIMEOUT_S = 300
CRC_CHECK = "{}?crc_token=bench-baseline"
SECRET = "bench-consumer-secret"  # noqa: S105 (a throwaway secret for a local bench workspace)


@dataclass(slots=True)
class Phase:
    path: str
    sent: int
    ok: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass(slots=True)
class WebhookBench:
    db: str
    rate: int
    seconds: float
    baseline: Phase
    webhooks: Phase
    stored: int
    lost: int
    duplicated: int
    # Events the worker had not processed yet when the burst ended, and the seconds it
    # then took to process them all (None: not within DRAIN_TIMEOUT_S).
    pending_after: int
    drained_after_s: float | None
    p99_ratio_to_baseline: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare() -> Channel:
    """A fresh bench workspace with one X channel (earlier bench data removed)."""
    old = Workspace.objects.filter(slug=BENCH_SLUG).first()
    if old is not None:
        InboundEvent.objects.filter(workspace=old).delete()
        Channel.objects.filter(workspace=old).delete()
        workspace = old
        if connection.vendor == "postgresql":
            # Else autovacuum cleans up the earlier run's rows in the middle of this one.
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {InboundEvent._meta.db_table}")
    else:
        workspace = create_workspace(name="Webhook bench", slug=BENCH_SLUG)
    return create_channel(
        workspace=workspace,
        kind="x",
        name="bench",
        config={"brand_user_id": BRAND_ID, "brand_handle": "@Bench"},
        credentials={"consumer_secret": SECRET},
    )


def delivery(n: int) -> bytes:
    """One Account Activity delivery with one customer tweet, as X sends it."""
    created = datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")
    payload = {
        "for_user_id": BRAND_ID,
        "tweet_create_events": [
            {
                "created_at": created,
                "id_str": str(1_900_000_000_000_000_000 + n),
                "text": f"@Bench my order {n} has not arrived, can you check?",
                "in_reply_to_status_id_str": None,
                "user": {
                    "id_str": str(5_000_000 + n % 997),
                    "screen_name": f"customer{n % 997}",
                    "name": f"Customer {n % 997}",
                    "followers_count": n % 5000,
                },
            }
        ],
    }
    return json.dumps(payload).encode()


def signature(body: bytes) -> str:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def run(
    *, rate: int, seconds: float, baseline_seconds: float, threads: int, worker_nice: int = 10
) -> WebhookBench:
    channel = prepare()
    port = _free_port()
    env = {**os.environ, "FAIRDESK_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "fairdesk", "serve", "--port", str(port), "--threads", str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    # The worker runs below the web server's CPU priority, as docs/ARCHITECTURE.md
    # recommends: acknowledging a delivery is latency-bound, triage is throughput-bound and
    # catches up after the burst (``pending_after`` says how far behind it was).
    worker = subprocess.Popen(
        [sys.executable, "-m", "fairdesk", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(worker_nice)) if worker_nice else None,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base)
        path = f"/webhooks/x/{channel.public_id}/"
        baseline = asyncio.run(_drive(base, CRC_CHECK.format(path), rate, baseline_seconds, None))
        webhooks = asyncio.run(_drive(base, path, rate, seconds, delivery))
        pending_after = _pending(channel)
        drained_after_s = _wait_drained(channel)
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            process.wait(timeout=60)
    connection.close()
    stored_ids = list(
        InboundEvent.objects.filter(workspace_id=channel.workspace_id).values_list(
            "external_id", flat=True
        )
    )
    stored = len(set(stored_ids))
    return WebhookBench(
        db=connection.vendor,
        rate=rate,
        seconds=seconds,
        baseline=baseline,
        webhooks=webhooks,
        stored=stored,
        lost=max(webhooks.ok - stored, 0),
        duplicated=len(stored_ids) - stored,
        pending_after=pending_after,
        drained_after_s=drained_after_s,
        p99_ratio_to_baseline=round(webhooks.p99_ms / baseline.p99_ms, 2)
        if baseline.p99_ms
        else 0.0,
    )


async def _drive(base: str, path: str, rate: int, seconds: float, body: Any) -> Phase:
    """Open loop: request n is due at start + n / rate, however the others are doing; its
    latency counts from then. Requests go over ``CONNECTIONS`` keep-alive connections as
    pre-built HTTP/1.1 bytes: a light client, so the figures measure the server, not the
    load generator (an HTTP library cost as much CPU per request as the server here)."""
    total = int(rate * seconds)
    host, port = base.removeprefix("http://").split(":")
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    outcome = {"ok": 0, "errors": 0}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (item := await queue.get()) is not None:
                tick, request = item
                writer.write(request)
                ok = await _read_response(reader)
                latencies.append((time.perf_counter() - tick) * 1000)
                outcome["ok" if ok else "errors"] += 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    start = time.perf_counter() + 0.2
    for n in range(total):
        tick = start + n / rate
        await asyncio.sleep(max(tick - time.perf_counter(), 0))
        queue.put_nowait((tick, _request(host, port, path, None if body is None else body(n))))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    latencies.sort()
    return Phase(
        path=path,
        sent=total,
        ok=outcome["ok"],
        errors=outcome["errors"],
        p50_ms=_quantile(latencies, 0.50),
        p95_ms=_quantile(latencies, 0.95),
        p99_ms=_quantile(latencies, 0.99),
        max_ms=round(latencies[-1], 1) if latencies else 0.0,
    )


def _request(host: str, port: str, path: str, body: bytes | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"X-Twitter-Webhooks-Signature: {signature(body)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> bool:
    """Read one response (status line, headers, Content-Length body); True for a 200."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status == b"200"


def _pending(channel: Channel) -> int:
    return InboundEvent.objects.filter(
        workspace_id=channel.workspace_id, status=InboundEvent.Status.PENDING
    ).count()


def _wait_drained(channel: Channel) -> float | None:
    """Seconds until the worker has processed every stored delivery, polled each 0.25 s."""
    start = time.monotonic()
    while time.monotonic() - start < DRAIN_TIMEOUT_S:
        if _pending(channel) == 0:
            return round(time.monotonic() - start, 2)
        time.sleep(0.25)
    return None


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(values[min(int(q * len(values)), len(values) - 1)], 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start within 60 s")
