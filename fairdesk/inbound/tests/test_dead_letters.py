from django.test import Client
from django.utils import timezone

from fairdesk.inbound.models import InboundEvent
from fairdesk.workspaces.models import Agent, Workspace


def dead(workspace: Workspace, external_id: str, error: str) -> InboundEvent:
    now = timezone.now()
    return InboundEvent.objects.create(
        workspace=workspace,
        channel="x",
        external_id=external_id,
        payload={},
        status=InboundEvent.Status.DEAD,
        attempts=5,
        last_error=error,
        available_at=now,
        received_at=now,
    )


def test_supervisor_sees_own_dead_events_escaped_and_retries_them(
    workspace: Workspace, other_workspace: Workspace, supervisor: Agent, outsider: Agent
) -> None:
    mine = dead(workspace, "e1", "invalid payload: <script>alert(1)</script>")
    theirs = dead(other_workspace, "e2", "theirs")
    client = Client()
    client.force_login(supervisor.user)
    page = client.get("/failed-events/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "theirs" not in page
    response = client.post("/failed-events/retry/", {"event": [mine.id, theirs.id]})
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, mine.attempts) == ("pending", 0)
    assert theirs.status == "dead"


def test_agents_may_not_see_or_retry_failed_events(workspace: Workspace, agent: Agent) -> None:
    event = dead(workspace, "e1", "boom")
    client = Client()
    client.force_login(agent.user)
    assert client.get("/failed-events/").status_code == 403
    assert client.post("/failed-events/retry/", {"event": [event.id]}).status_code == 403
    event.refresh_from_db()
    assert event.status == "dead"
