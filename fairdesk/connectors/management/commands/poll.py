"""``fairdesk poll [--once]``: read every pollable channel (mentions timelines, IMAP
mailboxes, notification feeds) from its cursor, every ``--interval`` seconds."""

import json
import signal
import threading
from dataclasses import asdict
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fairdesk.connectors.polling import poll_all


class Command(BaseCommand):
    help = "Poll connected channels for new messages and store them durably."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One round, then exit.")
        parser.add_argument("--interval", type=float, default=30.0, help="Seconds between rounds.")
        parser.add_argument("--json", action="store_true", help="Print each round as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopped = threading.Event()
        signal.signal(signal.SIGTERM, self._stop)
        while not self.stopped.is_set():
            outcomes = poll_all()
            if options["json"]:
                self.stdout.write(json.dumps([asdict(o) for o in outcomes]))
            else:
                stored = sum(o.stored for o in outcomes)
                errors = sum(1 for o in outcomes if o.error)
                self.stdout.write(f"polled {len(outcomes)} channels: {stored} new, {errors} errors")
            if options["once"]:
                break
            self.stopped.wait(options["interval"])

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopped.set()
