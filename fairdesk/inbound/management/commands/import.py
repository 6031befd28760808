import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.progress import BarColumn, Progress, TextColumn

from fairdesk.inbound.importers import READERS, import_file
from fairdesk.workspaces.queries import pick_workspace


class Command(BaseCommand):
    help = "Import an interchange JSONL or Customer Support on Twitter CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=sorted(READERS), default="jsonl")
        parser.add_argument(
            "--workspace", default=None, help="workspace slug (default: the only one)"
        )
        parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        workspace = pick_workspace(options["workspace"])
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            TextColumn("{task.completed} lines"),
            transient=True,
            console=None,
            disable=options["json"],
        ) as progress:
            task = progress.add_task("import", total=None)
            report = import_file(
                workspace=workspace,
                path=path,
                fmt=options["format"],
                on_progress=lambda n: progress.update(task, completed=n),
            )
        for line, error in report.errors[:1000]:
            self.stderr.write(f"line {line}: {error}")
        if len(report.errors) > 1000:
            self.stderr.write(f"… and {len(report.errors) - 1000} more rejected lines")
        if options["json"]:
            self.stdout.write(json.dumps(report.summary()))
        else:
            s = report.summary()
            self.stdout.write(
                f"read {s['read']}, imported {s['imported']}, duplicates {s['duplicates']}, "
                f"rejected {s['rejected']}"
            )
