"""Row locks for assignment, in one fixed order: agents (by id), then cases (by id).

Every writer that takes both kinds of lock goes through these helpers in that order, so
two writers never wait on each other in a cycle. On SQLite ``FOR UPDATE`` does not exist
and is not needed: IMMEDIATE transactions already let one writer in at a time.
"""

from collections.abc import Iterable

from django.db.models import QuerySet

from fairdesk.cases.models import Case
from fairdesk.workspaces.models import Agent


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
