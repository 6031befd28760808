import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fairdesk.inbound import claims
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import StopFlag, drain, run_forever


class Command(BaseCommand):
    help = "Process inbound events into cases. SIGTERM finishes the current batch, then exits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--drain", action="store_true", help="process what is pending, exit")
        parser.add_argument("--batch", type=int, default=None, help="events per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["drain"]:
            claims.reclaim_expired(InboundEvent)
            count = drain(limit=options["batch"])
            self.stdout.write(f"processed {count} events")
            return
        stop = StopFlag()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        run_forever(stop=stop)
