"""``fairdesk demo`` as a user runs it: a real process, a real port, a real login."""

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.request import OpenerDirector

from fairdesk.demo.stream import SECURITY_TEXT
from fairdesk.inbound.events import SECURITY_ACK

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the demo exited early"
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"no healthy demo at {base} within {START_TIMEOUT_S} s")


def log_in(base: str, username: str, password: str) -> tuple[OpenerDirector, str]:
    """A browser-like session logged in, and the queue page the login redirected to."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    login = opener.open(f"{base}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login)
    assert token is not None
    form = {"csrfmiddlewaretoken": token.group(1), "username": username, "password": password}
    data = urllib.parse.urlencode(form).encode()
    with opener.open(f"{base}/login/", data=data, timeout=10) as response:
        assert response.geturl().rstrip("/") == base  # redirected to the queue
        return opener, str(response.read().decode())


def test_demo_serves_the_queue_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "FAIRDESK_TEST_DB"}}
    env.update(FAIRDESK_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    output = tmp_path / "demo.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "fairdesk", "demo", "--port", str(port), "--no-replay"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_health(base, process)
            credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
            password = credentials["passwords"]["jo"]
            assert password in output.read_text()
            opener, queue = log_in(base, "jo", password)
            assert SECURITY_TEXT[:80] in html.unescape(queue)
            # The acknowledgement left through the X connector: the X stand-in has it.
            assert f"{base}/demo/platforms/" in output.read_text()
            with opener.open(f"{base}/demo/platforms/", timeout=10) as response:
                received = html.unescape(response.read().decode())
            assert SECURITY_ACK.split("(")[0] in received
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOP_TIMEOUT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert "Demo stopped." in output.read_text()
