import pytest

from fairdesk.triage.hashed import HashedLinearModel
from fairdesk.triage.tests.heads import train_heads


@pytest.fixture(scope="session")
def models() -> dict[str, HashedLinearModel]:
    """sentiment, offensive, irony and banking77 heads, trained once per test run."""
    return train_heads()
