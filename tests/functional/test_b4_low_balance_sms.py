"""B4: an SMS when the balance buys less than 20 kWh, once per crossing, re-armed by a top-up."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.domain.values import Money


class TestB4LowBalanceSms:
    async def test_sends_one_sms_per_crossing_below_twenty_kwh(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=2000))
        for _hour in range(4):
            await home.use(4000)
        quiet = home.sms()

        await home.use(4000)  # 20 kWh charged: 1057 fen, 943 left < 1056.6
        await home.use(1000)

        assert quiet == []
        assert home.sms() == [("LOW_BALANCE", "13800138000", 943)]
        assert home.balance_fen() == 2000 - 1109  # 21 kWh: 1109.43 fen, rounded once

    async def test_top_up_rearms_the_sms(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 8)))
        await home.open(opening=Money(fen=2000))
        for _hour in range(5):
            await home.use(4000)

        await home.top_up(1000)  # 1943 fen: above the threshold again
        for _hour in range(5):  # 1057 fen more: 886 left
            await home.use(4000)

        assert [kind for kind, _phone, _fen in home.sms()] == ["LOW_BALANCE", "LOW_BALANCE"]
        assert home.balance_fen() == home.journal_fen()
