"""Unit tests of wattbook.domain.values."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook.domain.values import (
    CHARGE_ROUNDING,
    DEFAULT_PRICE,
    DEFAULT_TOU_SCHEDULE,
    SHANGHAI,
    AccountNumber,
    BillingMonth,
    CalendarNotCovered,
    CalendarOverride,
    ChargeRounding,
    Energy,
    InvalidAccountNumber,
    InvalidAmount,
    InvalidEnergy,
    InvalidMeterNumber,
    InvalidPeriod,
    InvalidPrice,
    InvalidSchedule,
    MeterNumber,
    Money,
    NaiveDatetime,
    Period,
    Price,
    RegisterSet,
    RoundingMode,
    TimeOfUse,
    TouInterval,
    TouSchedule,
    WorkingCalendar,
    local_date,
    local_month,
    round_half_up,
    start_of_local_day,
)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class TestRoundHalfUp:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Fraction(5, 10), 1),
            (Fraction(15, 10), 2),
            (Fraction(25, 10), 3),
            (Fraction(-5, 10), -1),
            (Fraction(-25, 10), -3),
            (Fraction(49, 100), 0),
            (Decimal("1056.6"), 1057),
            (Decimal("0.4999"), 0),
            (7, 7),
        ],
    )
    def test_rounds_ties_away_from_zero(
        self, value: Fraction | Decimal | int, expected: int
    ) -> None:
        assert round_half_up(value) == expected

    def test_refuses_floats(self) -> None:
        with pytest.raises(TypeError):
            round_half_up(0.5)  # type: ignore[arg-type]

    def test_refuses_non_finite_decimals(self) -> None:
        with pytest.raises(ValueError, match="cannot round"):
            round_half_up(Decimal("NaN"))

    @given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
    def test_is_within_half_of_the_exact_value(self, numerator: int, denominator: int) -> None:
        exact = Fraction(numerator, denominator)

        rounded = round_half_up(exact)

        assert abs(rounded - exact) <= Fraction(1, 2)
        if abs(rounded - exact) == Fraction(1, 2):
            assert abs(rounded) > abs(exact)


class TestMoney:
    def test_adds_and_subtracts_money(self) -> None:
        assert Money(fen=150) + Money(fen=25) - Money(fen=5) == Money(fen=170)

    def test_multiplies_by_int_only(self) -> None:
        assert Money(fen=3) * 4 == Money(fen=12) == 4 * Money(fen=3)
        with pytest.raises(TypeError):
            Money(fen=3) * Decimal("1.5")  # type: ignore[operator]
        with pytest.raises(TypeError):
            Money(fen=3) * 1.5  # type: ignore[operator]

    def test_never_meets_a_float(self) -> None:
        with pytest.raises(InvalidAmount):
            Money(fen=1.0)  # type: ignore[arg-type]
        with pytest.raises(InvalidAmount):
            Money(fen=True)
        with pytest.raises(TypeError):
            Money(fen=1) + 1  # type: ignore[operator]

    @pytest.mark.parametrize(
        ("text", "fen"),
        [
            ("12.34", 1234),
            ("12.3", 1230),
            ("12", 1200),
            ("0.05", 5),
            ("-0.5", -50),
            (" 7.00 ", 700),
        ],
    )
    def test_parses_yuan_strings(self, text: str, fen: int) -> None:
        assert Money.parse(text) == Money(fen=fen)

    @pytest.mark.parametrize("text", ["12.345", "1e3", "", "12.", ".5", "十", "1,000.00", "+1"])
    def test_refuses_malformed_or_too_precise_yuan(self, text: str) -> None:
        with pytest.raises(InvalidAmount):
            Money.parse(text)

    @pytest.mark.parametrize(
        ("fen", "text"), [(1234, "12.34"), (-50, "-0.50"), (0, "0.00"), (5, "0.05")]
    )
    def test_formats_yuan_with_two_places(self, fen: int, text: str) -> None:
        assert Money(fen=fen).yuan() == text

    @given(st.integers(-(10**15), 10**15))
    def test_round_trips_through_yuan(self, fen: int) -> None:
        assert Money.parse(Money(fen=fen).yuan()) == Money(fen=fen)

    def test_orders_and_tests_truth(self) -> None:
        assert Money(fen=-1) < Money.zero() < Money(fen=1)
        assert not Money.zero()
        assert Money(fen=1)


class TestEnergy:
    @pytest.mark.parametrize(
        ("wh", "kwh"),
        [
            (1005, Decimal("1.01")),
            (1004, Decimal("1.00")),
            (-5, Decimal("-0.01")),
            (20_000, Decimal("20.00")),
        ],
    )
    def test_shows_kwh_with_two_places_half_up(self, wh: int, kwh: Decimal) -> None:
        assert Energy(wh=wh).kwh == kwh
        assert str(Energy(wh=wh).kwh) == str(kwh)

    def test_adds_subtracts_and_scales_by_int_only(self) -> None:
        assert Energy(wh=30) + Energy(wh=20) - Energy(wh=5) == Energy(wh=45)
        assert Energy(wh=10) * 3 == 3 * Energy(wh=10) == Energy(wh=30)
        assert -Energy(wh=10) == Energy(wh=-10)
        with pytest.raises(TypeError):
            Energy(wh=10) * 1.5  # type: ignore[operator]
        with pytest.raises(TypeError):
            Energy(wh=10) + 1  # type: ignore[operator]

    def test_builds_from_exact_kwh(self) -> None:
        assert Energy.from_kwh("20") == Energy(wh=20_000)
        assert Energy.from_kwh(Decimal("0.01")) == Energy(wh=10)

    @pytest.mark.parametrize("kwh", ["0.0001", "abc", "Infinity"])
    def test_refuses_fractions_of_a_wh(self, kwh: str) -> None:
        with pytest.raises(InvalidEnergy):
            Energy.from_kwh(kwh)

    def test_refuses_floats(self) -> None:
        with pytest.raises(InvalidEnergy):
            Energy(wh=1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidEnergy):
            Energy.from_kwh(1.5)  # type: ignore[arg-type]


class TestPrice:
    def test_stores_the_price_times_ten_thousand(self) -> None:
        assert DEFAULT_PRICE.scaled == 5283
        assert Price.from_scaled(5283) == DEFAULT_PRICE == Price.parse("0.5283")

    @pytest.mark.parametrize("text", ["0.52831", "-0.1", "NaN", "x"])
    def test_refuses_bad_prices(self, text: str) -> None:
        with pytest.raises(InvalidPrice):
            Price.parse(text)

    def test_values_energy_exactly(self) -> None:
        assert DEFAULT_PRICE.exact_fen(Energy(wh=20_000)) == Fraction(10566, 10)
        assert DEFAULT_PRICE.cost_of(Energy(wh=20_000)) == Money(fen=1057)
        assert DEFAULT_PRICE.cost_of(Energy(wh=10)) == Money(fen=1)

    @pytest.mark.parametrize(
        ("fen", "buys_less"),
        [(1056, True), (1057, False), (0, True), (-1, True), (5000, False)],
    )
    def test_compares_a_balance_with_twenty_kwh_worth_exactly(
        self, fen: int, buys_less: bool
    ) -> None:
        # 20 kWh x 0.5283 = 10.566 yuan: 10.56 buys less, 10.57 does not; no rounding.
        assert (
            DEFAULT_PRICE.buys_less_than(balance=Money(fen=fen), energy=Energy(wh=20_000))
            is buys_less
        )

    def test_compares_at_the_exact_boundary(self) -> None:
        price = Price.parse("0.5")

        assert not price.buys_less_than(balance=Money(fen=250), energy=Energy(wh=5_000))
        assert price.buys_less_than(balance=Money(fen=249), energy=Energy(wh=5_000))


class TestIdentifiers:
    def test_keeps_leading_zeros(self) -> None:
        assert str(AccountNumber(value="051600001234")) == "051600001234"
        assert str(MeterNumber(value="000000000001")) == "000000000001"

    @pytest.mark.parametrize(
        "value",
        ["51600001234", "0516000012345", "05160000123x", "０５１６００００１２３４", 51600001234],
    )
    def test_refuses_anything_but_twelve_ascii_digits(self, value: object) -> None:
        with pytest.raises(InvalidAccountNumber):
            AccountNumber(value=value)  # type: ignore[arg-type]
        with pytest.raises(InvalidMeterNumber):
            MeterNumber(value=value)  # type: ignore[arg-type]


class TestLocalTime:
    def test_gives_the_shanghai_date_of_a_utc_instant(self) -> None:
        at = datetime(2024, 2, 29, 16, 0, tzinfo=UTC)

        assert local_date(at) == date(2024, 3, 1)
        assert local_month(at) == BillingMonth(year=2024, month=3)

    def test_refuses_naive_datetimes(self) -> None:
        with pytest.raises(NaiveDatetime):
            local_date(datetime(2024, 1, 1))

    def test_starts_the_local_day_at_local_midnight(self) -> None:
        assert start_of_local_day(date(2024, 1, 1)) == datetime(2023, 12, 31, 16, 0, tzinfo=UTC)


class TestBillingMonth:
    def test_runs_from_local_midnight_to_local_midnight(self) -> None:
        month = BillingMonth(year=2024, month=2)

        assert month.start_at == local("2024-02-01T00:00")
        assert month.end_at == local("2024-03-01T00:00")
        assert month.period.contains(local("2024-02-29T23:59:59.999999"))
        assert not month.period.contains(local("2024-03-01T00:00"))

    def test_wraps_the_year(self) -> None:
        assert BillingMonth(year=2024, month=12).next() == BillingMonth(year=2025, month=1)
        assert BillingMonth(year=2025, month=1).previous() == BillingMonth(year=2024, month=12)

    def test_parses_and_prints_yyyy_mm(self) -> None:
        assert str(BillingMonth.parse("2015-08")) == "2015-08"
        with pytest.raises(InvalidPeriod):
            BillingMonth.parse("2015-13")


class TestPeriod:
    def test_is_half_open(self) -> None:
        period = Period(start_at=local("2024-10-01T00:00"), end_at=local("2024-10-08T00:00"))

        assert period.contains(local("2024-10-01T00:00"))
        assert not period.contains(local("2024-10-08T00:00"))

    def test_open_end_runs_forever(self) -> None:
        assert Period(start_at=local("2024-01-01T00:00")).contains(local("2099-01-01T00:00"))

    def test_overlaps_only_when_sharing_an_instant(self) -> None:
        first = Period(start_at=local("2024-01-01T00:00"), end_at=local("2024-01-02T00:00"))
        touching = Period(start_at=local("2024-01-02T00:00"))
        inside = Period(start_at=local("2024-01-01T12:00"), end_at=local("2024-01-01T13:00"))

        assert not first.overlaps(touching)
        assert first.overlaps(inside)
        assert inside.overlaps(first)

    def test_refuses_an_end_before_the_start(self) -> None:
        with pytest.raises(InvalidPeriod):
            Period(start_at=local("2024-01-02T00:00"), end_at=local("2024-01-01T00:00"))


class TestTouSchedule:
    @pytest.mark.parametrize(
        ("wall_clock", "period"),
        [
            ("2024-01-01T22:59:59", TimeOfUse.PEAK),
            ("2024-01-01T23:00:00", TimeOfUse.VALLEY),
            ("2024-01-01T00:00:00", TimeOfUse.VALLEY),
            ("2024-01-01T06:59:59", TimeOfUse.VALLEY),
            ("2024-01-01T07:00:00", TimeOfUse.FLAT),
            ("2024-01-01T08:30:00", TimeOfUse.PEAK),
            ("2024-01-01T10:30:00", TimeOfUse.SHARP),
            ("2024-01-01T11:30:00", TimeOfUse.FLAT),
            ("2024-01-01T18:00:00", TimeOfUse.PEAK),
            ("2024-01-01T19:00:00", TimeOfUse.SHARP),
            ("2024-01-01T21:00:00", TimeOfUse.PEAK),
        ],
    )
    def test_classifies_the_manual_periods(self, wall_clock: str, period: TimeOfUse) -> None:
        assert DEFAULT_TOU_SCHEDULE.period_at(local(wall_clock)) == period

    def test_classifies_by_shanghai_wall_clock_whatever_the_offset(self) -> None:
        # 15:00 UTC is 23:00 in Shanghai.
        assert (
            DEFAULT_TOU_SCHEDULE.period_at(datetime(2024, 1, 1, 15, 0, tzinfo=UTC))
            is TimeOfUse.VALLEY
        )
        at = datetime(2024, 1, 1, 14, 59, tzinfo=timezone(timedelta(hours=-1)))
        assert DEFAULT_TOU_SCHEDULE.period_at(at) is TimeOfUse.VALLEY

    def test_refuses_a_gap(self) -> None:
        with pytest.raises(InvalidSchedule, match="gap"):
            TouSchedule(
                intervals=(
                    TouInterval(start=time(0, 0), end=time(12, 0), period=TimeOfUse.FLAT),
                    TouInterval(start=time(12, 1), end=time(0, 0), period=TimeOfUse.PEAK),
                )
            )

    def test_refuses_an_overlap(self) -> None:
        with pytest.raises(InvalidSchedule, match="overlap"):
            TouSchedule(
                intervals=(
                    TouInterval(start=time(23, 0), end=time(7, 0), period=TimeOfUse.VALLEY),
                    TouInterval(start=time(6, 0), end=time(23, 0), period=TimeOfUse.FLAT),
                )
            )

    def test_refuses_a_short_day(self) -> None:
        with pytest.raises(InvalidSchedule, match="gap"):
            TouSchedule(
                intervals=(TouInterval(start=time(0, 0), end=time(23, 0), period=TimeOfUse.FLAT),)
            )

    def test_accepts_one_interval_covering_the_day(self) -> None:
        schedule = TouSchedule(
            intervals=(TouInterval(start=time(7, 0), end=time(7, 0), period=TimeOfUse.FLAT),)
        )

        assert schedule.period_at(local("2024-01-01T03:00")) is TimeOfUse.FLAT

    def test_refuses_zoned_wall_clock_times(self) -> None:
        with pytest.raises(InvalidSchedule):
            TouInterval(start=time(0, 0, tzinfo=UTC), end=time(0, 0), period=TimeOfUse.FLAT)


class TestRegisterSet:
    def test_subtracts_register_by_register(self) -> None:
        later = RegisterSet(total_wh=100, sharp_wh=10, peak_wh=20, flat_wh=30, valley_wh=40)
        earlier = RegisterSet(total_wh=40, sharp_wh=5, peak_wh=5, flat_wh=10, valley_wh=20)

        delta = later.minus(earlier)

        assert delta.as_tuple() == (60, 5, 15, 20, 20)
        assert delta.tou_sum_wh == 60
        assert earlier.any_below(later)
        assert not later.any_below(earlier)


class TestWorkingCalendar:
    calendar = WorkingCalendar.from_chinese_calendar(
        first_date=date(2024, 1, 1), last_date=date(2024, 12, 31)
    )

    def test_knows_national_day_is_a_holiday(self) -> None:
        assert self.calendar.is_statutory_holiday(date(2024, 10, 1))
        assert not self.calendar.is_working_day(date(2024, 10, 1))

    def test_knows_the_adjusted_working_saturday(self) -> None:
        # 2024-10-12 is a Saturday worked in exchange for the National Day break.
        assert date(2024, 10, 12).weekday() == 5
        assert self.calendar.is_working_day(date(2024, 10, 12))

    def test_treats_an_ordinary_weekend_as_a_rest_day_but_not_a_holiday(self) -> None:
        assert not self.calendar.is_working_day(date(2024, 10, 19))
        assert not self.calendar.is_statutory_holiday(date(2024, 10, 19))

    def test_applies_local_overrides(self) -> None:
        calendar = WorkingCalendar.from_chinese_calendar(
            first_date=date(2024, 10, 1),
            last_date=date(2024, 10, 31),
            overrides=(
                CalendarOverride(day=date(2024, 10, 15), working=False, note="campus closed"),
                CalendarOverride(day=date(2024, 10, 12), working=False, note="not worked here"),
            ),
        )

        assert not calendar.is_working_day(date(2024, 10, 15))
        assert not calendar.is_working_day(date(2024, 10, 12))

    def test_refuses_dates_it_does_not_cover(self) -> None:
        with pytest.raises(CalendarNotCovered):
            self.calendar.is_working_day(date(2025, 1, 1))


class TestChargeRounding:
    def test_is_the_price_scale_over_wh_per_kwh_and_fen_per_yuan_rounded_half_up(self) -> None:
        assert (CHARGE_ROUNDING.divisor, CHARGE_ROUNDING.mode, CHARGE_ROUNDING.offset) == (
            100_000,
            RoundingMode.HALF_UP,
            50_000,
        )

    @pytest.mark.parametrize(
        ("numerator", "fen"), [(49_999, 0), (50_000, 1), (150_000, 2), (-50_000, -1)]
    )
    def test_rounds_ties_away_from_zero(self, numerator: int, fen: int) -> None:
        assert CHARGE_ROUNDING.fen(numerator) == fen

    def test_prices_energy_with_the_same_definition(self) -> None:
        price = Price.parse("0.5283")

        assert price.cost_of(Energy(wh=10)) == Money(fen=CHARGE_ROUNDING.fen(10 * 5283))
        assert price.exact_fen(Energy(wh=10)) == CHARGE_ROUNDING.exact(10 * 5283)

    @pytest.mark.parametrize("divisor", [0, -2, 3])
    def test_refuses_a_divisor_floor_division_cannot_round_with(self, divisor: int) -> None:
        with pytest.raises(ValueError, match="positive even"):
            ChargeRounding(divisor=divisor, mode=RoundingMode.HALF_UP)
