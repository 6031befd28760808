"""One triage instance per workspace per worker process, refreshed with the staff directory.

Trained bundles are looked up in ``DATA_DIR/triage`` and loaded once per process (the
best bundle per task, see ``fairdesk.triage.bundle.best_by_task``); every workspace's
classifier shares them. Without bundles the fast tier runs its rules alone. Nothing is
trained or downloaded at run time: ``fairdesk triage train`` writes the bundles.

Deep-tier bundles (``DATA_DIR/triage/deep``) take over a task's head only where the deep
extra is installed and the bundle's stored validation score beats the fast bundle's
(``fairdesk.triage.deep_heads.with_deep_heads``); torch is imported only then.
"""

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from fairdesk.triage import FastTriage, NearDuplicateIndex, StaffMember, TriageResult
from fairdesk.triage.bundle import best_by_task
from fairdesk.triage.deep_heads import planned_tiers, with_deep_heads
from fairdesk.triage.severity import severity_of
from fairdesk.triage.trained import TASK_LABELS, TrainedHeads, load_heads
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


def bundles_dir() -> Path:
    return Path(settings.DATA_DIR) / "triage"


@functools.cache
def trained_heads() -> TrainedHeads | None:
    """The trained heads of this process (None: rules only), loaded on first use: the fast
    bundles, with deep heads in their place where a deep bundle scored better."""
    return with_deep_heads(load_heads(bundles_dir()), bundles_dir())


@functools.cache
def models_in_use() -> dict[str, Any] | str:
    """For ``/healthz``: the bundles the pipeline loads from the data directory, each with
    its tier (read from their ``model.json`` only, so the web process loads no weights and
    no torch), or "rules"."""
    fast = {t: info for t, info in best_by_task(bundles_dir()).items() if t in TASK_LABELS}
    plan = planned_tiers(bundles_dir(), fast)
    return plan if plan["bundles"] else "rules"


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
    classifier = FastTriage(staff=staff_directory(workspace), heads=trained_heads())
    if cached is None:
        cached = WorkspaceTriage(classifier, NearDuplicateIndex(), now)
        _cache[key] = cached
    else:
        cached.classifier, cached.loaded_at = classifier, now
    if len(cached.spam_keys) > 100_000:
        cached.spam_keys.clear()
    return cached


def forget() -> None:
    """Drop every cached instance and bundle (tests, after the staff directory changes,
    after new bundles were trained)."""
    _cache.clear()
    trained_heads.cache_clear()
    models_in_use.cache_clear()
