import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from fairdesk.benchkit.command import SCALE_BENCHES, add_scale_arguments, run_scale_bench


class Command(BaseCommand):
    help = (
        "Benchmarks. `bench ingest --messages N`: end-to-end ingest on the configured DB; "
        "`bench webhooks --rate R --seconds S`: webhook latency under a burst, and loss; "
        "`bench seed --cases N --messages M`: a realistic workspace for the scale benches; "
        "`bench workspace`: concurrent agents on the queue, case and search pages; "
        "`bench insights`: every insights page and API endpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        ingest = sub.add_parser("ingest", help="store and process N messages end to end")
        ingest.add_argument("--messages", type=int, default=10_000)
        ingest.add_argument(
            "--workers", type=int, default=None, help="default: 2 on PostgreSQL, 1 on SQLite"
        )
        ingest.add_argument("--batch", type=int, default=500)
        ingest.add_argument(
            "--stream",
            choices=("mixed", "viral"),
            default="mixed",
            help="mixed: customers with follow-ups, replies, praise, spam; viral: one problem "
            "from 997 customers at 250/s",
        )
        ingest.add_argument("--json", action="store_true")
        hooks = sub.add_parser(
            "webhooks", help="webhook acknowledgement latency under a burst, and loss"
        )
        hooks.add_argument("--rate", type=int, default=250, help="deliveries per second")
        hooks.add_argument("--seconds", type=float, default=120.0)
        hooks.add_argument("--baseline-seconds", type=float, default=30.0)
        hooks.add_argument("--threads", type=int, default=4, help="web server threads")
        hooks.add_argument(
            "--worker-nice",
            type=int,
            default=10,
            help="CPU niceness of the pipeline worker (0: same priority as the server)",
        )
        hooks.add_argument("--json", action="store_true")
        add_scale_arguments(sub)

    def _webhooks(self, options: dict[str, Any]) -> None:
        from fairdesk.connectors.bench import run as run_webhooks

        result = run_webhooks(
            rate=options["rate"],
            seconds=options["seconds"],
            baseline_seconds=options["baseline_seconds"],
            threads=options["threads"],
            worker_nice=options["worker_nice"],
        )
        data = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data))
            return
        hooks, base = result.webhooks, result.baseline
        self.stdout.write(
            f"{result.db}: {hooks.sent} deliveries at {result.rate}/s — p50 {hooks.p50_ms} ms, "
            f"p99 {hooks.p99_ms} ms, max {hooks.max_ms} ms, {hooks.errors} errors; "
            f"stored {result.stored}, lost {result.lost}, duplicated {result.duplicated}; "
            f"CRC-check baseline p99 {base.p99_ms} ms (ratio {result.p99_ratio_to_baseline}); "
            f"worker: {result.pending_after} pending at the end, all processed "
            + (
                f"{result.drained_after_s} s later"
                if result.drained_after_s is not None
                else "not within the drain timeout"
            )
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.core.management import call_command

        from fairdesk.inbound.bench import run

        call_command("migrate", verbosity=0)
        if options["what"] in SCALE_BENCHES:
            run_scale_bench(self, options)
            return
        if options["what"] == "webhooks":
            self._webhooks(options)
            return

        workers = options["workers"] or (2 if connection.vendor == "postgresql" else 1)
        result = run(
            messages=options["messages"],
            workers=workers,
            batch=options["batch"],
            kind=options["stream"],
        )
        data = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data))
            return
        self.stdout.write(
            f"{data['db']}: {data['messages']} messages in {data['seconds']} s with "
            f"{workers} worker(s) = {data['msgs_per_s']} msgs/s end to end; raw bulk insert "
            f"of the same rows {data['baseline_bulk_insert_msgs_per_s']} msgs/s "
            f"(ratio {data['ratio_to_baseline']}); {data['cases']} cases opened, "
            f"{data['escalations']} escalation events"
        )
