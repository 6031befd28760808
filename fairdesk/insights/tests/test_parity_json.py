"""The parity endpoint's JSON, built without pydantic validation (``api.parity_json``), is
byte for byte what ninja made of the same figures through ``ParityOut`` — for random
figures (flags, empty groups, missing means, no weeks at all) and over HTTP."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder

import fairdesk.api
from fairdesk.insights import api as insights_api
from fairdesk.insights.queries import parity
from fairdesk.insights.queries.parity import DIMENSIONS, figures_of
from fairdesk.insights.tests.rows import case, identity
from fairdesk.insights.tests.test_parity_sums import random_rows
from fairdesk.workspaces.models import Workspace

START = datetime(2026, 3, 2, 7, 30, 12, 345678, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)


def through_validation(result: dict[str, Any]) -> bytes:
    """The response as ninja made it from the handler's dict: ``ParityOut`` validated
    from the dataclasses' attributes, dumped, rendered."""
    assert fairdesk.api.api.urls  # binds the routers to the API
    (bound,) = (
        b for b in fairdesk.api.api._bound_routers_cache or () if b.template is insights_api.router
    )
    operation = bound.path_operations["/parity"].operations[0]
    request = RequestFactory().get("/api/v1/insights/parity")
    temporal = HttpResponse("", content_type="application/json; charset=utf-8")
    response = operation._result_to_response(request, result, temporal)
    assert isinstance(response, HttpResponse)
    return bytes(response.content)


def direct(period: insights_api.Period, dimensions: tuple[Any, ...]) -> bytes:
    request = RequestFactory().get("/api/v1/insights/parity")
    found = fairdesk.api.api.create_response(
        request, insights_api.parity_json(period, dimensions), status=200
    )
    return bytes(found.content)


def render(data: Any) -> str:
    request = RequestFactory().get("/api/v1/insights/parity")
    return str(fairdesk.api.api.renderer.render(request, data, response_status=200))


def spliced(period: insights_api.Period, dimensions: tuple[Any, ...]) -> bytes:
    return insights_api.parity_content(render, period, dimensions).encode()


@pytest.mark.parametrize("seed", range(8))
def test_the_direct_json_is_the_validated_json(seed: int) -> None:
    dimensions = tuple(
        figures_of(d, random_rows(d, seed * 7 + n)) for n, d in enumerate(DIMENSIONS)
    )
    period = insights_api.Period(start=START, end=END)
    old = through_validation(
        {"period": period, "method": insights_api.PARITY_METHOD, "dimensions": dimensions}
    )
    assert direct(period, dimensions) == old
    assert b'"weeks": [{"week": "2026-' in old or all(not d.weeks for d in dimensions)
    # Rendered in pieces, the weeks' pieces then kept and reused: the same bytes.
    assert spliced(period, dimensions) == old
    assert spliced(period, dimensions) == old


def test_a_renderer_that_writes_other_separators_gets_the_whole_dict() -> None:
    dimensions = tuple(figures_of(d, random_rows(d, n)) for n, d in enumerate(DIMENSIONS))
    period = insights_api.Period(start=START, end=END)

    def indented(data: Any) -> str:
        return json.dumps(data, cls=NinjaJSONEncoder, indent=1)

    found = insights_api.parity_content(indented, period, dimensions)
    assert found == indented(insights_api.parity_json(period, dimensions))
    assert json.loads(found) == json.loads(direct(period, dimensions))


def test_the_random_figures_cover_every_shape() -> None:
    """Nulls, flags and weeks all occur in the figures compared above."""
    period = insights_api.Period(start=START, end=END)
    text = b"".join(
        direct(
            period,
            tuple(figures_of(d, random_rows(d, seed * 7 + n)) for n, d in enumerate(DIMENSIONS)),
        )
        for seed in range(8)
    )
    for needed in (b'"versus_rest": null', b'"geometric_mean": null', b'"flag": "slower"'):
        assert needed in text
    for needed in (b'"rate": null', b'"flag": "higher"', b'"minutes": null', b'"low": null'):
        assert needed in text


@pytest.mark.django_db
def test_the_endpoint_answers_what_validation_gave(
    workspace: Workspace, other_workspace: Workspace, api_token: str
) -> None:
    now = timezone.now()
    for n in range(12):
        who = identity(
            workspace, f"@p{n}", followers=10 ** (n % 8), channel=("x", "mastodon")[n % 2]
        )
        case(
            who,
            at=now - timedelta(days=n * 3 + 1),
            answered_after=n * 7 + 1,
            resolved_after=None if n % 3 else n * 60.0,
            severity=("normal", "critical")[n % 2],
        )
    start, end = now - timedelta(days=60), now
    response = Client().get(
        "/api/v1/insights/parity",
        {"start": start.isoformat(), "end": end.isoformat()},
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    period = insights_api.Period(start=start, end=end)
    dimensions = parity.parity(workspace, start, end)
    expected = through_validation(
        {"period": period, "method": insights_api.PARITY_METHOD, "dimensions": dimensions}
    )
    assert response.content == expected
    assert response.json()["dimensions"][0]["groups"] == ["mastodon", "x"]
    again = Client().get(  # the past weeks' pieces now kept: the same bytes
        "/api/v1/insights/parity",
        {"start": start.isoformat(), "end": end.isoformat()},
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert again.content == expected
