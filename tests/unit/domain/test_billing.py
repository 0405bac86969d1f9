"""Unit tests of wattbook.domain.billing."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook.domain import accounts, billing, ledger, metering
from wattbook.domain.values import (
    DEFAULT_PRICE,
    SHANGHAI,
    AccountNumber,
    BillingMonth,
    Energy,
    MeterNumber,
    Money,
    Price,
    RegisterSet,
    TimeOfUse,
)

NUMBER = AccountNumber(value="051600001234")
METER = MeterNumber(value="051600001234")
DEFAULT = billing.TariffHistory(tariffs=(billing.default_tariff(effective_from=date(2015, 1, 1)),))
DEFAULT_KEY = "RESIDENTIAL_LIGHTING@2015-01-01"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def used(
    total: int, start: str, end: str, *, sharp: int = 0, peak: int = 0, valley: int = 0
) -> metering.Consumption:
    return metering.Consumption(
        meter_number=METER,
        start_at=local(start),
        end_at=local(end),
        delta=RegisterSet(
            total_wh=total,
            sharp_wh=sharp,
            peak_wh=peak,
            flat_wh=total - sharp - peak - valley,
            valley_wh=valley,
        ),
    )


def charge(
    consumption: metering.Consumption,
    totals: tuple[billing.ChargeTotal, ...] = (),
    tariffs: billing.TariffHistory = DEFAULT,
) -> billing.ChargeOutcome:
    return billing.charge_consumption(
        account_number=NUMBER, consumption=consumption, tariffs=tariffs, totals=totals
    )


def with_change(price: str, on: date) -> billing.TariffHistory:
    return DEFAULT.changed(tariff=billing.flat_tariff(price=Price.parse(price), effective_from=on))


class TestTariff:
    def test_defaults_to_residential_lighting_at_0_5283(self) -> None:
        tariff = billing.default_tariff(effective_from=date(2015, 1, 1))

        assert tariff.item == billing.ITEM_RESIDENTIAL_LIGHTING == "RESIDENTIAL_LIGHTING"
        assert tariff.reference_price == DEFAULT_PRICE
        assert tariff.start_at == local("2015-01-01T00:00")
        assert tariff.key == DEFAULT_KEY

    def test_needs_all_four_periods_for_time_of_use(self) -> None:
        with pytest.raises(billing.InvalidTariff, match="four periods"):
            billing.time_of_use_tariff(
                prices={TimeOfUse.PEAK: DEFAULT_PRICE}, effective_from=date(2024, 1, 1)
            )

    def test_refuses_time_of_use_combined_with_tiers(self) -> None:
        components = (
            *tuple(billing.PriceComponent(price=DEFAULT_PRICE, period=p) for p in TimeOfUse),
            billing.PriceComponent(
                price=DEFAULT_PRICE, period=TimeOfUse.PEAK, from_year_wh=2160000
            ),
        )

        with pytest.raises(billing.InvalidTariff, match="not supported"):
            billing.Tariff(
                item="X", effective_from=date(2024, 1, 1), effective_to=None, components=components
            )

    def test_refuses_tiers_not_starting_at_zero(self) -> None:
        with pytest.raises(billing.InvalidTariff, match="first tier"):
            billing.tiered_tariff(bands=[(1000, DEFAULT_PRICE)], effective_from=date(2024, 1, 1))

    def test_refuses_an_end_before_the_start(self) -> None:
        with pytest.raises(billing.InvalidTariff):
            billing.flat_tariff(
                price=DEFAULT_PRICE, effective_from=date(2024, 1, 2), effective_to=date(2024, 1, 2)
            )

    def test_uses_the_flat_period_price_as_reference_for_time_of_use(self) -> None:
        tariff = billing.time_of_use_tariff(
            prices={p: Price.parse(f"0.{i + 4}") for i, p in enumerate(TimeOfUse)},
            effective_from=date(2024, 1, 1),
        )

        assert tariff.reference_price == Price.parse("0.6")


class TestTariffHistory:
    def test_ends_the_open_version_when_the_price_changes(self) -> None:
        history = with_change("0.6", date(2024, 3, 1))

        assert history.tariffs[0].effective_to == date(2024, 3, 1)
        assert history.at(local("2024-02-29T23:59:59")).reference_price == DEFAULT_PRICE
        assert history.at(local("2024-03-01T00:00")).reference_price == Price.parse("0.6")

    def test_refuses_a_change_before_the_current_version(self) -> None:
        with pytest.raises(billing.InvalidTariff):
            DEFAULT.changed(
                tariff=billing.flat_tariff(price=DEFAULT_PRICE, effective_from=date(2014, 1, 1))
            )

    def test_refuses_overlapping_versions(self) -> None:
        with pytest.raises(billing.InvalidTariff, match="overlaps"):
            billing.TariffHistory(
                tariffs=(
                    billing.default_tariff(effective_from=date(2015, 1, 1)),
                    billing.default_tariff(effective_from=date(2016, 1, 1)),
                )
            )

    def test_says_when_no_tariff_is_in_force(self) -> None:
        with pytest.raises(billing.NoTariffInForce):
            DEFAULT.at(local("2014-12-31T23:59"))


class TestChargeConsumption:
    def test_posts_difference_of_rounded_totals(self) -> None:
        totals: tuple[billing.ChargeTotal, ...] = ()
        posted: list[int] = []

        for hour in range(10):
            outcome = charge(
                used(10, f"2024-01-01T{hour:02d}:00", f"2024-01-01T{hour:02d}:30"), totals
            )
            posted.extend(p.amount.fen for p in outcome.postings)
            totals = outcome.totals

        # 10 x 10 Wh = 100 Wh x 0.5283 = 5.283 fen -> 5 fen in all, not 10 x 1 fen.
        assert sum(posted) == -5
        assert totals[0].charged == Money(fen=5)
        assert totals[0].energy == Energy(wh=100)

    def test_rounds_half_up(self) -> None:
        # 1000 Wh at 0.5285 = 52.85 fen -> 53 fen.
        tariffs = billing.TariffHistory(
            tariffs=(
                billing.flat_tariff(price=Price.parse("0.5285"), effective_from=date(2024, 1, 1)),
            )
        )

        outcome = charge(used(1000, "2024-01-01T00:00", "2024-01-01T01:00"), tariffs=tariffs)

        assert outcome.postings[0].amount == Money(fen=-53)

    def test_posts_nothing_for_energy_worth_under_half_a_fen(self) -> None:
        outcome = charge(used(0, "2024-01-01T00:00", "2024-01-01T01:00"))

        assert outcome.postings == ()
        assert outcome.totals[0].charged == Money.zero()

    def test_splits_at_a_price_change_and_never_reprices_the_past(self) -> None:
        history = with_change("0.6000", date(2024, 3, 1))
        before = charge(used(1000, "2024-02-29T00:00", "2024-02-29T12:00"), tariffs=history)

        spanning = charge(
            used(2000, "2024-02-29T12:00", "2024-03-01T12:00"), before.totals, tariffs=history
        )

        old_key = billing.ChargeKey(tariff_key=DEFAULT_KEY, month=BillingMonth(year=2024, month=2))
        new_key = billing.ChargeKey(
            tariff_key="RESIDENTIAL_LIGHTING@2024-03-01", month=BillingMonth(year=2024, month=3)
        )
        by_key = {t.key: t for t in spanning.totals}
        # Half the interval (12 h of 24) is before the change:
        # 1000 + 1000 Wh at 0.5283 = 105.66 -> 106 fen.
        assert by_key[old_key].charged == Money(fen=106)
        # The other 1000 Wh at 0.60 = 60 fen.
        assert by_key[new_key].charged == Money(fen=60)
        assert [p.amount.fen for p in spanning.postings] == [-(106 - 53), -60]

    def test_splits_at_month_end_on_a_leap_day(self) -> None:
        outcome = charge(used(3000, "2024-02-29T23:00", "2024-03-01T02:00"))

        months = {str(t.key.month): t.energy.wh for t in outcome.totals}
        assert months == {"2024-02": 1000, "2024-03": 2000}

    def test_apportions_parts_that_add_up_exactly(self) -> None:
        outcome = charge(used(10, "2024-01-31T23:00", "2024-02-01T01:00"))

        assert sum(t.energy.wh for t in outcome.totals) == 10
        assert [t.energy.wh for t in outcome.totals] == [5, 5]

    def test_charges_an_instant_consumption_to_its_month(self) -> None:
        outcome = charge(used(1000, "2024-02-01T00:00", "2024-02-01T00:00"))

        assert outcome.totals[0].key.month == BillingMonth(year=2024, month=2)

    def test_charges_time_of_use_registers_at_their_prices(self) -> None:
        prices = {
            TimeOfUse.SHARP: Price.parse("1"),
            TimeOfUse.PEAK: Price.parse("0.8"),
            TimeOfUse.FLAT: Price.parse("0.5"),
            TimeOfUse.VALLEY: Price.parse("0.3"),
        }
        tariffs = billing.TariffHistory(
            tariffs=(billing.time_of_use_tariff(prices=prices, effective_from=date(2024, 1, 1)),)
        )

        outcome = charge(
            used(4000, "2024-01-01T00:00", "2024-01-02T00:00", sharp=1000, peak=1000, valley=1000),
            tariffs=tariffs,
        )

        # 100 + 80 + 50 + 30 fen.
        assert outcome.postings[0].amount == Money(fen=-260)

    def test_charges_tiers_by_cumulative_yearly_usage(self) -> None:
        tariffs = billing.TariffHistory(
            tariffs=(
                billing.tiered_tariff(
                    bands=[(0, Price.parse("0.5")), (2_000, Price.parse("1"))],
                    effective_from=date(2024, 1, 1),
                ),
            )
        )
        january = charge(used(1_500, "2024-01-01T00:00", "2024-01-02T00:00"), tariffs=tariffs)

        february = charge(
            used(1_000, "2024-02-01T00:00", "2024-02-02T00:00"), january.totals, tariffs=tariffs
        )

        # 500 Wh left in the first band at 0.5, 500 Wh in the second at 1.
        assert february.totals[0].energy_wh == (("ALL", 500), ("ALL@2000", 500))
        assert february.postings[0].amount == Money(fen=-75)

    def test_refuses_consumption_outside_any_tariff(self) -> None:
        with pytest.raises(billing.NoTariffInForce):
            charge(used(10, "2014-12-31T23:00", "2015-01-01T01:00"))

    def test_refuses_negative_deltas(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            charge(used(-10, "2024-01-01T00:00", "2024-01-01T01:00"))

    def test_refuses_totals_charged_beyond_their_worth(self) -> None:
        key = billing.ChargeKey(tariff_key=DEFAULT_KEY, month=BillingMonth(year=2024, month=1))
        bad = billing.ChargeTotal(key=key, energy_wh=(("ALL", 100),), charged=Money(fen=500))

        with pytest.raises(billing.ChargeInconsistent):
            charge(used(10, "2024-01-01T00:00", "2024-01-01T01:00"), (bad,))


class TestChargePosting:
    def test_has_a_deterministic_reference_the_ledger_refuses_twice(self) -> None:
        consumption = used(1000, "2024-01-01T00:00", "2024-01-01T01:00")
        first = charge(consumption).postings[0]
        again = charge(consumption).postings[0]
        journal = (
            ledger.Journal(account_number=NUMBER)
            .post(first.entry(at=local("2024-01-01T01:01")))
            .journal
        )

        assert first.reference == again.reference == f"CHARGE:051600001234:{DEFAULT_KEY}:2024-01:53"
        with pytest.raises(ledger.DuplicateReference):
            journal.post(again.entry(at=local("2024-01-01T01:02")))


class TestMonthlyStatement:
    def totals(self) -> tuple[billing.ChargeTotal, ...]:
        # An outcome carries only the totals it touched; the account keeps them all.
        kept: dict[billing.ChargeKey, billing.ChargeTotal] = {}
        for consumption in (
            used(6_870, "2015-10-01T00:00", "2015-10-31T00:00"),
            used(980, "2015-11-01T00:00", "2015-11-30T00:00"),
            used(1_040, "2015-12-01T00:00", "2015-12-30T00:00"),
        ):
            kept.update((t.key, t) for t in charge(consumption, tuple(kept.values())).totals)
        return tuple(kept.values())

    def test_lists_month_item_price_kwh_amount(self) -> None:
        lines = billing.monthly_statement(
            totals=self.totals(), tariffs=DEFAULT, migration_credits=(), balance=Money(fen=484)
        )

        first = lines[0]
        assert (str(first.month), first.item, first.price, first.energy.kwh, first.amount) == (
            "2015-10",
            "RESIDENTIAL_LIGHTING",
            DEFAULT_PRICE,
            Energy.from_kwh("6.87").kwh,
            Money(fen=363),
        )
        assert {line.status for line in lines} == {billing.StatementStatus.PAID}

    def test_marks_the_latest_months_unpaid_while_in_arrears(self) -> None:
        # Dec charged 55 fen, Nov 52 fen: a balance of -60 fen leaves Dec and Nov unpaid.
        lines = billing.monthly_statement(
            totals=self.totals(), tariffs=DEFAULT, migration_credits=(), balance=Money(fen=-60)
        )

        assert [line.status.value for line in lines] == ["PAID", "UNPAID", "UNPAID"]

    def test_marks_a_month_paid_exactly_when_covered(self) -> None:
        lines = billing.monthly_statement(
            totals=self.totals(), tariffs=DEFAULT, migration_credits=(), balance=Money(fen=-55)
        )

        assert [line.status.value for line in lines] == ["PAID", "PAID", "UNPAID"]

    def test_shows_the_migration_credit_as_negative_usage(self) -> None:
        account = accounts.open_account(
            number=NUMBER,
            holder=accounts.Holder(name="张三"),
            phone=None,
            address=accounts.Address(text="丙6-1-801"),
            at=local("2015-05-04T09:00"),
        )
        credit = accounts.migration_credit(
            account=account,
            energy=Energy.from_kwh("35.2"),
            price=DEFAULT_PRICE,
            at=local("2015-08-20T10:00"),
        )

        lines = billing.monthly_statement(
            totals=(), tariffs=DEFAULT, migration_credits=(credit,), balance=Money(fen=1860)
        )

        assert str(lines[0].month) == "2015-08"
        assert lines[0].energy == Energy(wh=-35_200)
        assert lines[0].amount == Money(fen=-1860)
        assert lines[0].status is billing.StatementStatus.PAID


class TestCumulativeChargeProperty:
    @given(
        st.lists(st.integers(0, 3_000), min_size=1, max_size=40),
        st.integers(0, 20_000).map(Price.from_scaled),
    )
    def test_sum_of_postings_equals_the_rounded_cumulative_charge(
        self, deltas: list[int], price: Price
    ) -> None:
        tariffs = billing.TariffHistory(
            tariffs=(billing.flat_tariff(price=price, effective_from=date(2024, 1, 1)),)
        )
        totals: tuple[billing.ChargeTotal, ...] = ()
        posted = 0

        for index, wh in enumerate(deltas):
            start = f"2024-01-01T{index // 2:02d}:{(index % 2) * 30:02d}"
            end = f"2024-01-01T{index // 2:02d}:{(index % 2) * 30 + 29:02d}"
            outcome = charge(used(wh, start, end), totals, tariffs=tariffs)
            posted += sum(p.amount.fen for p in outcome.postings)
            totals = outcome.totals

        assert -posted == price.cost_of(Energy(wh=sum(deltas))).fen


class TestStatementRules:
    @given(
        balance=st.integers(min_value=-(10**9), max_value=10**9),
        later=st.integers(min_value=0, max_value=10**9),
    )
    def test_a_month_is_paid_when_balance_and_later_charges_cover_it(
        self, balance: int, later: int
    ) -> None:
        status = billing.PAID_RULE.status(
            balance=Money(fen=balance), later_charges=Money(fen=later)
        )

        assert (status is billing.StatementStatus.PAID) == (balance + later >= 0)

    def test_a_statement_shows_the_one_price_or_none(self) -> None:
        flat = billing.flat_tariff(price=DEFAULT_PRICE, effective_from=date(2024, 1, 1))
        tou = billing.time_of_use_tariff(
            prices={p: Price.parse(f"0.{i + 4}") for i, p in enumerate(TimeOfUse)},
            effective_from=date(2024, 1, 1),
        )
        tiers = billing.tiered_tariff(
            bands=[(0, DEFAULT_PRICE), (2_160_000, Price.parse("0.5783"))],
            effective_from=date(2024, 1, 1),
        )

        assert billing.statement_price(flat) == DEFAULT_PRICE
        assert billing.statement_price(tou) is None
        assert billing.statement_price(tiers) is None
