"""The parity charts written in Python equal, byte for byte, the templates they replaced."""

from typing import Any

import pytest
from django.template import Context, Template
from django.test import override_settings

from fairdesk.insights.comparison import Comparison, GeometricMean
from fairdesk.insights.queries.parity import GroupFigure

# ``insights/_ratio.html`` and the weekly trend's cell, as they were.
RATIO = (
    '{% load insights_charts %}{% if c %}<svg class="ratio" width="120" height="12" '
    'viewBox="0 0 120 12" role="img" aria-label="{{ c.ratio }} times (95% interval '
    '{{ c.low }} to {{ c.high }})"><line x1="60" y1="0" x2="60" y2="12" stroke="#5b6576"/>'
    '<line x1="{{ c.low|ratio_x }}" y1="6" x2="{{ c.high|ratio_x }}" y2="6" stroke="#1f5fbf" '
    'stroke-width="3"/><circle cx="{{ c.ratio|ratio_x }}" cy="6" r="3" fill="#14213d"/></svg>\n'
    '×{{ c.ratio }} <span class="muted">[{{ c.low }}–{{ c.high }}]</span>'  # noqa: RUF001
    '{% if c.flag == "faster" %} <strong class="overdue">served faster</strong>'
    '{% elif c.flag == "slower" %} <strong class="warn">served slower</strong>{% endif %}'
    '{% else %}<span class="muted">too few cases</span>{% endif %}\n'
)
CELL = (
    "{% if f.measured %}{{ f.geometric_mean.minutes }} min<br>"
    + RATIO.replace("c.", "f.versus_rest.").replace("{% if c %}", "{% if f.versus_rest %}")
    + '{% else %}<span class="muted">no data</span>{% endif %}'
)
COMPARISONS: list[Any] = [
    None,
    Comparison(1.0, 0.8, 1.25, "", 40),
    Comparison(0.412, 0.2, 0.801, "faster", 12),
    Comparison(3.5, 1.2, 10.0, "slower", 7),
    Comparison(1e-05, 2.5e-07, 123456789.5, "faster", 5),  # written out, not as 1e-05
    Comparison(0.0, 0.0, 0.0, "", 5),
]


def render(template: str, **context: Any) -> str:
    return Template(template).render(Context(context))


@pytest.mark.parametrize("c", COMPARISONS)
def test_the_ratio_chart_is_the_template_it_replaced(c: Any) -> None:
    found = render("{% load insights_charts %}{% ratio_chart c %}", c=c)
    assert found == render(RATIO, c=c)
    assert ("too few cases" in found) == (c is None)
    assert ("served faster" in found) == (c is not None and c.flag == "faster")


@pytest.mark.parametrize("c", COMPARISONS)
@pytest.mark.parametrize("measured", [0, 1, 9])
def test_the_trend_cell_is_the_template_it_replaced(c: Any, measured: int) -> None:
    mean = GeometricMean(17.3, None, None) if measured else None
    f = GroupFigure("x", measured + 2, measured, mean, (), c if measured else None)
    assert render("{% load insights_charts %}{% trend_cell f %}", f=f) == render(CELL, f=f)


@override_settings(USE_THOUSAND_SEPARATOR=True, NUMBER_GROUPING=3)
def test_numbers_are_grouped_where_the_settings_say() -> None:
    c = Comparison(1234.5, 1000.25, 2000.0, "slower", 9)
    found = render("{% load insights_charts %}{% ratio_chart c %}", c=c)
    assert found == render(RATIO, c=c)
    assert "1,234.5" in found
