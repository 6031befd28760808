"""Row locks for assignment, in one fixed order: agents (by id), then cases (by id).

Every writer that takes both kinds of lock goes through these helpers in that order, so
two writers never wait on each other in a cycle. On SQLite ``FOR UPDATE`` does not exist
and is not needed: IMMEDIATE transactions already let one writer in at a time.
Routing-rule changes take only their workspace's lock (:func:`lock_rules`), never with
the others.
"""

from collections.abc import Iterable

from django.db.models import QuerySet

from fairdesk.cases.models import Case
from fairdesk.workspaces.models import Agent, Workspace


def lock_agents(agents: QuerySet[Agent]) -> list[Agent]:
    """Lock agent rows so that their count of held cases cannot change under us."""
    return list(agents.select_for_update(of=("self",)).order_by("id"))


def lock_cases(cases: QuerySet[Case], *, public_ids: Iterable[object]) -> list[Case]:
    """Lock the cases with these public ids (among ``cases``), lowest id first."""
    return list(
        cases.filter(public_id__in=list(public_ids))
        .select_for_update(of=("self",))
        .select_related("team", "assignee")
        .order_by("id")
    )


def lock_rules(workspace_id: int) -> None:
    """Serialise changes to one workspace's routing rules (their positions are renumbered
    as a whole) by locking its workspace row. ``FOR NO KEY UPDATE``: rows that merely
    reference the workspace can still be inserted meanwhile."""
    list(
        Workspace.objects.filter(pk=workspace_id)
        .select_for_update(no_key=True)
        .values_list("pk", flat=True)
    )
