"""``fairdesk stream [--once-seconds N]``: live mentions from every Mastodon channel, one
thread per channel, each backfilling by REST on every (re)connect. SIGTERM or Ctrl-C
stops it: each thread finishes the event in hand (or waits for the next heartbeat).
Channels added later are picked up on the next start."""

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from fairdesk.connectors.mastodon.streaming import stream_channel, streamable_channels
from fairdesk.connectors.models import Channel

# Mastodon sends a heartbeat every 15 s; a thread notices the stop at the next one.
JOIN_TIMEOUT_S = 20.0


class Command(BaseCommand):
    help = "Stream live mentions from Mastodon channels and store them durably."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once-seconds",
            type=float,
            default=None,
            help="Stop after this many seconds (each channel still backfills once).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        channels = streamable_channels()
        if not channels:
            self.stdout.write("no Mastodon channels to stream")
            return
        self.stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, self._stop)
        threads = [_start(channel, self.stop) for channel in channels]
        self.stdout.write(f"streaming {len(threads)} Mastodon channels")
        try:
            self.stop.wait(options["once_seconds"])
        except KeyboardInterrupt:
            pass
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(JOIN_TIMEOUT_S)
            signal.signal(signal.SIGTERM, previous)
        stuck = [t.name for t in threads if t.is_alive()]
        self.stdout.write(f"stopped; still closing: {', '.join(stuck)}" if stuck else "stopped")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()


def _start(channel: Channel, stop: threading.Event) -> threading.Thread:
    def body() -> None:
        try:
            stream_channel(channel, stop=stop)
        finally:
            connections.close_all()

    thread = threading.Thread(target=body, name=f"fairdesk-stream-{channel.pk}", daemon=True)
    thread.start()
    return thread
