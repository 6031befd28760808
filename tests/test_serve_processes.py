"""``fairdesk serve --processes N``: N web processes on one port, restarted, stopped together."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.subprocess_db import scratch_database, spawn

T = TypeVar("T")
pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def wait_for(check: Callable[[], T], seconds: float = 60.0) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads child processes from /proc")
def test_processes_share_the_port_a_dead_one_is_replaced_and_sigterm_stops_all(
    tmp_path: Path,
) -> None:
    with scratch_database(tmp_path) as env:
        env["FAIRDESK_ALLOWED_HOSTS"] = "127.0.0.1"
        port = free_port()
        server = spawn(env, "serve", "--port", str(port), "--processes", "2", "--threads", "2")
        try:
            wait_for(lambda: healthy(port))
            first = wait_for(lambda: len(children_of(server.pid)) == 2 and children_of(server.pid))
            assert all(healthy(port) for _ in range(20))

            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            replaced = wait_for(
                lambda: (
                    (kids := children_of(server.pid)) - {victim} == kids and len(kids) == 2 and kids
                )
            )
            assert victim not in replaced and len(replaced & first) == 1
            assert all(healthy(port) for _ in range(10))

            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
            assert not any(Path(f"/proc/{pid}").exists() for pid in replaced)
            assert not healthy(port)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


def test_processes_out_of_range_is_refused(tmp_path: Path) -> None:
    with scratch_database(tmp_path) as env:
        done = subprocess.run(
            [sys.executable, "-m", "fairdesk", "serve", "--processes", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0
        assert "--processes must be between 1 and 64" in done.stderr
