"""``fairdesk insights digest [--dry-run] [--week YYYY-Www]``: mail each root-cause owner
the weekly digest of their causes (default: the last full ISO week), once per owner and
week, and print a JSON summary. Run it from cron on Mondays; a rerun sends nothing twice.

``fairdesk insights rollup [--workspace SLUG]``: sum the finished days that changed or are
new into the rollups the insights pages read (``insights.rollups``), and print what it did
as JSON. Run it every few minutes; the demo runs it by itself.
"""

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from fairdesk.insights.digest import BadWeek, last_full_week, parse_week, send_digests
from fairdesk.insights.rollups import refresh, refresh_all
from fairdesk.workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "Insights tasks: 'digest' mails each root-cause owner their weekly digest; "
        "'rollup' brings the rollups behind the insights pages up to date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        digest = actions.add_parser("digest", help="the weekly root-cause digest")
        digest.add_argument("--week", help="ISO week, e.g. 2026-W45 (default: last full week)")
        digest.add_argument("--dry-run", action="store_true", help="list recipients, send nothing")
        rollup = actions.add_parser("rollup", help="refresh the insights rollups")
        rollup.add_argument("--workspace", help="one workspace's slug (default: every one)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "rollup":
            self.rollup(options["workspace"])
            return
        try:
            week = parse_week(options["week"]) if options["week"] else None
        except BadWeek as exc:
            raise CommandError(str(exc)) from exc
        run = send_digests(week=week or last_full_week(timezone.now()), dry_run=options["dry_run"])
        self.stdout.write(json.dumps(asdict(run)))
        if run.failed:
            raise CommandError(f"{len(run.failed)} digest(s) not sent; the next run retries them.")

    def rollup(self, slug: str | None) -> None:
        if slug is None:
            done = refresh_all()
        else:
            workspace = Workspace.objects.filter(slug=slug).first()
            if workspace is None:
                raise CommandError(f"No workspace {slug[:100]!r}.")
            done = [refresh(workspace=workspace)]
        self.stdout.write(json.dumps([asdict(d) for d in done]))
