"""Property tests of the domain driven together in memory: readings -> charges -> ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wattbook.domain import billing, ledger, metering
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
TARIFFS = billing.TariffHistory(
    tariffs=(billing.default_tariff(effective_from=date(2024, 1, 1)),)
).changed(tariff=billing.flat_tariff(price=Price.parse("0.6"), effective_from=PRICE_CHANGE))


@dataclass
class Driver:
    """The smallest in-memory stand-in for the record-readings use case."""

    baseline: metering.RegisterBaseline
    journal: ledger.Journal = field(default_factory=lambda: ledger.Journal(account_number=NUMBER))
    totals: dict[billing.ChargeKey, billing.ChargeTotal] = field(default_factory=dict)

    def record(self, readings: list[metering.Reading]) -> None:
        batch = metering.assess_readings(
            baseline=self.baseline, readings=readings, limits=metering.PlausibilityLimits()
        )
        for consumption in batch.consumptions:
            outcome = billing.charge_consumption(
                account_number=NUMBER,
                consumption=consumption,
                tariffs=TARIFFS,
                totals=tuple(self.totals.values()),
            )
            for posting in outcome.postings:
                self.journal = self.journal.post(posting.entry(at=consumption.end_at)).journal
            self.totals.update((t.key, t) for t in outcome.totals)
        self.baseline = batch.baseline


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


def fresh_driver() -> Driver:
    return Driver(
        baseline=metering.RegisterBaseline(
            meter_number=METER,
            registers=RegisterSet.zero(),
            at=START,
            source=metering.BaselineSource.INSTALLATION,
        )
    )


def expected_charge(driver: Driver) -> int:
    return sum(
        billing.amount_due(total=total, tariff=TARIFFS.by_key(key.tariff_key)).fen
        for key, total in driver.totals.items()
    )


class TestRecordReadingsProperties:
    @settings(max_examples=60, deadline=None)
    @given(series=reading_series(), data=st.data())
    def test_redelivered_readings_charge_nothing_twice(
        self, series: list[metering.Reading], data: st.DataObject
    ) -> None:
        once = fresh_driver()
        once.record(series)
        twice = fresh_driver()
        twice.record(series)
        # Deliveries in other groupings may split intervals differently across the month end
        # and the price change, so they are compared with themselves, not with `once`.
        batches = data.draw(
            st.lists(st.lists(st.sampled_from(series), min_size=1), min_size=1, max_size=6)
        )
        replayed = fresh_driver()
        for batch in [*batches, series]:
            replayed.record(batch)
        settled = replayed.journal

        twice.record(series)
        for batch in [*batches, series, *reversed(batches)]:
            replayed.record(batch)

        assert twice.journal == once.journal
        assert replayed.journal == settled
        assert sum(t.energy.wh for t in replayed.totals.values()) == series[-1].registers.total_wh
        assert ledger.balance_of(replayed.journal.entries) == replayed.journal.balance

    @settings(max_examples=60, deadline=None)
    @given(series=reading_series(), data=st.data())
    def test_sum_of_charge_postings_equals_the_rounded_cumulative_charge(
        self, series: list[metering.Reading], data: st.DataObject
    ) -> None:
        driver = fresh_driver()
        batches = data.draw(st.permutations(series))

        for one in batches:
            driver.record([one])

        charged = -sum(
            e.amount.fen for e in driver.journal.entries if e.kind is ledger.EntryKind.CHARGE
        )
        assert charged == expected_charge(driver)
        assert sum(t.energy.wh for t in driver.totals.values()) == series[-1].registers.total_wh
        assert Money(fen=-charged) == driver.journal.balance

    def test_charges_each_price_from_its_date_only(self) -> None:
        driver = fresh_driver()

        # 22:00 on the 28th to 02:00 on 1 March: 26 h before the change, 2 h after; 28 kWh.
        driver.record([reading(28_000, 28 * 60)])

        by_tariff = {key.tariff_key: total.energy for key, total in driver.totals.items()}
        assert by_tariff == {
            "RESIDENTIAL_LIGHTING@2024-01-01": Energy(wh=26_000),
            "RESIDENTIAL_LIGHTING@2024-03-01": Energy(wh=2_000),
        }
