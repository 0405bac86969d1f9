"""B8: energy left on the old meter is credited and shown as negative usage."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.domain import billing
from wattbook.domain.values import BillingMonth, Energy


class TestB8MigrationCredit:
    async def test_credits_old_energy_and_shows_it_as_negative_usage(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open(migration=Energy(wh=100_000))  # 100 kWh x 0.5283 = 52.83 yuan
        credited = home.balance_fen()
        for _day in range(20):
            await home.use(500, over=timedelta(days=1))

        lines = await home.statement()

        assert credited == 5283
        june = BillingMonth(year=2025, month=6)
        assert [(line.month, line.energy.kwh, line.amount.fen, line.status) for line in lines] == [
            (june, Decimal("-100.00"), -5283, billing.StatementStatus.PAID),
            (june, Decimal("10.00"), 528, billing.StatementStatus.PAID),
        ]
        assert home.balance_fen() == 5283 - 528
