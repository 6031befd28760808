"""``fairdesk media [--drain]``: download the files that came with messages as links
(queued by the pipeline) through the SSRF-safe fetcher. SIGTERM finishes the link in
hand, then exits."""

import json
import signal
import threading
from dataclasses import asdict
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fairdesk.connectors.media import MediaOutcome, fetch_due


class Command(BaseCommand):
    help = "Fetch attachment links of inbound messages into stored attachments."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--drain", action="store_true", help="fetch what is due, exit")
        parser.add_argument("--batch", type=int, default=20, help="links per claim")
        parser.add_argument("--interval", type=float, default=2.0, help="idle wait, seconds")
        parser.add_argument("--json", action="store_true", help="print the totals as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        stopped = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopped.set()

        signal.signal(signal.SIGTERM, stop)
        total = MediaOutcome()
        while not stopped.is_set():
            outcome = fetch_due(limit=options["batch"])
            total.done += outcome.done
            total.failed += outcome.failed
            total.retried += outcome.retried
            if outcome.done + outcome.failed + outcome.retried == 0:
                if options["drain"]:
                    break
                stopped.wait(options["interval"])
        if options["json"]:
            self.stdout.write(json.dumps(asdict(total)))
        else:
            self.stdout.write(
                f"attachments: {total.done} stored, {total.failed} failed, {total.retried} to retry"
            )
