"""One triage instance per workspace per worker process, refreshed with the staff directory."""

import time
from dataclasses import dataclass, field

from fairdesk.triage import FastTriage, NearDuplicateIndex, StaffMember, TriageResult
from fairdesk.triage.severity import severity_of
from fairdesk.workspaces.models import Employee, Workspace

REFRESH_SECONDS = 60.0


@dataclass(slots=True)
class WorkspaceTriage:
    classifier: FastTriage
    duplicates: NearDuplicateIndex
    loaded_at: float
    spam_keys: set[str] = field(default_factory=set)

    @staticmethod
    def severity_of(result: TriageResult) -> str:
        return severity_of(result)


_cache: dict[tuple[int, float], WorkspaceTriage] = {}


def staff_directory(workspace: Workspace) -> list[StaffMember]:
    return [
        StaffMember(key=str(pk), name=name, aliases=tuple(aliases or ()))
        for pk, name, aliases in Employee.objects.filter(workspace=workspace).values_list(
            "id", "name", "aliases"
        )
    ]


def triage_for_workspace(workspace: Workspace) -> WorkspaceTriage:
    key = (workspace.id, workspace.created_at.timestamp())
    cached = _cache.get(key)
    now = time.monotonic()
    if cached is not None and now - cached.loaded_at < REFRESH_SECONDS:
        return cached
    classifier = FastTriage(staff=staff_directory(workspace))
    if cached is None:
        cached = WorkspaceTriage(classifier, NearDuplicateIndex(), now)
        _cache[key] = cached
    else:
        cached.classifier, cached.loaded_at = classifier, now
    if len(cached.spam_keys) > 100_000:
        cached.spam_keys.clear()
    return cached


def forget() -> None:
    """Drop every cached instance (tests, and after the staff directory changes)."""
    _cache.clear()
