import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fairdesk.routing.services import sweep


class Command(BaseCommand):
    help = (
        "The routing worker: escalates cases whose deadline is near, puts cases back in "
        "the pool when their assignee did nothing for the team's timeout, and hands "
        "unassigned cases to available agents (teams with auto-assign). Every step is "
        "idempotent. SIGTERM finishes the current sweep, then exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one sweep, then exit")
        parser.add_argument("--interval", type=int, default=60, help="seconds between sweeps")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] < 1:
            raise ValueError("--interval must be at least 1 second")
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        if not options["once"]:
            signal.signal(signal.SIGTERM, request_stop)
            signal.signal(signal.SIGINT, request_stop)
        while True:
            self.stdout.write(self.sweep())
            if options["once"] or stop.wait(options["interval"]):
                return

    def sweep(self) -> str:
        escalated, released, assigned = sweep()
        return f"escalated {escalated}, unassigned {released}, assigned {assigned}"
