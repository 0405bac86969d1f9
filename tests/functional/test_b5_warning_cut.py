"""B5: below 5 kWh worth, trip once and close again 2 minutes later."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.domain.values import Money


class TestB5WarningCut:
    async def test_trips_now_and_schedules_the_close_two_minutes_later(
        self, engine: Engine
    ) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=2000))
        for _hour in range(8):
            await home.use(4000)  # 1691 fen charged, 309 left: not yet below 264.15
        before = home.relay()

        await home.use(4000)  # 1902 fen charged, 98 left
        cut_at = home.clock.now()
        engine.dispose()  # a restart: the scheduled close is a row, not a timer

        assert before == []
        assert home.relay() == [("TRIP", "WARNING_CUT"), ("CLOSE", "WARNING_CUT_ENDED")]
        (close_at,) = home.rows("SELECT not_before_at FROM relay_commands WHERE action = 'CLOSE'")[
            0
        ]
        assert db_time(close_at) == cut_at + timedelta(minutes=2)

    async def test_cuts_once_per_crossing(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=2000))
        for _hour in range(9):
            await home.use(4000)

        await home.use(100)
        await home.use(100)

        assert home.relay() == [("TRIP", "WARNING_CUT"), ("CLOSE", "WARNING_CUT_ENDED")]


def db_time(value: object) -> object:
    """Read a raw timestamp column as an aware UTC datetime on either backend."""
    from datetime import UTC, datetime

    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
