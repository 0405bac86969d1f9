"""Charts drawn on the server as SVG: no script, no third-party asset, printable.

Each chart is a horizontal bar chart (it reads on a phone as well as on a desktop) with a
``<title>`` and an ``aria-label``; the page always shows the same figures as a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# A label line above each bar, so that the chart keeps its size on a phone's width.
_FONT = 17
_LINE = 22
_BAR = 16
_GAP = 12
_VALUE_WIDTH = 120
_WIDTH = 480
_COLOURS = {"brand": "#0b5394", "bad": "#a61b1b", "good": "#1d6b32"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One bar: its label, its value (a number) and the value as shown."""

    label: str
    value: float
    shown: str


def bar_chart(bars: Sequence[Bar], *, title: str, colour: str = "brand") -> Markup:
    """Return an SVG bar chart of ``bars`` (negative values drawn by their size)."""
    fill = _COLOURS.get(colour, _COLOURS["brand"])
    top = max((abs(bar.value) for bar in bars), default=0.0) or 1.0
    span = _WIDTH - _VALUE_WIDTH
    row = _LINE + _BAR + _GAP
    height = max(len(bars), 1) * row + _GAP
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {_WIDTH} '
        f'{height}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" '
        f'font-size="{_FONT}"><title>{escape(title)}</title>'
    ]
    if not bars:
        parts.append(f'<text x="0" y="{_LINE}" fill="#4a5563">—</text>')
    for index, bar in enumerate(bars):
        y = _GAP + index * row
        width = max(abs(bar.value) / top * span, 1.0 if bar.value else 0.0)
        label = bar.label if len(bar.label) <= 40 else bar.label[:39] + "…"
        parts.append(
            f'<text x="0" y="{y + _FONT}" fill="#1b2430">{escape(label)}</text>'
            f'<rect x="0" y="{y + _LINE}" width="{width:.1f}" height="{_BAR}" rx="3" '
            f'fill="{fill}"><title>{escape(bar.label)}: {escape(bar.shown)}</title></rect>'
            f'<text x="{width + 6:.1f}" y="{y + _LINE + _BAR - 2}" '
            f'fill="#1b2430">{escape(bar.shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
