"""One process runs everything: the web app (waitress), the pipeline worker, the sender,
the poller and, for the demo, the replay. Ctrl-C or SIGTERM stops the server and every
thread.
"""

import gc
import logging
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from django.db import connections

from fairdesk.connectors.media import fetch_due
from fairdesk.connectors.polling import poll_all
from fairdesk.followthrough.tasks import run_followthrough
from fairdesk.inbound.pipeline import StopFlag, run_forever
from fairdesk.insights.rollups import refresh_all as refresh_insights
from fairdesk.replies.sender import send_pending
from fairdesk.routing.services import sweep as routing_sweep

log = logging.getLogger(__name__)
RESTART_AFTER_ERROR_S = 2.0
JOIN_TIMEOUT_S = 5.0
POLL_EVERY_S = 2.0


def resilient(name: str, loop: Callable[[], None], stop: StopFlag) -> Callable[[], None]:
    """Run ``loop`` until stopped, restarting it after an error; close this thread's DB."""

    def body() -> None:
        try:
            while not stop.requested:
                try:
                    loop()
                except Exception:
                    log.exception("the %s loop failed; restarting", name)
                    stop.wait(RESTART_AFTER_ERROR_S)
        finally:
            connections.close_all()

    return body


FOLLOWTHROUGH_EVERY_S = 10.0


def sender_loop(stop: StopFlag, *, idle_sleep: float = 1.0) -> None:
    while not stop.requested:
        if not send_pending(should_stop=lambda: stop.requested):
            stop.wait(idle_sleep)


def poller_loop(stop: StopFlag, *, every: float = POLL_EVERY_S) -> None:
    """Poll every polled channel (the demo's Mastodon and Bluesky; X's mention backfill)
    for what arrived, then wait."""
    while not stop.requested:
        poll_all()
        stop.wait(every)


def followthrough_loop(stop: StopFlag, *, every: float = FOLLOWTHROUGH_EVERY_S) -> None:
    """Confirmations, quiet-period closes, expectation updates and callbacks; then the
    routing sweep."""
    while not stop.requested:
        run_followthrough()
        routing_sweep()  # escalations, idle cases taken back, auto-assignment
        stop.wait(every)


INSIGHTS_EVERY_S = 60.0


def insights_loop(stop: StopFlag, *, every: float = INSIGHTS_EVERY_S) -> None:
    """Sum the finished days into the insights rollups (``fairdesk insights rollup``)."""
    while not stop.requested:
        refresh_insights()
        stop.wait(every)


def media_loop(stop: StopFlag, *, idle_sleep: float = 2.0) -> None:
    """Files that came as links (Messenger/Instagram attachments), through the SSRF-safe
    fetcher: in the demo a stand-in's loopback link is refused and shown as such."""
    while not stop.requested:
        outcome = fetch_due()
        if outcome.done + outcome.failed + outcome.retried == 0:
            stop.wait(idle_sleep)


def pipeline_loop(stop: StopFlag) -> None:
    run_forever(stop=stop)


def start_threads(loops: dict[str, Callable[[], None]], stop: StopFlag) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=resilient(name, loop, stop), name=f"fairdesk-{name}", daemon=True)
        for name, loop in loops.items()
    ]
    for thread in threads:
        thread.start()
    return threads


def worker_loops(stop: StopFlag) -> dict[str, Callable[[], None]]:
    return {
        "pipeline": lambda: pipeline_loop(stop),
        "sender": lambda: sender_loop(stop),
        "poller": lambda: poller_loop(stop),
        "followthrough": lambda: followthrough_loop(stop),
        "media": lambda: media_loop(stop),
        "insights": lambda: insights_loop(stop),
    }


def stop_threads(threads: list[threading.Thread], stop: StopFlag) -> None:
    stop.set()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
        if thread.is_alive():
            log.warning("%s did not stop within %.0f s", thread.name, JOIN_TIMEOUT_S)


def interrupt_on_sigterm(stop: StopFlag) -> None:
    """SIGTERM acts like Ctrl-C: waitress catches KeyboardInterrupt and shuts down."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.requested:
            stop.set()
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve(
    *, host: str, port: int, threads: int = 8, sockets: list[socket.socket] | None = None
) -> None:
    """Serve the web app until Ctrl-C or SIGTERM (on ``sockets`` when given, already bound)."""
    import waitress
    from django.conf import settings

    # WhiteNoise serves static files through the finders; an absent STATIC_ROOT only warns.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    from fairdesk.wsgi import application

    freeze_loaded_objects()
    if sockets:
        waitress.serve(application, sockets=sockets, threads=threads)
    else:
        waitress.serve(application, host=host, port=port, threads=threads)


def freeze_loaded_objects() -> None:
    """Load every view, and the libraries pages import on first use, now; then move what
    is loaded out of the garbage collector's sight.

    The loaded code (Django, the apps, the triage lexicons: some 200,000 objects) lives as
    long as the process, yet every full collection walks all of it again; an insights
    request that allocates tens of thousands of objects triggers several. Frozen, a
    collection looks only at what requests allocate (``gc.freeze``, Python ≥ 3.7).
    """
    from django.urls import get_resolver

    from fairdesk.insights import clusters

    get_resolver().url_patterns  # noqa: B018 - imports every app's views
    clusters.preload()  # scikit-learn: the first root-causes page would wait ~0.9 s
    gc.collect()
    gc.freeze()


def run_with_threads(
    *,
    host: str,
    port: int,
    loops: dict[str, Callable[[], None]],
    stop: StopFlag,
    threads: int = 8,
) -> None:
    """The web app in this thread and ``loops`` beside it; all end together."""
    interrupt_on_sigterm(stop)
    background = start_threads(loops, stop)
    try:
        serve(host=host, port=port, threads=threads)
    except KeyboardInterrupt:
        pass
    finally:
        stop_threads(background, stop)
