"""The worker loop batches a steady stream: after a partial batch it gathers for a moment
before claiming again; a full batch (a backlog) is followed at once by the next."""

import pytest
from django.test import override_settings

from conftest import record
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import StopFlag, run_forever
from fairdesk.inbound.services import store_events
from fairdesk.workspaces.models import Workspace


class CountingStop(StopFlag):
    """Records each pause the loop asks for; stops it after ``pauses`` of them."""

    def __init__(self, pauses: int) -> None:
        super().__init__()
        self.pauses: list[float] = []
        self.limit = pauses

    def wait(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if len(self.pauses) >= self.limit:
            self.set()


def _store(workspace: Workspace, count: int) -> None:
    records = [record(f"w{n}", f"My order {n} has not arrived", minutes=n) for n in range(count)]
    assert store_events(workspace=workspace, records=records).stored == count


@pytest.mark.django_db(transaction=True)
@override_settings(FAIRDESK_WORKER_BATCH=2, FAIRDESK_WORKER_GATHER_MS=150)
def test_a_full_batch_is_followed_at_once_a_partial_one_gathers(workspace: Workspace) -> None:
    _store(workspace, 3)
    stop = CountingStop(pauses=2)

    run_forever(stop=stop, idle_sleep=0.5)

    # Batch of 2 (full): no pause; batch of 1 (partial): the gather pause; then idle.
    assert stop.pauses == [0.15, 0.5]
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"done"}


@pytest.mark.django_db(transaction=True)
@override_settings(FAIRDESK_WORKER_BATCH=50)
def test_gathering_can_be_switched_off(workspace: Workspace) -> None:
    _store(workspace, 3)
    stop = CountingStop(pauses=1)

    run_forever(stop=stop, idle_sleep=0.5, gather=0)

    assert stop.pauses == [0.5]  # straight from the partial batch to the idle check
    assert InboundEvent.objects.exclude(status="done").count() == 0
