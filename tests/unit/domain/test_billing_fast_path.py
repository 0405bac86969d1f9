"""The integer path of billing.charge_consumption equals the general, apportioning path."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from wattbook.domain import billing, metering
from wattbook.domain.billing._charging import _charge_split
from wattbook.domain.values import (
    CHARGE_ROUNDING,
    SHANGHAI,
    AccountNumber,
    BillingMonth,
    MeterNumber,
    Price,
    RegisterSet,
    TimeOfUse,
    round_half_up,
)

NUMBER = AccountNumber(value="051600001234")
METER = MeterNumber(value="051600001234")
START = date(2024, 1, 1)

FLAT = billing.TariffHistory(tariffs=(billing.default_tariff(effective_from=START),)).changed(
    tariff=billing.flat_tariff(price=Price.parse("0.5683"), effective_from=date(2024, 3, 15))
)
TIERED = billing.TariffHistory(
    tariffs=(
        billing.tiered_tariff(
            bands=((0, Price.parse("0.5283")), (50_000, Price.parse("0.5783"))),
            effective_from=START,
        ),
    )
)
TIME_OF_USE = billing.TariffHistory(
    tariffs=(
        billing.time_of_use_tariff(
            prices={
                TimeOfUse.SHARP: Price.parse("0.9"),
                TimeOfUse.PEAK: Price.parse("0.6783"),
                TimeOfUse.FLAT: Price.parse("0.5283"),
                TimeOfUse.VALLEY: Price.parse("0.2783"),
            },
            effective_from=START,
        ),
    )
)

# Instants over four months with a price change and month ends inside: most intervals stay in
# one month and version (the integer path), some cross (the general path); both are compared.
instants = st.integers(min_value=0, max_value=120 * 24 * 60).map(
    lambda minutes: datetime(2024, 1, 1, tzinfo=SHANGHAI) + timedelta(minutes=minutes)
)
deltas = st.tuples(*(st.integers(min_value=0, max_value=40_000) for _ in range(4)))


def consumption(
    start_at: datetime, end_at: datetime, periods: tuple[int, ...]
) -> metering.Consumption:
    sharp, peak, flat, valley = periods
    return metering.Consumption(
        meter_number=METER,
        start_at=start_at,
        end_at=end_at,
        delta=RegisterSet(
            total_wh=sharp + peak + flat + valley,
            sharp_wh=sharp,
            peak_wh=peak,
            flat_wh=flat,
            valley_wh=valley,
        ),
    )


class TestUnsplitChargePath:
    @given(
        tariffs=st.sampled_from((FLAT, TIERED, TIME_OF_USE)),
        steps=st.lists(st.tuples(instants, instants, deltas), min_size=1, max_size=8),
    )
    def test_charges_exactly_like_the_general_path(
        self,
        tariffs: billing.TariffHistory,
        steps: list[tuple[datetime, datetime, tuple[int, ...]]],
    ) -> None:
        fast_totals: dict[billing.ChargeKey, billing.ChargeTotal] = {}
        general_totals: dict[billing.ChargeKey, billing.ChargeTotal] = {}

        for first, second, periods in steps:
            used = consumption(min(first, second), max(first, second), periods)
            fast = billing.charge_consumption(
                account_number=NUMBER,
                consumption=used,
                tariffs=tariffs,
                totals=fast_totals.values(),
            )
            general = _charge_split(
                account_number=NUMBER,
                consumption=used,
                tariffs=tariffs,
                totals=general_totals.values(),
            )
            fast_totals.update((total.key, total) for total in fast.totals)
            general_totals.update((total.key, total) for total in general.totals)

            assert fast == general
        assert fast_totals == general_totals

    @given(start_at=instants, periods=deltas)
    def test_charges_an_interval_ending_exactly_at_month_end_to_that_month(
        self, start_at: datetime, periods: tuple[int, ...]
    ) -> None:
        end_at = BillingMonth.of(start_at).end_at
        used = consumption(start_at, end_at, periods)

        fast = billing.charge_consumption(
            account_number=NUMBER, consumption=used, tariffs=TIME_OF_USE, totals=()
        )
        general = _charge_split(
            account_number=NUMBER, consumption=used, tariffs=TIME_OF_USE, totals=()
        )

        assert fast == general
        assert {total.key.month.month for total in fast.totals} == {start_at.month}


class TestChargeRoundingFen:
    @given(numerator=st.integers(min_value=-(10**15), max_value=10**15))
    def test_rounds_like_round_half_up(self, numerator: int) -> None:
        assert CHARGE_ROUNDING.fen(numerator) == round_half_up(
            Fraction(numerator, CHARGE_ROUNDING.divisor)
        )
