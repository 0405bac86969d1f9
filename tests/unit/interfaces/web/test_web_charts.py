"""Server-side SVG charts: an image with a title and description, one bar per value, in the
portal's columns and the reports' rows alike."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from markupsafe import Markup

from wattbook.interfaces.web import _charts

SVG = "{http://www.w3.org/2000/svg}"


def _chart(labels: list[str], *series: _charts.Series, **more: Any) -> _charts.Chart:
    return _charts.Chart(
        **{"chart_id": "c", "title": "t", "description": "d", **more},
        labels=labels,
        series=series,
    )


def _parsed(chart: Markup) -> ET.Element:
    return ET.fromstring(str(chart))  # noqa: S314 - our own SVG


def _bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def _tips(root: ET.Element) -> list[str]:
    return [bar.find(f"{SVG}title").text or "" for bar in _bars(root)]  # type: ignore[union-attr]


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


class TestColumns:
    def test_draws_one_bar_per_value_and_series_with_a_title(self) -> None:
        chart = _charts.columns(
            _chart(
                ["1", "2", "3"],
                _charts.Series(name="2025", values=[1_000, 0, 2_500]),
                _charts.Series(name="2024", values=[500, 500, 500]),
                title="每日 <用电>",
                description="kWh",
            )
        )

        root = _parsed(chart)
        assert root.get("role") == "img"
        assert root.get("aria-labelledby") == "c-title c-desc"
        assert root.find(f"{SVG}title").text == "每日 <用电>"  # type: ignore[union-attr]
        assert root.find(f"{SVG}desc").text == "kWh"  # type: ignore[union-attr]
        assert len(_bars(root)) == 6
        assert {"2025", "2024"} <= set(_texts(root))  # a legend for several series
        assert "style" not in str(chart)  # the CSP forbids inline styles

    def test_the_axis_and_tips_use_the_callers_words(self) -> None:
        kwh = _chart(
            ["1", "2"],
            _charts.Series(name="2025", values=[1_250, 4_200]),
            shown=lambda wh: f"{wh / 1000:.2f}",
            unit="kWh",
        )

        root = _parsed(_charts.columns(kwh, step=100))

        assert _tips(root) == ["1 2025: 1.25 kWh", "2 2025: 4.20 kWh"]
        # the axis runs to 5 kWh in quarters, its unit above it; one series needs no legend
        assert set(_texts(root)) == {"0.00", "1.25", "2.50", "3.75", "5.00", "kWh", "1", "2"}

    def test_every_nth_label_is_written(self) -> None:
        days = [f"{day:02d}" for day in range(1, 11)]

        root = _parsed(
            _charts.columns(_chart(days, _charts.Series(name="", values=[1] * 10)), label_every=5)
        )

        assert {"01", "06"} <= set(_texts(root))
        assert "02" not in _texts(root)

    def test_scales_to_a_round_top(self) -> None:
        assert _charts.nice_top(0, step=100) == 1000
        assert _charts.nice_top(1_001, step=100) == 2_000
        assert _charts.nice_top(4_200, step=100) == 5_000
        assert _charts.nice_top(51_000, step=100) == 100_000
        assert _charts.nice_top(3) == 5
        assert _charts.nice_top(0.4) == 1


class TestRows:
    def test_a_row_per_label_with_its_value_as_text(self) -> None:
        arrears = _chart(
            ["051600007001 张三", "051600007002 李四"],
            _charts.Series(name="", values=[-1_234, -50], colour="bad"),
            title="欠费户 <清单>",
            shown=lambda fen: f"{fen / 100:.2f}",
        )

        chart = _charts.rows(arrears)

        root = _parsed(chart)
        bars = _bars(root)
        assert root.get("role") == "img"
        assert root.find(f"{SVG}title").text == "欠费户 <清单>"  # type: ignore[union-attr]
        assert _tips(root) == ["051600007001 张三: -12.34", "051600007002 李四: -0.50"]
        assert {bar.get("fill") for bar in bars} == {_charts.COLOURS["bad"]}
        # a negative value is drawn by its size, the largest the widest
        widths = [float(bar.get("width", "0")) for bar in bars]
        assert widths[0] > widths[1] > 0
        assert {"051600007001 张三", "-12.34", "-0.50"} <= set(_texts(root))
        assert "style" not in str(chart)

    def test_a_long_label_is_cut_and_its_tip_keeps_it_whole(self) -> None:
        label = "总线" * 30

        root = _parsed(_charts.rows(_chart([label], _charts.Series(name="", values=[1]))))

        assert label[:39] + "…" in _texts(root)
        assert _tips(root) == [f"{label}: 1"]

    def test_nothing_to_show_is_a_dash(self) -> None:
        root = _parsed(_charts.rows(_chart([], _charts.Series(name="", values=[]))))

        assert _bars(root) == []
        assert "—" in _texts(root)

    def test_a_zero_has_no_bar_and_a_small_value_one_that_shows(self) -> None:
        values = _charts.Series(name="", values=[0, 1, 1_000_000])

        root = _parsed(_charts.rows(_chart(["none", "tiny", "big"], values)))

        assert [float(bar.get("width", "-1")) for bar in _bars(root)][:2] == [0.0, 1.0]


class TestPlain:
    def test_whole_numbers_without_decimals(self) -> None:
        assert _charts.plain(12.0) == "12"
        assert _charts.plain(2.5) == "2.50"
