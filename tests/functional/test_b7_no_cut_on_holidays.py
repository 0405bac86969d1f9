"""B7 and A3: no cut for lack of money on a holiday or under keep-power; it waits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.domain.values import Money, Period


class TestB7NoCutOnHolidays:
    async def test_holds_the_trip_until_the_next_working_morning(self, engine: Engine) -> None:
        # National Day 2025: 1-8 October off; Thursday the 9th is a working day.
        home = Household(engine, FakeClock(local(2025, 10, 1, 10)))
        await home.open(opening=Money(fen=300))
        await home.use(3000)  # 142 fen: a warning cut is due, but not today
        await home.use(3000)  # -17 fen: a trip is due, but not today
        home.clock.set(local(2025, 10, 8, 23, 59))
        during_holiday = await home.run_policy()

        home.clock.set(local(2025, 10, 9, 8))
        after_holiday = await home.run_policy()

        assert during_holiday == ()
        assert [type(c).__name__ for c in after_holiday] == ["TripRelay"]
        assert home.relay() == [("TRIP", "ARREARS")]

    async def test_keep_power_holds_the_trip_until_the_order_ends(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=300))
        start = home.clock.now()
        await home.keep_power(Period(start_at=start, end_at=start + timedelta(days=3)))
        await home.use(8000)  # -123 fen under keep-power
        held = home.relay()

        home.clock.set(start + timedelta(days=3))
        await home.run_policy()

        assert held == []
        assert home.relay() == [("TRIP", "ARREARS")]

    async def test_keep_power_closes_a_relay_tripped_for_arrears(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=300))
        await home.use(8000)
        start = home.clock.now()

        await home.keep_power(Period(start_at=start, end_at=None))

        assert home.relay() == [("TRIP", "ARREARS"), ("CLOSE", "KEEP_POWER")]
