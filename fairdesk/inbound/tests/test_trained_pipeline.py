"""The pipeline uses trained bundles from DATA_DIR/triage when there are some, loads them
once per process, falls back to the rules without them, and /healthz says which."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from conftest import record
from fairdesk.cases.models import Case, Message
from fairdesk.inbound import triage_cache
from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.tests.heads import save_heads, train_heads
from fairdesk.workspaces.models import Workspace

Ingest = Callable[..., int]
TEXTS = [
    "I am still waiting on my card? love great thanks",
    "You charged me twice for my order, hate broken awful",
]


@pytest.fixture(scope="module")
def models() -> dict[str, HashedLinearModel]:
    return train_heads()


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.DATA_DIR = tmp_path
    triage_cache.forget()
    yield tmp_path
    triage_cache.forget()


def ingest_both(workspace: Workspace, other: Workspace, ingest: Ingest) -> None:
    for ws, author in [(workspace, "u-1"), (other, "u-2")]:
        records = [record(f"{author}-{i}", text, author=author) for i, text in enumerate(TEXTS)]
        ingest(ws, records)


def triage_of(workspace: Workspace) -> list[dict[str, Any]]:
    messages = Message.objects.filter(case__workspace=workspace).order_by("external_id")
    return [m.triage for m in messages]


def test_without_bundles_the_rules_run_and_healthz_says_so(
    data_dir: Path, workspace: Workspace, other_workspace: Workspace, ingest: Ingest
) -> None:
    ingest_both(workspace, other_workspace, ingest)
    for ws in (workspace, other_workspace):
        found = triage_of(ws)
        assert [t["support_intent"] for t in found] == ["", ""]
        assert [t["signals"] for t in found] == [[], ["money_lost"]]
    assert list(Case.objects.values_list("severity", flat=True)) == ["high", "high"]
    assert Client().get("/healthz").json()["triage_models"] == "rules"


def test_bundles_feed_the_pipeline_and_healthz(
    data_dir: Path,
    models: dict[str, HashedLinearModel],
    workspace: Workspace,
    other_workspace: Workspace,
    ingest: Ingest,
) -> None:
    save_heads(models, data_dir / "triage")
    ingest_both(workspace, other_workspace, ingest)
    for ws in (workspace, other_workspace):
        found = triage_of(ws)
        assert [t["support_intent"] for t in found] == ["card_arrival", "transaction_charged_twice"]
        assert [t["sentiment"] for t in found] == ["positive", "negative"]
        assert [t["signals"] for t in found] == [[], ["money_lost"]]  # rules, as before
        assert list(
            Message.objects.filter(case__workspace=ws)
            .order_by("external_id")
            .values_list("sentiment", flat=True)
        ) == ["positive", "negative"]
    assert list(Case.objects.values_list("severity", flat=True)) == ["high", "high"]  # as rules
    report = Client().get("/healthz").json()["triage_models"]
    assert report["heads"] == ["banking77", "irony", "offensive", "sentiment"]
    assert [(b["name"], b["task"], b["score"]) for b in report["bundles"]] == [
        ("banking77", "banking77", 50.0),
        ("irony", "irony", 50.0),
        ("offensive", "offensive", 50.0),
        ("sentiment", "sentiment", 50.0),
    ]
    assert all(b["trained_at"].endswith("+00:00") for b in report["bundles"])


def test_bundles_are_loaded_once_per_process(
    data_dir: Path,
    models: dict[str, HashedLinearModel],
    workspace: Workspace,
    other_workspace: Workspace,
    ingest: Ingest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save_heads(models, data_dir / "triage")
    loads: list[Path] = []
    real = triage_cache.load_heads

    def counting(directory: Path) -> Any:
        loads.append(directory)
        return real(directory)

    monkeypatch.setattr(triage_cache, "load_heads", counting)
    ingest_both(workspace, other_workspace, ingest)
    triage_cache._cache.clear()  # the staff refresh builds new classifiers ...
    ingest(workspace, [record("later", "Still waiting on my card", author="u-3")])
    assert loads == [data_dir / "triage"]  # ... with the heads already loaded
    later = Message.objects.get(case__workspace=workspace, external_id="later")
    assert later.triage["support_intent"] == "card_arrival"
