"""``fairdesk serve --processes N``: several waitress processes sharing one listening socket.

One waitress process runs Python on one core (the GIL): a queue or case page costs tens of
milliseconds of CPU to render, so a single process saturates one core long before the
database is busy. The parent binds the socket once, forks N children that each serve it
with their own threads (the kernel hands every new connection to one of them), restarts a
child that dies, and on SIGTERM or Ctrl-C stops them all and waits for them. No database
connection is open across the fork: the parent never opens one.
"""

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)
RESTART_BACKOFF_S = 1.0
STOP_TIMEOUT_S = 10.0


def listen(host: str, port: int) -> socket.socket:
    sock = socket.create_server((host, port), backlog=1024)
    sock.set_inheritable(True)
    return sock


class _Stop(Exception):
    """Raised by the parent's SIGTERM/SIGINT handler to leave its wait for children."""


def run(
    *, processes: int, serve_child: Callable[[], None], stop_timeout: float = STOP_TIMEOUT_S
) -> None:
    """Fork ``processes`` children running ``serve_child`` until SIGTERM or Ctrl-C."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: set[int] = set()
    try:
        while True:
            while len(children) < processes:
                children.add(_fork(serve_child))
            pid, status = os.waitpid(-1, 0)
            if pid in children:
                children.discard(pid)
                log.warning("web process %s ended (status %s); starting another", pid, status)
                time.sleep(RESTART_BACKOFF_S)
    except _Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_children(children, stop_timeout)


def _fork(serve_child: Callable[[], None]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
        signal.signal(signal.SIGTERM, _exit_on_term)
        serve_child()
    except KeyboardInterrupt:
        pass
    except BaseException:
        log.exception("web process failed")
        code = 1
    finally:
        os._exit(code)  # never run the parent's cleanup in a child


def _exit_on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_children(children: set[int], timeout: float) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while children and time.monotonic() < deadline:
        for pid in list(children):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
        time.sleep(0.05)
    for pid in children:  # still there after the timeout
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
