"""Bar charts drawn on the server as SVG: no script, no library, nothing from elsewhere.

Colours are presentation attributes (the site's CSP forbids inline styles). Each chart is an
image with a title and a description for screen readers; the page puts a data table of the
same numbers beside it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup

WIDTH = 640
HEIGHT = 260
_LEFT = 64
_RIGHT = 8
_TOP = 22
_BOTTOM = 48
# Blue and orange stay apart for the common colour-vision differences; both 3:1 on white.
SERIES_COLOURS = ("#0b5394", "#c2410c", "#1d6b32", "#6b21a8")


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One set of bars: its name (for the legend) and a value in Wh per label."""

    name: str
    values_wh: Sequence[int]


def _kwh(wh: int) -> str:
    return f"{Decimal(wh) / 1000:.2f}"


def _nice_top(largest_wh: int) -> int:
    """Return a round top for the axis at or above ``largest_wh`` (1, 2 or 5 x 10^n kWh)."""
    if largest_wh <= 0:
        return 1000
    step = 100
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest_wh:
                return step * factor
        step *= 10


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "kWh",
    label_every: int = 1,
) -> Markup:
    """Return an SVG bar chart of ``series`` (grouped side by side) over ``labels``."""
    count = max(1, len(labels))
    largest = max((max(s.values_wh, default=0) for s in series), default=0)
    top = _nice_top(largest)
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = plot_w / count
    bar_w = max(1.0, slot * 0.8 / max(1, len(series)))
    parts = [
        f'<svg class="chart" id="{html.escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{html.escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{html.escape(description)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for step in range(5):
        value = top * step // 4
        y = _TOP + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" '
            f'stroke="#c9d1db" stroke-width="1"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="15" '
            f'fill="#4a5563">{_kwh(value)}</text>'
        )
    parts.append(
        f'<text x="4" y="{_TOP - 6}" font-size="14" fill="#4a5563">{html.escape(unit)}</text>'
    )
    for index, label in enumerate(labels):
        x0 = _LEFT + slot * index + slot * 0.1
        for number, one in enumerate(series):
            value = one.values_wh[index] if index < len(one.values_wh) else 0
            height = plot_h * max(0, value) / top
            x = x0 + bar_w * number
            parts.append(
                f'<rect x="{x:.1f}" y="{_TOP + plot_h - height:.1f}" width="{bar_w:.1f}" '
                f'height="{height:.1f}" fill="{SERIES_COLOURS[number % len(SERIES_COLOURS)]}">'
                f"<title>{html.escape(label)} {html.escape(one.name)}: {_kwh(value)} "
                f"{html.escape(unit)}</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{_LEFT + slot * (index + 0.5):.1f}" y="{HEIGHT - _BOTTOM + 20}" '
                f'text-anchor="middle" font-size="15" fill="#1b2430">{html.escape(label)}</text>'
            )
    if len(series) > 1:
        for number, one in enumerate(series):
            x = _LEFT + number * 150
            parts.append(
                f'<rect x="{x}" y="{HEIGHT - 17}" width="14" height="14" '
                f'fill="{SERIES_COLOURS[number % len(SERIES_COLOURS)]}"/>'
                f'<text x="{x + 19}" y="{HEIGHT - 5}" font-size="15" fill="#1b2430">'
                f"{html.escape(one.name)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
