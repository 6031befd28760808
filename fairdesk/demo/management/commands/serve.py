from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fairdesk.demo.runtime import run_with_threads
from fairdesk.inbound.pipeline import StopFlag


class Command(BaseCommand):
    help = (
        "Serve the web app with waitress (production). Run `fairdesk worker` and "
        "`fairdesk sender` beside it. The host must be in FAIRDESK_ALLOWED_HOSTS. "
        "SIGTERM or Ctrl-C stops it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--threads", type=int, default=4, help="request threads (default 4, as waitress)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        try:
            run_with_threads(
                host=host, port=port, loops={}, stop=StopFlag(), threads=options["threads"]
            )
        except OSError as error:
            raise CommandError(f"cannot serve on {host}:{port}: {error}") from error
