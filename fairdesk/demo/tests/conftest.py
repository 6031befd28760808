from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fairdesk.demo.channels import connect_channels
from fairdesk.demo.loading import LoadSummary, load_demo_stream
from fairdesk.demo.platforms import DemoPlatforms, register, start_platforms
from fairdesk.demo.setup import DemoWorkspace, ensure_demo_workspace

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def platforms() -> Iterator[DemoPlatforms]:
    """The four stand-ins on loopback, as ``fairdesk demo`` starts them."""
    started = start_platforms()
    try:
        yield started
    finally:
        register(None)
        started.stop()


@pytest.fixture
def demo(db: None, tmp_path: Path, platforms: DemoPlatforms) -> DemoWorkspace:
    """The demo workspace with its channels connected to the stand-ins."""
    found = ensure_demo_workspace(data_dir=tmp_path)
    connect_channels(workspace=found.workspace, platforms=platforms)
    return found


@pytest.fixture
def loaded(
    demo: DemoWorkspace, platforms: DemoPlatforms, django_capture_on_commit_callbacks
) -> LoadSummary:
    """The whole demo stream through the platforms, the pipeline and the sender (mail
    sent on commit)."""
    with django_capture_on_commit_callbacks(execute=True):
        return load_demo_stream(demo.workspace, NOW, platforms=platforms)
