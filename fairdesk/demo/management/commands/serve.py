from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from fairdesk.demo import prefork
from fairdesk.demo.runtime import freeze_loaded_objects, run_with_threads, serve
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
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="web processes sharing the port (default 1; about one per core: a page "
            "renders in Python, and one process runs Python on one core)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        if not 1 <= options["processes"] <= 64:
            raise CommandError("--processes must be between 1 and 64")
        if options["processes"] > 1:
            self.serve_processes(host, port, options["processes"], options["threads"])
            return
        try:
            run_with_threads(
                host=host, port=port, loops={}, stop=StopFlag(), threads=options["threads"]
            )
        except OSError as error:
            raise CommandError(f"cannot serve on {host}:{port}: {error}") from error

    def serve_processes(self, host: str, port: int, processes: int, threads: int) -> None:
        try:
            sock = prefork.listen(host, port)
        except OSError as error:
            raise CommandError(f"cannot serve on {host}:{port}: {error}") from error
        # Views and libraries loaded once, before the fork: the processes share those
        # pages (scikit-learn alone is ~88 MB) instead of each loading its own.
        freeze_loaded_objects()
        connections.close_all()  # nothing open crosses the fork
        self.stdout.write(f"Serving on http://{host}:{port} with {processes} processes")
        prefork.run(
            processes=processes,
            serve_child=lambda: serve(host=host, port=port, threads=threads, sockets=[sock]),
        )
