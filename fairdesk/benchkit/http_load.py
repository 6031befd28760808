"""A real ``fairdesk serve`` for the scale benches, signed-in agents, and a light client.

The server runs as its own process on the configured database, as in production. Agents
are signed in by creating their sessions directly (the login page would only add
password hashing to the set-up). The client speaks HTTP/1.1 over one keep-alive
connection per agent from one asyncio loop, so it costs little CPU next to the server it
measures (the webhook bench found an HTTP library cost as much as the server).
"""

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from fairdesk.workspaces.models import Agent

# (kind, path) for the next request of one agent (None: it stops early); the agent's state
# is its own business.
NextRequest = Callable[[random.Random], tuple[str, str] | None]
# Called with (kind, path, body) after each response, e.g. to follow a "next page" link.
OnResponse = Callable[[str, str, bytes], None]


@dataclass(slots=True)
class Latencies:
    """Latency figures of one kind of request, in milliseconds."""

    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(samples: list[float], errors: int) -> Latencies:
    ordered = sorted(samples)
    return Latencies(
        requests=len(ordered) + errors,
        errors=errors,
        p50_ms=quantile(ordered, 0.50),
        p95_ms=quantile(ordered, 0.95),
        p99_ms=quantile(ordered, 0.99),
        max_ms=round(ordered[-1], 1) if ordered else 0.0,
    )


def quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of sorted values (0.0 for none)."""
    if not ordered:
        return 0.0
    return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 1)


@dataclass(slots=True)
class Server:
    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far (user + system, its web processes
        included when it runs several), from /proc."""
        return sum(_cpu_seconds(pid) for pid in (self.pid, *_children(self.pid)))


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


@contextmanager
def server(
    *, threads: int, statement_timeout_s: int | None = None, processes: int = 1
) -> Iterator[Server]:
    """``fairdesk serve`` on a free port, stopped afterwards. On PostgreSQL a statement
    timeout bounds how long one page may hold the database (it then answers 500)."""
    port = _free_port()
    env = {**os.environ, "FAIRDESK_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    url = env.get("DATABASE_URL", "")
    if statement_timeout_s and url.startswith(("postgres://", "postgresql://")):
        option = quote(f"-c statement_timeout={statement_timeout_s * 1000}")
        env["DATABASE_URL"] = url + ("&" if "?" in url else "?") + f"options={option}"
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            *(sys.executable, "-m", "fairdesk", "serve", "--port", str(port)),
            *("--threads", str(threads), "--processes", str(processes)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def sign_in(agents: list[Agent]) -> list[str]:
    """A session cookie for each agent, as the login page would create it."""
    cookies = []
    for agent in agents:
        session = SessionStore()
        session[SESSION_KEY] = str(agent.user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = agent.user.get_session_auth_hash()
        session.create()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    return cookies


def sign_out(cookies: list[str]) -> None:
    for cookie in cookies:
        SessionStore(session_key=cookie.split("=", 1)[1]).delete()


@dataclass(slots=True)
class AgentScript:
    """What one simulated agent does: its cookie, its next request, what it reads back."""

    cookie: str
    next_request: NextRequest
    on_response: OnResponse | None = None


def drive(
    base: str, scripts: list[AgentScript], *, seconds: float, think_ms: int, seed: int = 1
) -> dict[str, tuple[list[float], int]]:
    """Closed loop: each agent sends a request, reads the whole answer, pauses a random
    think time (mean ``think_ms``), and again until ``seconds`` are over. Returns the
    latencies and error count per request kind."""
    return asyncio.run(_drive(base, scripts, seconds, think_ms, seed))


async def _drive(
    base: str, scripts: list[AgentScript], seconds: float, think_ms: int, seed: int
) -> dict[str, tuple[list[float], int]]:
    host, port = base.removeprefix("http://").split(":")
    results: dict[str, tuple[list[float], int]] = {}
    deadline = time.perf_counter() + seconds

    async def agent(number: int, script: AgentScript) -> None:
        rng = random.Random(seed * 1000 + number)
        await asyncio.sleep(rng.uniform(0, think_ms / 1000))  # agents do not start in step
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                if (chosen := script.next_request(rng)) is None:
                    break
                kind, path = chosen
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Cookie: {script.cookie}\r\nAccept: text/html\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                writer.write(request)
                status, body = await read_response(reader)
                took = (time.perf_counter() - started) * 1000
                samples, errors = results.setdefault(kind, ([], 0))
                if status == 200:
                    samples.append(took)
                    if script.on_response is not None:
                        script.on_response(kind, path, body)
                else:
                    results[kind] = (samples, errors + 1)
                if think_ms:
                    await asyncio.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
        finally:
            writer.close()

    await asyncio.gather(*(agent(n, s) for n, s in enumerate(scripts)))
    return results


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response: (status, body), with Content-Length or chunked bodies."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length) if length else b""
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start within 60 s")


def load_average() -> str:
    """The machine's load (1, 5, 15 minutes), to read the figures by."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
