"""B6: below zero, trip and keep the power off until a top-up brings the balance back."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.domain.values import Money


class TestB6TripAndRestore:
    async def test_trips_below_zero_and_closes_after_a_top_up(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=2000))
        for _hour in range(9):
            await home.use(4000)  # 98 fen left: warning cut
        await home.use(2000)  # 106 fen more: -8
        tripped = home.relay()[-1]
        await home.use(500)  # still in arrears: no second trip

        await home.top_up(1000)

        assert tripped == ("TRIP", "ARREARS")
        assert home.relay() == [
            ("TRIP", "WARNING_CUT"),
            ("CLOSE", "WARNING_CUT_ENDED"),
            ("TRIP", "ARREARS"),
            ("CLOSE", "ARREARS_CLEARED"),
        ]
        assert home.balance_fen() == home.journal_fen() == 2000 + 1000 - 2034  # 38.5 kWh

    async def test_a_top_up_that_leaves_arrears_does_not_close(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=300))
        await home.use(8000)  # 423 fen: -123, straight past the warning band

        await home.top_up(100)

        assert home.relay() == [("TRIP", "ARREARS")]
        assert home.balance_fen() == -23
