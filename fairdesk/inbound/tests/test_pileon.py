"""Pile-ons through the real pipeline: many people, one problem, raised on every channel."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from conftest import T0, record
from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.workspaces.models import Workspace

Ingest = Callable[..., int]
CHECKOUT = "The checkout page shows error 502 when I pay"
CHANNELS = ["x", "facebook", "instagram", "mastodon", "bluesky"]
HOSTILE = (
    '<script>alert("x")</script> =HYPERLINK("http://evil.test") '
    "checkout fails with error 502\r\nBcc: victim@example.com"
)


def customers(
    first: int, last: int, text: str = CHECKOUT, minutes: int = 0
) -> list[dict[str, Any]]:
    """One message each from customers first..last-1, on different channels, a minute apart."""
    return [
        record(
            f"m-{i}",
            text,
            channel=CHANNELS[i % len(CHANNELS)],
            author=f"c{i}",
            handle=f"@c{i}",
            followers=i * 100_000,
            minutes=minutes + i,
        )
        for i in range(first, last)
    ]


def pileon_events(workspace: Workspace, type_: str) -> list[tuple[str, Any]]:
    events = CaseEvent.objects.filter(workspace=workspace, type=type_).order_by("case_id", "id")
    return [
        (e.case.contact.display_name, e.params)
        for e in events.select_related("case__contact")
        if e.params.get("reason") == "pileon" or e.params.get("kind") == "pileon"
    ]


def severities(workspace: Workspace) -> list[tuple[str, str]]:
    cases = Case.objects.filter(workspace=workspace).select_related("contact").order_by("id")
    return [(c.contact.display_name, c.severity) for c in cases]


def test_five_customers_raise_every_case_and_alert_the_team_once(
    workspace: Workspace, ingest: Ingest
) -> None:
    ingest(workspace, customers(0, 5))
    assert severities(workspace) == [(f"C{i}", "high") for i in range(5)]
    summary = {
        "problem": "text:x:m-0",
        "authors": 5,
        "reports": 5,
        "started_at": T0.isoformat(),
    }
    assert pileon_events(workspace, CaseEvent.Type.SEVERITY_CHANGED) == [
        (
            f"C{i}",
            {
                "previous": "normal",
                "severity": "high",
                "signals": [],
                "reason": "pileon",
                "pileon": summary,
            },
        )
        for i in range(5)
    ]
    assert pileon_events(workspace, CaseEvent.Type.ESCALATED) == [
        (f"C{i}", {"kind": "pileon", "team": "Billing", "pileon": summary}) for i in range(5)
    ]
    case = Case.objects.get(workspace=workspace, contact__display_name="C3")
    # Deadlines follow the new severity: high/standard answers within 4 hours.
    assert case.first_response_due_at == T0 + timedelta(minutes=3, hours=4)
    assert case.escalation_at == T0 + timedelta(minutes=3, hours=4)


def test_pileon_across_batches_raises_earlier_cases_once(
    workspace: Workspace, ingest: Ingest
) -> None:
    ingest(workspace, customers(0, 3))
    assert severities(workspace) == [(f"C{i}", "normal") for i in range(3)]
    ingest(workspace, customers(3, 5))
    assert severities(workspace) == [(f"C{i}", "high") for i in range(5)]
    ingest(workspace, customers(5, 6))
    assert severities(workspace) == [(f"C{i}", "high") for i in range(6)]
    raised = pileon_events(workspace, CaseEvent.Type.SEVERITY_CHANGED)
    alerts = pileon_events(workspace, CaseEvent.Type.ESCALATED)
    assert [name for name, _ in raised] == [f"C{i}" for i in range(6)]
    assert [name for name, _ in alerts] == [f"C{i}" for i in range(6)]
    assert [params["pileon"]["authors"] for _, params in alerts] == [5, 5, 5, 5, 5, 6]


def test_one_customer_repeating_fifty_times_raises_nothing(
    workspace: Workspace, ingest: Ingest
) -> None:
    # Identities on other channels are separate people until identity resolution links
    # them; one customer on one channel is one person, however loud.
    repeats = [
        record(
            f"r-{i}", CHECKOUT.upper() + "!" * i, author="c0", followers=i * 50_000, minutes=i % 20
        )
        for i in range(50)
    ]
    ingest(workspace, repeats)
    assert Message.objects.filter(workspace=workspace).count() == 50
    assert Case.objects.filter(workspace=workspace).values_list("severity", flat=True).get() == (
        "normal"
    )
    assert pileon_events(workspace, CaseEvent.Type.SEVERITY_CHANGED) == []
    assert pileon_events(workspace, CaseEvent.Type.ESCALATED) == []


def test_four_customers_are_not_a_pileon(workspace: Workspace, ingest: Ingest) -> None:
    ingest(workspace, customers(0, 4) + customers(0, 4, minutes=1))
    assert severities(workspace) == [(f"C{i}", "normal") for i in range(4)]
    assert pileon_events(workspace, CaseEvent.Type.ESCALATED) == []


def test_customers_spread_beyond_the_window_are_not_a_pileon(
    workspace: Workspace, ingest: Ingest
) -> None:
    spread = [record(f"s-{i}", CHECKOUT, author=f"c{i}", minutes=i * 8) for i in range(5)]
    ingest(workspace, spread)
    assert Case.objects.filter(workspace=workspace, severity="normal").count() == 5
    assert pileon_events(workspace, CaseEvent.Type.ESCALATED) == []


def test_pileon_in_one_workspace_never_touches_another(
    workspace: Workspace, other_workspace: Workspace, ingest: Ingest
) -> None:
    ingest(other_workspace, customers(0, 4))
    ingest(workspace, customers(0, 5))
    assert severities(workspace) == [(f"C{i}", "high") for i in range(5)]
    # Four Globex customers plus Acme's five would be nine: workspaces never mix.
    assert severities(other_workspace) == [(f"C{i}", "normal") for i in range(4)]
    assert pileon_events(other_workspace, CaseEvent.Type.SEVERITY_CHANGED) == []
    assert pileon_events(other_workspace, CaseEvent.Type.ESCALATED) == []


def test_security_reports_stay_critical_and_are_still_alerted(
    workspace: Workspace, ingest: Ingest
) -> None:
    text = "Your admin debug panel is exposed to the internet, that's a security vulnerability"
    ingest(workspace, customers(0, 5, text=text))
    assert severities(workspace) == [(f"C{i}", "critical") for i in range(5)]
    assert pileon_events(workspace, CaseEvent.Type.SEVERITY_CHANGED) == []
    alerts = pileon_events(workspace, CaseEvent.Type.ESCALATED)
    assert [(name, params["team"]) for name, params in alerts] == [
        (f"C{i}", "Security") for i in range(5)
    ]


def test_hostile_text_pileon_stores_text_verbatim_and_keeps_it_out_of_events(
    workspace: Workspace, ingest: Ingest
) -> None:
    ingest(workspace, customers(0, 5, text=HOSTILE))
    assert set(Message.objects.filter(workspace=workspace).values_list("text", flat=True)) == {
        HOSTILE
    }
    alerts = CaseEvent.objects.filter(workspace=workspace, type=CaseEvent.Type.ESCALATED)
    assert alerts.count() == 5
    assert all("script" not in str(e.params) and "Bcc" not in str(e.params) for e in alerts)


def test_closed_cases_are_not_reopened_by_a_pileon(workspace: Workspace, ingest: Ingest) -> None:
    ingest(workspace, customers(0, 3))
    Case.objects.filter(workspace=workspace, contact__display_name="C0").update(status="closed")
    ingest(workspace, customers(3, 5))
    assert severities(workspace) == [
        ("C0", "normal"),
        ("C1", "high"),
        ("C2", "high"),
        ("C3", "high"),
        ("C4", "high"),
    ]
    assert Case.objects.get(workspace=workspace, contact__display_name="C0").status == "closed"


def test_an_ongoing_pileon_locks_only_the_customers_it_still_has_to_raise(
    workspace: Workspace, ingest: Ingest, monkeypatch: Any
) -> None:
    # Every later batch re-detects the pile-on; the crowd already raised is neither
    # locked nor loaded again (that was a thousand rows a batch in a viral burst).
    from fairdesk.inbound import threading

    ingest(workspace, customers(0, 5))
    locked: list[set[int]] = []
    real = threading.lock_contacts

    def spy(ids: Any) -> None:
        locked.append(set(ids))
        real(ids)

    monkeypatch.setattr(threading, "lock_contacts", spy)
    ingest(workspace, customers(5, 7))
    newcomers = set(
        Case.objects.filter(
            workspace=workspace, contact__display_name__in=["C5", "C6"]
        ).values_list("contact_id", flat=True)
    )
    assert locked == [newcomers]
    assert severities(workspace) == [(f"C{i}", "high") for i in range(7)]
    alerts = pileon_events(workspace, CaseEvent.Type.ESCALATED)
    assert sorted(name for name, _ in alerts) == [f"C{i}" for i in range(7)]
