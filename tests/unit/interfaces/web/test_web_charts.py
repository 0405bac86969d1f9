"""Server-side SVG charts: an image with a title and description, one bar per value."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from wattbook.interfaces.web import _charts

SVG = "{http://www.w3.org/2000/svg}"


class TestBarChart:
    def test_draws_one_bar_per_value_and_series_with_a_title(self) -> None:
        chart = _charts.bar_chart(
            chart_id="c",
            title="每日 <用电>",
            description="kWh",
            labels=["1", "2", "3"],
            series=[
                _charts.Series(name="2025", values_wh=[1_000, 0, 2_500]),
                _charts.Series(name="2024", values_wh=[500, 500, 500]),
            ],
        )

        root = ET.fromstring(str(chart))  # noqa: S314 - our own SVG
        bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
        assert root.get("role") == "img"
        assert root.find(f"{SVG}title").text == "每日 <用电>"  # type: ignore[union-attr]
        assert len(bars) == 6
        assert "style" not in str(chart)  # the CSP forbids inline styles

    def test_scales_to_a_round_top(self) -> None:
        assert _charts._nice_top(0) == 1000
        assert _charts._nice_top(1_001) == 2_000
        assert _charts._nice_top(4_200) == 5_000
        assert _charts._nice_top(51_000) == 100_000
