from django.db.models import QuerySet

from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Workspace


def dead_events(workspace: Workspace, *, limit: int = 100) -> QuerySet[InboundEvent]:
    """Events that failed every attempt, newest first (the dead-letter list)."""
    return InboundEvent.objects.filter(
        workspace=workspace, status=InboundEvent.Status.DEAD
    ).order_by("-id")[:limit]
