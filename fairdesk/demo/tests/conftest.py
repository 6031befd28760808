from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fairdesk.demo.loading import LoadSummary, load_demo_stream
from fairdesk.demo.setup import DemoWorkspace, ensure_demo_workspace

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo(db: None, tmp_path: Path) -> DemoWorkspace:
    return ensure_demo_workspace(data_dir=tmp_path)


@pytest.fixture
def loaded(demo: DemoWorkspace, django_capture_on_commit_callbacks) -> LoadSummary:
    """The whole demo stream through the real pipeline and sender (mail sent on commit)."""
    with django_capture_on_commit_callbacks(execute=True):
        return load_demo_stream(demo.workspace, NOW)
