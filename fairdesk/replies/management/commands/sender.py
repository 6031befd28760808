"""``fairdesk sender [--drain]``: the outbox worker. SIGTERM finishes the current row."""

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fairdesk.replies.sender import send_pending


class Command(BaseCommand):
    help = "Send pending outbound replies exactly once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--drain", action="store_true", help="Send everything due now, then exit."
        )
        parser.add_argument("--batch", type=int, default=100, help="Rows claimed per round.")
        parser.add_argument("--sleep", type=float, default=1.0, help="Idle pause in seconds.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        total = 0
        while not self.stopping:
            sent = send_pending(limit=options["batch"], should_stop=lambda: self.stopping)
            total += sent
            if options["drain"] and sent == 0:
                break
            if sent == 0:
                time.sleep(options["sleep"])
        self.stdout.write(f"sent {total}")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
