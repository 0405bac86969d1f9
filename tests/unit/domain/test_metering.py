"""Unit tests of wattbook.domain.metering."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattbook.domain import accounts, billing, metering
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import (
    SHANGHAI,
    AccountNumber,
    BillingMonth,
    Energy,
    MeterNumber,
    Price,
    RegisterSet,
)

METER = MeterNumber(value="051600001234")
LIMITS = metering.PlausibilityLimits()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def regs(
    total: int, sharp: int = 0, peak: int = 0, flat: int | None = None, valley: int = 0
) -> RegisterSet:
    flat_wh = total - sharp - peak - valley if flat is None else flat
    return RegisterSet(
        total_wh=total, sharp_wh=sharp, peak_wh=peak, flat_wh=flat_wh, valley_wh=valley
    )


def reading(total: int, at: str, meter: MeterNumber = METER, **periods: int) -> metering.Reading:
    return metering.Reading(
        meter_number=meter,
        registers=regs(total, **periods),
        meter_time_at=local(at),
        received_at=local(at) + timedelta(seconds=3),
    )


def baseline(total: int, at: str) -> metering.RegisterBaseline:
    return metering.RegisterBaseline(
        meter_number=METER,
        registers=regs(total),
        at=local(at),
        source=metering.BaselineSource.READING,
    )


class TestAssessReading:
    def test_accepts_the_difference_of_cumulative_registers(self) -> None:
        assessment = metering.assess_reading(
            baseline=baseline(1_000, "2024-01-01T00:00"),
            reading=reading(1_520, "2024-01-01T01:00"),
            limits=LIMITS,
        )

        assert assessment.outcome is metering.ReadingOutcome.ACCEPTED
        assert assessment.consumption is not None
        assert assessment.consumption.delta.total_wh == 520
        assert assessment.consumption.start_at == local("2024-01-01T00:00")
        assert assessment.baseline.registers.total_wh == 1_520
        assert assessment.alarms == ()

    def test_ignores_the_same_reading_delivered_again(self) -> None:
        assessment = metering.assess_reading(
            baseline=baseline(1_520, "2024-01-01T01:00"),
            reading=reading(1_520, "2024-01-01T01:00"),
            limits=LIMITS,
        )

        assert assessment.outcome is metering.ReadingOutcome.DUPLICATE
        assert assessment.consumption is None

    def test_charges_nothing_for_a_late_reading(self) -> None:
        assessment = metering.assess_reading(
            baseline=baseline(1_520, "2024-01-01T01:00"),
            reading=reading(1_200, "2024-01-01T00:30"),
            limits=LIMITS,
        )

        assert assessment.outcome is metering.ReadingOutcome.LATE
        assert assessment.consumption is None
        assert assessment.alarms == ()

    def test_alarms_on_a_late_reading_above_the_baseline(self) -> None:
        assessment = metering.assess_reading(
            baseline=baseline(1_520, "2024-01-01T01:00"),
            reading=reading(1_600, "2024-01-01T00:30"),
            limits=LIMITS,
        )

        assert [a.kind for a in assessment.alarms] == [AlarmKind.LATE_READING_INCONSISTENT]

    def test_credits_nothing_when_a_register_goes_backwards(self) -> None:
        before = baseline(1_520, "2024-01-01T01:00")

        assessment = metering.assess_reading(
            baseline=before, reading=reading(1_500, "2024-01-01T02:00"), limits=LIMITS
        )

        assert assessment.outcome is metering.ReadingOutcome.BACKWARDS
        assert assessment.consumption is None
        assert assessment.baseline == before
        assert assessment.alarms[0].event_name == "metering.register.went-backwards"

    def test_treats_a_period_register_going_backwards_as_backwards(self) -> None:
        before = metering.RegisterBaseline(
            meter_number=METER,
            registers=regs(1_000, valley=500),
            at=local("2024-01-01T00:00"),
            source=metering.BaselineSource.READING,
        )

        assessment = metering.assess_reading(
            baseline=before, reading=reading(1_100, "2024-01-01T01:00", valley=400), limits=LIMITS
        )

        assert assessment.outcome is metering.ReadingOutcome.BACKWARDS

    def test_holds_an_implausible_jump_for_review(self) -> None:
        before = baseline(0, "2024-01-01T00:00")
        # 60 A x 230 V x 1 h x 150 % = 20.7 kWh, plus 20 Wh slack.
        jump = reading(20_721, "2024-01-01T01:00")

        assessment = metering.assess_reading(baseline=before, reading=jump, limits=LIMITS)

        assert assessment.outcome is metering.ReadingOutcome.IMPLAUSIBLE
        assert assessment.baseline == before
        assert assessment.alarms[0].kind is AlarmKind.IMPLAUSIBLE_JUMP

    def test_accepts_the_most_plausible_jump(self) -> None:
        assessment = metering.assess_reading(
            baseline=baseline(0, "2024-01-01T00:00"),
            reading=reading(20_720, "2024-01-01T01:00"),
            limits=LIMITS,
        )

        assert assessment.outcome is metering.ReadingOutcome.ACCEPTED

    def test_releases_a_held_reading_an_operator_approved(self) -> None:
        jump = reading(90_000, "2024-01-01T01:00")

        assessment = metering.accept_held_reading(
            baseline=baseline(0, "2024-01-01T00:00"), reading=jump, limits=LIMITS
        )

        assert assessment.outcome is metering.ReadingOutcome.ACCEPTED
        assert assessment.consumption is not None
        assert assessment.consumption.delta.total_wh == 90_000

    def test_records_a_time_of_use_mismatch_without_fixing_it(self) -> None:
        odd = reading(1_100, "2024-01-01T01:00", flat=1_050)

        assessment = metering.assess_reading(
            baseline=baseline(1_000, "2024-01-01T00:00"), reading=odd, limits=LIMITS
        )

        assert assessment.outcome is metering.ReadingOutcome.ACCEPTED
        assert assessment.consumption is not None
        assert assessment.consumption.delta.total_wh == 100
        assert assessment.consumption.tou_mismatch_wh == 50
        assert [a.kind for a in assessment.alarms] == [AlarmKind.TOU_MISMATCH]

    def test_tolerates_a_mismatch_within_the_configured_tolerance(self) -> None:
        limits = metering.PlausibilityLimits(tou_mismatch_tolerance_wh=60)

        assessment = metering.assess_reading(
            baseline=baseline(1_000, "2024-01-01T00:00"),
            reading=reading(1_100, "2024-01-01T01:00", flat=1_040),
            limits=limits,
        )

        assert assessment.alarms == ()

    def test_refuses_another_meters_reading(self) -> None:
        with pytest.raises(metering.MeterMismatch):
            metering.assess_reading(
                baseline=baseline(0, "2024-01-01T00:00"),
                reading=reading(10, "2024-01-01T01:00", meter=MeterNumber(value="051600000001")),
                limits=LIMITS,
            )


class TestAssessReadings:
    def test_takes_a_batch_out_of_order_in_meter_time_order(self) -> None:
        batch = [
            reading(1_300, "2024-01-01T03:00"),
            reading(1_100, "2024-01-01T01:00"),
            reading(1_200, "2024-01-01T02:00"),
        ]

        result = metering.assess_readings(
            baseline=baseline(1_000, "2024-01-01T00:00"), readings=batch, limits=LIMITS
        )

        assert [c.delta.total_wh for c in result.consumptions] == [100, 100, 100]
        assert result.baseline.registers.total_wh == 1_300

    def test_charges_a_gap_when_the_next_reading_arrives(self) -> None:
        result = metering.assess_readings(
            baseline=baseline(1_000, "2024-01-01T00:00"),
            readings=[reading(5_000, "2024-01-03T00:00")],
            limits=LIMITS,
        )

        assert result.consumptions[0].delta.total_wh == 4_000
        assert result.consumptions[0].start_at == local("2024-01-01T00:00")


class TestMeterReplacement:
    def test_charges_the_old_meter_to_its_final_reading_then_starts_the_new_one(self) -> None:
        account = accounts.open_account(
            number=AccountNumber(value="051600001234"),
            holder=accounts.Holder(name="张三"),
            phone=None,
            address=accounts.Address(text="丙6-1-801"),
            at=local("2015-05-04T09:00"),
        )
        old = accounts.install_meter(
            account=account,
            meter_number=METER,
            bus="bus-3",
            installed_at=local("2015-05-04T09:00"),
            initial=regs(0),
        )
        replacement = accounts.replace_meter(
            account=account,
            current=old,
            final=regs(5_000),
            final_at=local("2015-05-04T12:00"),
            new_meter_number=MeterNumber(value="051600009999"),
            bus="bus-3",
            initial=regs(30),
            installed_at=local("2015-05-04T12:30"),
        )
        first = metering.baseline_from_installation(old)

        last_of_old = metering.assess_reading(
            baseline=first,
            reading=metering.final_reading(replacement, received_at=local("2015-05-04T12:40")),
            limits=LIMITS,
        )
        new = metering.baseline_after_replacement(replacement)
        first_of_new = metering.assess_reading(
            baseline=new,
            reading=reading(130, "2015-05-04T13:30", meter=MeterNumber(value="051600009999")),
            limits=LIMITS,
        )

        assert last_of_old.consumption is not None
        assert last_of_old.consumption.delta.total_wh == 5_000
        assert new.source is metering.BaselineSource.REPLACEMENT
        assert first_of_new.consumption is not None
        assert first_of_new.consumption.delta.total_wh == 100


class TestRebaseline:
    def test_sets_a_new_baseline_after_a_rollover(self) -> None:
        rolled = metering.rebaseline(
            meter_number=METER,
            registers=regs(10),
            at=local("2024-01-01T00:00"),
            source=metering.BaselineSource.ROLLOVER,
        )

        assessment = metering.assess_reading(
            baseline=rolled, reading=reading(110, "2024-01-01T01:00"), limits=LIMITS
        )

        assert assessment.consumption is not None
        assert assessment.consumption.delta.total_wh == 100


class TestPlausibilityLimits:
    def test_allows_only_the_slack_in_no_time(self) -> None:
        assert LIMITS.max_wh(timedelta(0)) == 20

    def test_scales_with_elapsed_time(self) -> None:
        assert LIMITS.max_wh(timedelta(hours=2)) == 41_420


def consumption(start: str, end: str, total: int, **periods: int) -> metering.Consumption:
    return metering.Consumption(
        meter_number=METER, start_at=local(start), end_at=local(end), delta=regs(total, **periods)
    )


class TestByMonth:
    def test_splits_an_interval_over_a_month_start_by_elapsed_time(self) -> None:
        used = consumption("2025-01-31T23:00", "2025-02-01T01:00", 1_200, valley=1_200)

        parts = metering.by_month(used)

        assert [(str(p.month), str(p.day), p.delta) for p in parts] == [
            ("2025-01", "2025-01-31", regs(600, valley=600)),
            ("2025-02", "2025-02-01", regs(600, valley=600)),
        ]

    def test_puts_an_interval_ending_on_a_month_start_in_the_month_before(self) -> None:
        used = consumption("2025-02-28T23:00", "2025-03-01T00:00", 500)

        (part,) = metering.by_month(used)

        assert (str(part.month), str(part.day), part.delta) == ("2025-02", "2025-02-28", regs(500))

    def test_puts_an_empty_interval_on_its_start(self) -> None:
        used = consumption("2025-03-01T00:00", "2025-03-01T00:00", 10)

        (part,) = metering.by_month(used)

        assert (str(part.month), str(part.day)) == ("2025-03", "2025-03-01")

    @given(
        total=st.integers(min_value=0, max_value=10**9),
        hours=st.integers(min_value=1, max_value=24 * 120),
        offset_minutes=st.integers(min_value=0, max_value=60 * 24 * 60),
    )
    def test_gives_each_month_what_charging_charges_to_it(
        self, total: int, hours: int, offset_minutes: int
    ) -> None:
        start_at = local("2024-12-01T00:00") + timedelta(minutes=offset_minutes)
        used = metering.Consumption(
            meter_number=METER,
            start_at=start_at,
            end_at=start_at + timedelta(hours=hours),
            delta=regs(total),
        )
        # Two price changes inside the range: charging cuts there as well as at month starts.
        tariffs = billing.TariffHistory(
            tariffs=(billing.default_tariff(effective_from=date(2000, 1, 1)),)
        )
        for day, price in ((date(2025, 1, 17), "0.6"), (date(2025, 2, 3), "0.7")):
            tariffs = tariffs.changed(
                tariff=billing.flat_tariff(price=Price.parse(price), effective_from=day)
            )

        outcome = billing.charge_consumption(
            account_number=AccountNumber(value="051600001234"),
            consumption=used,
            tariffs=tariffs,
            totals=(),
        )

        charged: dict[BillingMonth, int] = {}
        for charge_total in outcome.totals:
            month = charge_total.key.month
            charged[month] = charged.get(month, 0) + charge_total.energy.wh
        usage = {part.month: part.delta.total_wh for part in metering.by_month(used)}
        assert {m: wh for m, wh in charged.items() if wh} == {
            m: wh for m, wh in usage.items() if wh
        }
        assert sum(usage.values()) == total


class TestSinceOpening:
    def test_moves_an_interval_starting_before_the_opening_to_the_opening(self) -> None:
        used = consumption("2025-05-01T09:00", "2025-09-03T10:00", 600_000)

        moved = metering.since_opening(used, opened_at=local("2025-08-20T10:00"))

        assert (moved.start_at, moved.end_at, moved.delta) == (
            local("2025-08-20T10:00"),
            local("2025-09-03T10:00"),
            regs(600_000),
        )

    def test_makes_an_interval_wholly_before_the_opening_empty_at_the_opening(self) -> None:
        used = consumption("2025-05-01T09:00", "2025-06-01T09:00", 100)

        moved = metering.since_opening(used, opened_at=local("2025-08-20T10:00"))

        assert (moved.start_at, moved.end_at) == (local("2025-08-20T10:00"),) * 2

    def test_leaves_an_interval_after_the_opening_alone(self) -> None:
        used = consumption("2025-08-21T09:00", "2025-09-03T10:00", 100)

        assert metering.since_opening(used, opened_at=local("2025-08-20T10:00")) is used


def stepped(exact: RegisterSet, cut: Callable[[int], int]) -> RegisterSet:
    return RegisterSet(
        **{name: cut(value) for name, value in zip(_NAMES, exact.as_tuple(), strict=True)}
    )


_NAMES = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")


def truncate(wh: int) -> int:
    return wh // metering.REGISTER_STEP_WH * metering.REGISTER_STEP_WH


def round_half_up_to_step(wh: int) -> int:
    step = metering.REGISTER_STEP_WH
    return (wh + step // 2) // step * step


class TestTimeOfUseMismatchTolerance:
    def test_allows_four_register_steps_the_worst_that_steps_alone_make(self) -> None:
        assert metering.TOU_MISMATCH_TOLERANCE_WH == 4 * metering.REGISTER_STEP_WH == 40
        assert LIMITS.tou_mismatch_tolerance_wh == metering.TOU_MISMATCH_TOLERANCE_WH

    @pytest.mark.parametrize("flat_wh", [1_060, 1_140])  # total 1_100: -40 and +40
    def test_raises_no_alarm_just_inside_the_tolerance(self, flat_wh: int) -> None:
        assessment = metering.assess_reading(
            baseline=baseline(1_000, "2024-01-01T00:00"),
            reading=reading(1_100, "2024-01-01T01:00", flat=flat_wh),
            limits=LIMITS,
        )

        assert assessment.outcome is metering.ReadingOutcome.ACCEPTED
        assert assessment.alarms == ()

    @pytest.mark.parametrize("flat_wh", [1_050, 1_150])  # total 1_100: -50 and +50
    def test_raises_an_alarm_just_outside_the_tolerance(self, flat_wh: int) -> None:
        assessment = metering.assess_reading(
            baseline=baseline(1_000, "2024-01-01T00:00"),
            reading=reading(1_100, "2024-01-01T01:00", flat=flat_wh),
            limits=LIMITS,
        )

        assert [a.kind for a in assessment.alarms] == [AlarmKind.TOU_MISMATCH]
        assert assessment.alarms[0].detail.endswith("total moved 100 Wh")

    def test_the_worst_truncation_stays_inside_the_tolerance(self) -> None:
        # 4 Wh used, 1 Wh in each period. Every period register starts 1 Wh short of a step
        # and crosses it (each shows 10 Wh used); the total, kept on its own, starts on a step
        # and does not reach the next one (it shows nothing): four steps apart.
        start = RegisterSet(total_wh=100, sharp_wh=9, peak_wh=9, flat_wh=9, valley_wh=9)
        end = RegisterSet(total_wh=104, sharp_wh=10, peak_wh=10, flat_wh=10, valley_wh=10)

        assessment = metering.assess_reading(
            baseline=metering.RegisterBaseline(
                meter_number=METER,
                registers=stepped(start, truncate),
                at=local("2024-01-01T00:00"),
                source=metering.BaselineSource.READING,
            ),
            reading=metering.Reading(
                meter_number=METER,
                registers=stepped(end, truncate),
                meter_time_at=local("2024-01-01T01:00"),
                received_at=local("2024-01-01T01:00"),
            ),
            limits=LIMITS,
        )

        assert assessment.consumption is not None
        assert assessment.consumption.tou_mismatch_wh == -40
        assert assessment.alarms == ()


_PERIOD_WH = st.integers(min_value=0, max_value=10**9)


@st.composite
def consistent_registers(draw: st.DrawFn) -> tuple[RegisterSet, RegisterSet]:
    """Two exact (1 Wh) register sets whose period deltas add up to the total delta.

    The total is either the sum of the periods (a meter that adds them up) or an accumulator
    of its own that started elsewhere (a meter that keeps it apart): both must pass.
    """
    start = [draw(_PERIOD_WH) for _ in range(4)]
    used = [draw(st.integers(min_value=0, max_value=100_000)) for _ in range(4)]
    end = [s + u for s, u in zip(start, used, strict=True)]
    total_start = draw(st.one_of(st.just(sum(start)), _PERIOD_WH))

    def registers(total: int, periods: list[int]) -> RegisterSet:
        sharp, peak, flat, valley = periods
        return RegisterSet(
            total_wh=total, sharp_wh=sharp, peak_wh=peak, flat_wh=flat, valley_wh=valley
        )

    return registers(total_start, start), registers(total_start + sum(used), end)


class TestTimeOfUseMismatchProperties:
    @given(pair=consistent_registers(), cut=st.sampled_from([truncate, round_half_up_to_step]))
    @settings(max_examples=500)
    def test_registers_cut_to_whole_steps_never_raise_a_mismatch_alarm(
        self, pair: tuple[RegisterSet, RegisterSet], cut: Callable[[int], int]
    ) -> None:
        start, end = pair

        assessment = metering.assess_reading(
            baseline=metering.RegisterBaseline(
                meter_number=METER,
                registers=stepped(start, cut),
                at=local("2024-01-01T00:00"),
                source=metering.BaselineSource.READING,
            ),
            reading=metering.Reading(
                meter_number=METER,
                registers=stepped(end, cut),
                meter_time_at=local("2024-01-03T00:00"),
                received_at=local("2024-01-03T00:00"),
            ),
            limits=LIMITS,
        )

        assert assessment.outcome is metering.ReadingOutcome.ACCEPTED
        assert [a for a in assessment.alarms if a.kind is AlarmKind.TOU_MISMATCH] == []


class TestSuspicion:
    limits = metering.SuspicionLimits()

    def test_zero_use_is_suspect_only_after_occupancy(self) -> None:
        assert metering.zero_use_while_occupied(
            before=Energy(wh=1_000), during=Energy.zero(), limits=self.limits
        )
        assert not metering.zero_use_while_occupied(
            before=Energy(wh=990), during=Energy.zero(), limits=self.limits
        )
        assert not metering.zero_use_while_occupied(
            before=Energy(wh=9_000), during=Energy(wh=10), limits=self.limits
        )

    def test_a_drop_is_below_half_of_the_use_before(self) -> None:
        assert metering.sudden_drop(
            before=Energy(wh=10_000), after=Energy(wh=4_990), limits=self.limits
        )
        assert not metering.sudden_drop(
            before=Energy(wh=10_000), after=Energy(wh=5_000), limits=self.limits
        )
        assert not metering.sudden_drop(
            before=Energy(wh=900), after=Energy.zero(), limits=self.limits
        )

    def test_the_relay_lets_one_register_step_through(self) -> None:
        assert not metering.use_while_relay_open(used=Energy(wh=10), limits=self.limits)
        assert metering.use_while_relay_open(used=Energy(wh=20), limits=self.limits)
