"""Positions for the small inline SVG charts of the insights page (no JavaScript)."""

import math

from django import template

register = template.Library()

RATIO_WIDTH = 120  # a ratio of 1 sits in the middle; each doubling moves 20 px
BAR_WIDTH = 100


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
