import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection


class Command(BaseCommand):
    help = "Benchmarks. `bench ingest --messages N`: end-to-end ingest on the configured DB."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        ingest = sub.add_parser("ingest", help="store and process N messages end to end")
        ingest.add_argument("--messages", type=int, default=10_000)
        ingest.add_argument(
            "--workers", type=int, default=None, help="default: 2 on PostgreSQL, 1 on SQLite"
        )
        ingest.add_argument("--batch", type=int, default=500)
        ingest.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.core.management import call_command

        from fairdesk.inbound.bench import run

        call_command("migrate", verbosity=0)

        workers = options["workers"] or (2 if connection.vendor == "postgresql" else 1)
        result = run(messages=options["messages"], workers=workers, batch=options["batch"])
        data = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data))
            return
        self.stdout.write(
            f"{data['db']}: {data['messages']} messages in {data['seconds']} s with "
            f"{workers} worker(s) = {data['msgs_per_s']} msgs/s end to end; raw bulk insert "
            f"of the same rows {data['baseline_bulk_insert_msgs_per_s']} msgs/s "
            f"(ratio {data['ratio_to_baseline']})"
        )
