"""Past the end of chinese-calendar's data the calendar falls back: nothing to log (issue 9)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.application import _rules

SHORT = "No holiday calendar far enough ahead"


def _short_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(SHORT)]


class TestCalendarShortLog:
    async def test_logs_nothing_past_the_package_and_cuts_nobody_on_a_weekend(
        self, engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # chinese-calendar's data ends on 2026-12-31: from mid-November the 45-day look-ahead
        # runs past it; the provisional fallback answers for 2027 (issue 9), so the old "no
        # calendar far enough ahead" log line never appears. A weekend: nobody is cut.
        monkeypatch.setattr(_rules, "_calendar_short_logged", set())
        clock = FakeClock(local(2026, 12, 19, 9))
        caplog.set_level(logging.ERROR, logger=_rules.__name__)
        homes = [Household(engine, clock, f"0516000090{i:02d}") for i in range(3)]

        for home in homes:
            await home.open()
        first_day = len(_short_records(caplog))
        clock.advance(timedelta(days=1))
        await Household(engine, clock, "051600009099").open()
        second_day = len(_short_records(caplog))

        assert (first_day, second_day) == (0, 0)
        assert [h.rows("SELECT COUNT(*) FROM relay_commands") for h in homes[:1]] == [[(0,)]]
