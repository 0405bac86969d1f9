"""Bar charts drawn on the server as SVG: no script, no library, nothing from elsewhere.

One model serves the residents' portal and the staff's reports: a ``Chart`` holds labels,
one or more ``Series`` of values over them, and the function that shows a value as text. Two
layouts draw it:

- ``columns``: upright bars over the labels on a value axis with round steps, the series side
  by side with a legend (the portal's use by day, month and period);
- ``rows``: one bar a row with its label on a line above it, so that long labels (names,
  buses) and the chart stay readable on a phone (the reports' lists).

Colours are presentation attributes (the site's CSP forbids inline styles). Each chart is an
image with a title and a description for screen readers; the page puts a data table of the
same numbers beside it. Every text is escaped. A negative value is drawn by its size.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

# Blue and orange stay apart for the common colour-vision differences; all 3:1 on white.
COLOURS = {
    "brand": "#0b5394",
    "accent": "#c2410c",
    "good": "#1d6b32",
    "violet": "#6b21a8",
    "bad": "#a61b1b",
}
# The colours of a chart's series in turn, when a series names none.
SERIES_COLOURS = ("brand", "accent", "good", "violet")
# Text, muted text and grid lines.
_INK, _MUTED, _GRID = "#1b2430", "#4a5563", "#c9d1db"
# A legend's line under the bars; a label longer than this is cut (its bar's tip keeps it).
_LEGEND_ROW, _LABEL_CHARS = 24, 40

# The column layout: a fixed frame, margins for the axis on the left and for the labels and
# the legend below.
COLUMN_WIDTH, COLUMN_HEIGHT, _COLUMN_FONT = 640, 260, 15
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 8, 22, 48

# The row layout: a label's line above each bar, room for the value after the longest bar.
ROW_WIDTH, _VALUE_WIDTH = 480, 120
_ROW_FONT, _ROW_LINE, _ROW_BAR, _ROW_GAP = 17, 22, 16, 12


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One set of bars: its name (for the legend and each bar's tip; none where the chart's
    title says it all), a value per label, and its colour, a key of ``COLOURS`` (by default
    the next of ``SERIES_COLOURS``)."""

    name: str
    values: Sequence[float]
    colour: str | None = None


def plain(value: float) -> str:
    """Show a value as a whole number when it is one, else with two decimals."""
    return str(int(value)) if value == int(value) else f"{value:.2f}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """What a chart shows, whichever layout draws it: ``chart_id`` names its SVG element (and
    its title's and description's), ``shown`` writes a value (axis, tips, values) and
    ``unit`` follows it."""

    chart_id: str
    title: str
    description: str
    labels: Sequence[str]
    series: Sequence[Series]
    shown: Callable[[float], str] = plain
    unit: str = ""

    def largest(self) -> float:
        """Return the largest size of any value (0 when there is none)."""
        return max((abs(v) for one in self.series for v in one.values), default=0.0)

    def value(self, one: Series, index: int) -> float:
        """Return ``one``'s value at label ``index`` (0 where it has none)."""
        return one.values[index] if index < len(one.values) else 0.0

    def written(self, value: float) -> str:
        """Return a value as text with the unit."""
        return f"{self.shown(value)} {self.unit}".rstrip()

    def tip(self, index: int, one: Series) -> str:
        """Return a bar's tip: its label, its series' name (if it has one), its value."""
        name = f" {one.name}" if one.name else ""
        return f"{self.labels[index]}{name}: {self.written(self.value(one, index))}"


def nice_top(largest: float, *, step: float = 1.0) -> float:
    """Return a round top for an axis at or above ``largest``: 1, 2 or 5 times ``step``
    times a power of 10 (10 steps when there is nothing to show)."""
    if largest <= 0:
        return step * 10
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest:
                return step * factor
        step *= 10


def _fill(series: Series, number: int) -> str:
    colour = series.colour or SERIES_COLOURS[number % len(SERIES_COLOURS)]
    return COLOURS.get(colour, COLOURS["brand"])


def _text(x: float, y: float, text: str, *, size: int, fill: str = _INK, end: str = "") -> str:
    anchor = f' text-anchor="{end}"' if end else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}"{anchor} font-size="{size}" fill="{fill}">'
        f"{html.escape(text)}</text>"
    )


def _bar(x: float, y: float, width: float, height: float, fill: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" rx="2" '
        f'fill="{fill}"><title>{html.escape(tip)}</title></rect>'
    )


