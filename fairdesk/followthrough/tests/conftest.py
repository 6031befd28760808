"""A controllable clock and small builders for the follow-through tests."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from fairdesk.cases.models import Case, Direction, Message
from fairdesk.followthrough.models import WorkOrder
from fairdesk.followthrough.services import NewWorkOrder, create_work_order
from fairdesk.workspaces.models import Agent

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
# Words that appear only in internal notes and internal titles: no automatic text may
# ever contain them.
SECRET = "ZEBRA-INTERNAL"


class Clock:
    """``django.utils.timezone.now`` under the test's control."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Every ``timezone.now()`` — services, auto_now fields, the pipeline — reads it."""
    fake = Clock(START)
    monkeypatch.setattr(timezone, "now", fake)
    return fake


@pytest.fixture
def new_order(agent: Agent) -> Callable[..., WorkOrder]:
    """Create a work order on a case with an internal title nobody outside may read."""

    def create(case: Case, key: str, **changes: Any) -> WorkOrder:
        fields: dict[str, Any] = {
            "kind": "part_shipment",
            "team": case.workspace.teams.get(is_default=True),
            "title": f"{SECRET} ship element, supplier margin 40%",
            "customer_label": "Replacement part on its way",
            "due_at": timezone.now() + timedelta(days=2),
            "idempotency_key": key,
        }
        fields.update(changes)
        actor = Agent.objects.filter(workspace=case.workspace).first()
        return create_work_order(case=case, actor=actor, order=NewWorkOrder(**fields))

    return create


def outbound_texts(case: Case) -> list[str]:
    """Every outbound text of the case, oldest first."""
    return list(
        Message.objects.filter(case=case, direction=Direction.OUTBOUND)
        .order_by("id")
        .values_list("text", flat=True)
    )
