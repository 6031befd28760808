"""``fairdesk followthrough [--loop]``: close confirmed and quiet cases, mark rejected
proposals, schedule requested callbacks and send due expectation updates.

Without ``--loop`` it runs one pass and prints a JSON summary (cron, scripts, tests);
with ``--loop`` it repeats until SIGTERM, which finishes the current pass.
"""

import json
import signal
import threading
from dataclasses import asdict
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fairdesk.followthrough.tasks import run_followthrough


class Command(BaseCommand):
    help = "Follow-through: resolutions, callbacks and customer updates (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="repeat until SIGTERM")
        parser.add_argument("--sleep", type=float, default=30.0, help="pause between passes")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["loop"]:
            self.stdout.write(json.dumps(asdict(run_followthrough())))
            return
        self.stop = threading.Event()
        signal.signal(signal.SIGTERM, self._stop)
        while not self.stop.is_set():
            run_followthrough()
            self.stop.wait(options["sleep"])

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
