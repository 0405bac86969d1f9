"""What the field tools and the head-end print, as an engineer reads it at a glance."""

from __future__ import annotations

import datetime as dt
import io

from wattbook.application.headend.poller import BusActivity
from wattbook.interfaces.cli._headend import status_line
from wattbook.interfaces.cli._meter import ScanProgress, power_text

AT = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


class TestScanProgress:
    def test_prints_each_meter_the_moment_it_is_found(self) -> None:
        out, progress = io.StringIO(), io.StringIO()
        scan = ScanProgress(out=out, progress=progress, total=3, show_progress=False)

        scan("051600000001", "051600000001")
        first = out.getvalue()
        scan("051600000002", None)
        scan("051600000003", "051600000003")

        assert first == "  051600000001\n"
        assert out.getvalue() == "  051600000001\n  051600000003\n"
        assert progress.getvalue() == ""

    def test_counts_probes_on_a_terminal(self) -> None:
        out, progress = io.StringIO(), io.StringIO()
        scan = ScanProgress(out=out, progress=progress, total=64, show_progress=True)

        scan("051600000001", None)
        scan("051600000002", "051600000002")
        scan.done()

        assert "\rprobing 051600000002: 2/64 probe(s), 1 found" in progress.getvalue()
        assert progress.getvalue().endswith("\r\033[K")
        assert out.getvalue() == "  051600000002\n"


class TestPowerText:
    def test_an_open_relay_is_power_off(self) -> None:
        assert power_text(relay_open=True).startswith("power off 断电")
        assert power_text(relay_open=False).startswith("power on 通电")


class TestStatusLine:
    def test_counts_reads_since_the_last_line_and_ages_the_last_reading(self) -> None:
        before = BusActivity(reads_ok=10, reads_failed=1)
        now = BusActivity(
            reads_ok=25,
            reads_failed=3,
            last_reading_at=AT - dt.timedelta(seconds=7),
            reachable=True,
        )

        line = status_line("bus-1", now, before, at=AT)

        assert line == (
            "bus bus-1: reachable; reads ok 15, failed 2 since the last line; last reading 7 s ago"
        )

    def test_names_an_unreachable_line_and_a_bus_never_read(self) -> None:
        now = BusActivity(reads_failed=32, reachable=False, error="connection refused")

        line = status_line("bus-2", now, BusActivity(), at=AT)

        assert line == (
            "bus bus-2: UNREACHABLE (connection refused); reads ok 0, failed 32 since the last "
            "line; no reading yet"
        )
