"""Property tests of readings -> charges -> ledger, through the real ``record_readings``.

The use case runs on the in-memory fakes (``tests.fakes``): the same code that runs in
production, not a stand-in that re-implements it.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakes import FakeClock, FakeDatabase

from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.billing.set_tariff import set_tariff
from wattbook.application.metering.record_readings import record_readings
from wattbook.domain import accounts, billing, ledger, metering
from wattbook.domain.values import (
    SHANGHAI,
    AccountNumber,
    Energy,
    MeterNumber,
    Money,
    Price,
    RegisterSet,
)

NUMBER = AccountNumber(value="051600001234")
METER = MeterNumber(value="051600001234")
START = datetime(2024, 2, 28, 22, 0, tzinfo=SHANGHAI)  # across a leap day and a month end
PRICE_CHANGE = date(2024, 3, 1)
# Every reading below lies before this: the batches are all recorded "now", after them.
RECORDED_AT = START + timedelta(days=8)


class Site:
    """One account and its meter in a fresh fake database, recorded through the use case."""

    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FakeClock(START)
        asyncio.run(self._open())
        self.clock.set(RECORDED_AT)

    async def _open(self) -> None:
        await set_tariff(
            uow=self.db(),
            tariff=billing.flat_tariff(price=Price.parse("0.6"), effective_from=PRICE_CHANGE),
        )
        await open_account(
            uow=self.db(),
            clock=self.clock,
            number=NUMBER,
            holder=accounts.Holder(name="张三"),
            phone=None,
            address=accounts.Address(text="丙6-1-801"),
        )
        await install_meter(
            uow=self.db(),
            clock=self.clock,
            number=NUMBER,
            meter_number=METER,
            bus="bus-1",
            initial=RegisterSet.zero(),
        )

    def record(self, readings: list[metering.Reading]) -> None:
        asyncio.run(record_readings(uow=self.db(), clock=self.clock, readings=readings))

    @property
    def journal(self) -> tuple[ledger.Entry, ...]:
        return self.db.journal(NUMBER)

    @property
    def totals(self) -> dict[billing.ChargeKey, billing.ChargeTotal]:
        async def read() -> dict[billing.ChargeKey, billing.ChargeTotal]:
            async with self.db() as uow:
                found = await uow.charges.totals((NUMBER,), years=None)
            return {total.key: total for total in found.get(NUMBER, ())}

        return asyncio.run(read())

    @property
    def tariffs(self) -> billing.TariffHistory:
        async def read() -> billing.TariffHistory:
            async with self.db() as uow:
                return await uow.tariffs.history()

        return asyncio.run(read())


def reading(total_wh: int, minutes: int) -> metering.Reading:
    at = START + timedelta(minutes=minutes)
    return metering.Reading(
        meter_number=METER,
        registers=RegisterSet(
            total_wh=total_wh, sharp_wh=0, peak_wh=0, flat_wh=total_wh, valley_wh=0
        ),
        meter_time_at=at,
        received_at=at + timedelta(seconds=5),
    )


@st.composite
def reading_series(draw: st.DrawFn) -> list[metering.Reading]:
    gaps = draw(st.lists(st.integers(1, 240), min_size=1, max_size=30))
    minutes, total, series = 0, 0, []
    for gap in gaps:
        # At most 300 Wh a minute: within the meter's plausible 345 Wh a minute.
        used = draw(st.integers(0, 30 * gap))
        minutes += gap
        total += used * 10  # the meter steps in 10 Wh
        series.append(reading(total, minutes))
    return series


def expected_charge(site: Site) -> int:
    tariffs = site.tariffs
    return sum(
        billing.amount_due(total=total, tariff=tariffs.by_key(key.tariff_key)).fen
        for key, total in site.totals.items()
    )


class TestRecordReadingsProperties:
    @settings(max_examples=60, deadline=None)
    @given(series=reading_series(), data=st.data())
    def test_redelivered_readings_charge_nothing_twice(
        self, series: list[metering.Reading], data: st.DataObject
    ) -> None:
        once = Site()
        once.record(series)
        twice = Site()
        twice.record(series)
        # Deliveries in other groupings may split intervals differently across the month end
        # and the price change, so they are compared with themselves, not with `once`.
        batches = data.draw(
            st.lists(st.lists(st.sampled_from(series), min_size=1), min_size=1, max_size=6)
        )
        replayed = Site()
        for batch in [*batches, series]:
            replayed.record(batch)
        settled = replayed.journal

        twice.record(series)
        for batch in [*batches, series, *reversed(batches)]:
            replayed.record(batch)

        assert twice.journal == once.journal
        assert replayed.journal == settled
        assert sum(t.energy.wh for t in replayed.totals.values()) == series[-1].registers.total_wh
        assert ledger.balance_of(replayed.journal) == replayed.db.balance(NUMBER)

    @settings(max_examples=60, deadline=None)
    @given(series=reading_series(), data=st.data())
    def test_sum_of_charge_postings_equals_the_rounded_cumulative_charge(
        self, series: list[metering.Reading], data: st.DataObject
    ) -> None:
        site = Site()
        batches = data.draw(st.permutations(series))

        for one in batches:
            site.record([one])

        charged = -sum(e.amount.fen for e in site.journal if e.kind is ledger.EntryKind.CHARGE)
        assert charged == expected_charge(site)
        assert sum(t.energy.wh for t in site.totals.values()) == series[-1].registers.total_wh
        assert Money(fen=-charged) == site.db.balance(NUMBER)

    def test_charges_each_price_from_its_date_only(self) -> None:
        site = Site()

        # 22:00 on the 28th to 02:00 on 1 March: 26 h before the change, 2 h after; 28 kWh.
        site.record([reading(28_000, 28 * 60)])

        by_tariff = {key.tariff_key: total.energy for key, total in site.totals.items()}
        assert by_tariff == {
            "RESIDENTIAL_LIGHTING@2000-01-01": Energy(wh=26_000),
            "RESIDENTIAL_LIGHTING@2024-03-01": Energy(wh=2_000),
        }
