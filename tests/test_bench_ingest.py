"""``fairdesk bench ingest``: both streams run end to end through the real pipeline."""

import json
from io import StringIO

import pytest
from django.core.management import call_command


def bench(*args: str) -> dict[str, object]:
    out = StringIO()
    call_command("bench", "ingest", "--json", "--batch", "25", *args, stdout=out)
    data: dict[str, object] = json.loads(out.getvalue())
    return data


@pytest.mark.django_db(transaction=True)
def test_viral_stream_raises_each_customer_case_exactly_once() -> None:
    data = bench("--messages", "80", "--stream", "viral", "--workers", "1")
    assert data["stream"] == "viral" and data["messages"] == 80
    # 80 customers (fewer than the 997 in turn), one case each, all in one pile-on:
    # every case escalated once, however many batches the burst took.
    assert data["cases"] == 80
    assert data["escalations"] == 80


@pytest.mark.django_db(transaction=True)
def test_mixed_stream_reports_its_figures() -> None:
    data = bench("--messages", "120", "--workers", "1")
    assert data["stream"] == "mixed" and data["messages"] == 120
    assert 0 < data["cases"] <= 120  # type: ignore[operator]
