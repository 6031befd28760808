import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fairdesk.routing.queries import queue
from fairdesk.workspaces.queries import pick_workspace


class Command(BaseCommand):
    help = "Open cases in queue order (earliest deadline first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", default=None, help="workspace slug")
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = pick_workspace(options["workspace"])
        cases = list(queue(workspace, limit=options["limit"]))
        handles = first_handles([c.id for c in cases])
        rows = [
            {
                "case": c.reference,
                "id": str(c.public_id),
                "severity": c.severity,
                "escalation_at": c.escalation_at.isoformat() if c.escalation_at else None,
                "first_response_due_at": iso(c.first_response_due_at),
                "next_response_due_at": iso(c.next_response_due_at),
                "resolution_due_at": iso(c.resolution_due_at),
                "channel": c.origin_channel,
                "handle": handles.get(c.id, ""),
                "team": c.team.name if c.team else "",
            }
            for c in cases
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=1))
            return
        for row in rows:
            self.stdout.write(
                f"{row['case']:>10}  {row['severity']:<8}  {row['escalation_at'] or '-':<25}  "
                f"{row['channel']:<9}  {row['handle']}"
            )


def iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def first_handles(case_ids: list[int]) -> dict[int, str]:
    """The handle of each case's first inbound author, in one query."""
    from fairdesk.cases.models import Message

    handles: dict[int, str] = {}
    rows = (
        Message.objects.filter(case_id__in=case_ids, direction="inbound")
        .order_by("case_id", "sent_at", "id")
        .values_list("case_id", "identity__handle")
    )
    for case_id, handle in rows:
        if case_id is not None:
            handles.setdefault(case_id, handle or "")
    return handles
