"""Positions for the small inline SVG charts of the insights page (no JavaScript)."""

import math
from typing import Any

from django import template
from django.conf import settings
from django.utils import formats
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

RATIO_WIDTH = 120  # a ratio of 1 sits in the middle; each doubling moves 20 px
BAR_WIDTH = 100
TIMES, DASH = "\N{MULTIPLICATION SIGN}", "\N{EN DASH}"
FLAGS = {
    "faster": ' <strong class="overdue">served faster</strong>',
    "slower": ' <strong class="warn">served slower</strong>',
}


@register.filter
def ratio_x(ratio: float | None) -> float:
    """Where a wait ratio lies on a log scale from 1/8 to 8 (clamped to the chart)."""
    if not ratio or ratio <= 0:
        return RATIO_WIDTH / 2
    x = RATIO_WIDTH / 2 + 20 * math.log2(ratio)
    return round(min(max(x, 1.0), RATIO_WIDTH - 1.0), 1)


@register.filter
def percent_width(rate: float | None) -> float:
    """The width of a bar for a percentage (0-100), for a BAR_WIDTH-wide chart."""
    if rate is None:
        return 0.0
    return round(min(max(rate, 0.0), 100.0) * BAR_WIDTH / 100, 1)


class _Numbers:
    """Floats written as ``{{ value }}`` writes them (``formats.localize``), without its
    per-call cost where the plain form is the same: no grouping, no exponent."""

    def __init__(self) -> None:
        self.separator = str(formats.get_format("DECIMAL_SEPARATOR"))
        self.grouping = settings.USE_THOUSAND_SEPARATOR

    def __call__(self, value: float) -> str:
        text = str(value)
        if self.grouping or "e" in text:
            return str(formats.localize(value))
        return text if self.separator == "." else text.replace(".", self.separator)


def _ratio(c: Any, number: _Numbers) -> str:
    if not c:
        return '<span class="muted">too few cases</span>\n'
    ratio, low, high = number(c.ratio), number(c.low), number(c.high)
    return (
        '<svg class="ratio" width="120" height="12" viewBox="0 0 120 12" role="img" '
        f'aria-label="{ratio} times (95% interval {low} to {high})">'
        '<line x1="60" y1="0" x2="60" y2="12" stroke="#5b6576"/>'
        f'<line x1="{number(ratio_x(c.low))}" y1="6" x2="{number(ratio_x(c.high))}" y2="6" '
        'stroke="#1f5fbf" stroke-width="3"/>'
        f'<circle cx="{number(ratio_x(c.ratio))}" cy="6" r="3" fill="#14213d"/></svg>\n'
        f'{TIMES}{ratio} <span class="muted">[{low}{DASH}{high}]</span>{FLAGS.get(c.flag, "")}\n'
    )


@register.simple_tag
def ratio_chart(c: Any) -> SafeString:
    """A wait ratio with its 95 % interval (a ``comparison.Comparison``, or None): the
    chart, the figures and the flag. Built in Python rather than an included template:
    the overview's weekly trend shows hundreds of them. Every part is a number or a
    fixed string. Ends with a newline, as the template it replaced did."""
    return mark_safe(_ratio(c, _Numbers()))  # noqa: S308


@register.simple_tag
def trend_cell(f: Any) -> SafeString:
    """One week of one group in the weekly trend (a ``parity.GroupFigure``): the
    geometric mean and the ratio to the rest, or "no data"."""
    if not f.measured:
        return mark_safe('<span class="muted">no data</span>')
    number = _Numbers()
    return mark_safe(f"{number(f.geometric_mean.minutes)} min<br>{_ratio(f.versus_rest, number)}")  # noqa: S308