def _frame(chart: Chart, width: int, height: float) -> list[str]:
    """Return the SVG's opening: an image named by its title and description, on white."""
    chart_id = html.escape(chart.chart_id)
    return [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {width} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif">'
        f'<title id="{chart_id}-title">{html.escape(chart.title)}</title>'
        f'<desc id="{chart_id}-desc">{html.escape(chart.description)}</desc>'
        f'<rect x="0" y="0" width="{width}" height="{height:.0f}" fill="#ffffff"/>'
    ]


def _done(chart: Chart, parts: list[str], *, y: float, size: int) -> Markup:
    """Close the SVG, with a key of the series' colours and names on a line at ``y`` when
    there are several."""
    if len(chart.series) > 1:
        for number, one in enumerate(chart.series):
            x = _LEFT + number * 150
            parts.append(
                f'<rect x="{x}" y="{y - 12:.1f}" width="14" height="14" '
                f'fill="{_fill(one, number)}"/>' + _text(x + 19, y, one.name, size=size)
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def columns(chart: Chart, *, step: float = 1.0, label_every: int = 1) -> Markup:
    """Draw ``chart`` as upright bars, the series side by side over each label, on an axis
    whose top is ``nice_top`` of the largest value with ``step``; every ``label_every``-th
    label is written under its bars."""
    top = nice_top(chart.largest(), step=step)
    plot_w = COLUMN_WIDTH - _LEFT - _RIGHT
    plot_h = COLUMN_HEIGHT - _TOP - _BOTTOM
    slot = plot_w / max(1, len(chart.labels))
    bar_w = max(1.0, slot * 0.8 / max(1, len(chart.series)))
    parts = _frame(chart, COLUMN_WIDTH, COLUMN_HEIGHT)
    for tick in range(5):
        y = _TOP + plot_h - plot_h * tick / 4
        written = chart.shown(top * tick / 4)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{COLUMN_WIDTH - _RIGHT}" y2="{y:.1f}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
            + _text(_LEFT - 6, y + 4, written, size=_COLUMN_FONT, fill=_MUTED, end="end")
        )
    if chart.unit:
        parts.append(_text(4, _TOP - 10, chart.unit, size=14, fill=_MUTED))  # above the top tick
    for index, label in enumerate(chart.labels):
        x = _LEFT + slot * index + slot * 0.1
        for number, one in enumerate(chart.series):
            height = plot_h * abs(chart.value(one, index)) / top
            y = _TOP + plot_h - height
            tip = chart.tip(index, one)
            parts.append(_bar(x + bar_w * number, y, bar_w, height, _fill(one, number), tip))
        if index % label_every == 0:
            middle = _LEFT + slot * (index + 0.5)
            below = COLUMN_HEIGHT - _BOTTOM + 20
            parts.append(_text(middle, below, label, size=_COLUMN_FONT, end="middle"))
    return _done(chart, parts, y=COLUMN_HEIGHT - 5, size=_COLUMN_FONT)


def rows(chart: Chart) -> Markup:
    """Draw ``chart`` a row per label: the label (cut at 40 characters) on a line, then a
    bar per series with its value after it, scaled to the largest value; a dash when there
    is nothing to show."""
    largest = chart.largest() or 1.0
    span = ROW_WIDTH - _VALUE_WIDTH
    row = _ROW_LINE + _ROW_BAR * max(1, len(chart.series)) + _ROW_GAP
    legend = _LEGEND_ROW if len(chart.series) > 1 else 0
    height = max(len(chart.labels), 1) * row + _ROW_GAP + legend
    parts = _frame(chart, ROW_WIDTH, height)
    if not chart.labels:
        parts.append(_text(0, _ROW_LINE, "—", size=_ROW_FONT, fill=_MUTED))
    for index, label in enumerate(chart.labels):
        y = _ROW_GAP + index * row
        short = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
        parts.append(_text(0, y + _ROW_FONT, short, size=_ROW_FONT))
        for number, one in enumerate(chart.series):
            value = chart.value(one, index)
            width = max(abs(value) / largest * span, 1.0 if value else 0.0)
            top = y + _ROW_LINE + _ROW_BAR * number
            parts.append(_bar(0, top, width, _ROW_BAR, _fill(one, number), chart.tip(index, one)))
            parts.append(_text(width + 6, top + _ROW_BAR - 2, chart.written(value), size=_ROW_FONT))
    return _done(chart, parts, y=height - 6, size=_ROW_FONT)
