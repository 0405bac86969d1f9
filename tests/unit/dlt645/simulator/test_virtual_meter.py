"""The virtual DDZY102 model, driven by a hand-stepped time source."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from wattbook.dlt645.simulator._clock import SHANGHAI, ManualTimeSource
from wattbook.dlt645.simulator._load import ConstantLoad
from wattbook.dlt645.simulator._meter import (
    CloseNotAllowed,
    KeepPowerInForce,
    MeterSpec,
    MeterStateConflict,
    VirtualMeter,
)
from wattbook.dlt645.simulator._records import (
    BUTTON_OPERATOR,
    METER_OPERATOR,
    EventKind,
    Registers,
)

ADDRESS = "051600001234"
RELAY_OPEN = 1 << 4
COMMAND_OPEN = 1 << 6
KEEP_POWER = 1 << 12


def at(text: str) -> dt.datetime:
    """Return a Shanghai wall time as an aware datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def meter_with(
    *, start: str, watts: int = 1000, **spec: object
) -> tuple[VirtualMeter, ManualTimeSource]:
    time_source = ManualTimeSource(start_at=at(start))
    meter = VirtualMeter(
        spec=MeterSpec(address=ADDRESS, **spec),  # type: ignore[arg-type]
        time_source=time_source,
        load=ConstantLoad(watts=watts, slot_s=int(spec.get("slot_s", 300))),  # type: ignore[call-overload]
    )
    return meter, time_source


class TestTimeOfUseRegisters:
    def test_valley_starts_at_23_by_the_meter_clock(self) -> None:
        meter, clock = meter_with(start="2025-03-10 22:00")

        clock.advance(dt.timedelta(hours=2))

        assert meter.registers() == Registers(
            total_wh=2000, sharp_wh=0, peak_wh=1000, flat_wh=0, valley_wh=1000
        )

    def test_flat_starts_at_07(self) -> None:
        meter, clock = meter_with(start="2025-03-10 06:30")

        clock.advance(dt.timedelta(hours=1))

        assert meter.registers() == Registers(
            total_wh=1000, sharp_wh=0, peak_wh=0, flat_wh=500, valley_wh=500
        )

    def test_one_big_step_over_a_day_splits_like_the_m1_schedule(self) -> None:
        meter, clock = meter_with(start="2025-03-10 00:00")

        clock.advance(dt.timedelta(days=1))

        # sharp 3 h, peak 5 h, flat 8 h, valley 8 h at 1 kW
        assert meter.registers() == Registers(
            total_wh=24_000, sharp_wh=3000, peak_wh=5000, flat_wh=8000, valley_wh=8000
        )

    def test_many_small_steps_give_the_same_registers_as_one_big_step(self) -> None:
        stepped, stepped_clock = meter_with(start="2025-03-10 21:50", watts=1234)
        jumped, jumped_clock = meter_with(start="2025-03-10 21:50", watts=1234)

        for _ in range(100):
            stepped_clock.advance(dt.timedelta(seconds=97))
            stepped.registers()
        jumped_clock.advance(dt.timedelta(seconds=9700))

        assert stepped.registers() == jumped.registers()

    def test_sub_wh_energy_is_carried_not_lost(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00", watts=1)

        for _ in range(3600):
            clock.advance(dt.timedelta(seconds=1))
            meter.registers()

        assert meter.registers().total_wh == 1

    def test_tariffs_follow_a_meter_clock_that_is_an_hour_fast(self) -> None:
        meter, clock = meter_with(start="2025-03-10 22:00", clock_offset=dt.timedelta(hours=1))

        clock.advance(dt.timedelta(hours=1))

        assert meter.registers().valley_wh == 1000


class TestRelay:
    def test_trip_stops_energy_and_status_word_shows_it(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")

        meter.trip(operator_code=0x12345678)
        clock.advance(dt.timedelta(hours=1))

        assert meter.registers().total_wh == 0
        assert meter.measurements().active_power_mw == 0
        assert meter.status_word_3() & (RELAY_OPEN | COMMAND_OPEN) == RELAY_OPEN | COMMAND_OPEN

    def test_close_allowed_waits_for_the_button(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")
        meter.trip()

        meter.allow_close(operator_code=7)
        word_before_button = meter.status_word_3()
        clock.advance(dt.timedelta(minutes=5))
        meter.press_button()

        assert word_before_button & (RELAY_OPEN | COMMAND_OPEN) == RELAY_OPEN
        assert meter.status_word_3() & (RELAY_OPEN | COMMAND_OPEN) == 0
        assert meter.events(EventKind.RELAY_CLOSE).records[0].operator_code == 7

    def test_button_without_allowed_close_is_refused(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")
        meter.trip()

        with pytest.raises(CloseNotAllowed):
            meter.press_button()

    def test_trip_under_keep_power_is_refused_and_changes_nothing(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")
        meter.set_keep_power(on=True)

        with pytest.raises(KeepPowerInForce):
            meter.trip()

        assert meter.relay_closed
        assert meter.status_word_3() & (RELAY_OPEN | COMMAND_OPEN | KEEP_POWER) == KEEP_POWER

    def test_keep_power_closes_a_tripped_relay(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")
        meter.trip()

        meter.set_keep_power(on=True)

        assert meter.relay_closed

    def test_trip_and_close_are_recorded_with_meter_time_and_energy(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")
        clock.advance(dt.timedelta(hours=1))

        meter.trip(operator_code=42)
        clock.advance(dt.timedelta(minutes=2))
        meter.close(operator_code=43)

        trip = meter.events(EventKind.RELAY_TRIP)
        close = meter.events(EventKind.RELAY_CLOSE)
        assert (trip.count, close.count) == (1, 1)
        assert trip.records[0].started_at == dt.datetime(2025, 3, 10, 13, 0)
        assert trip.records[0].energy_before_wh == 1000
        assert close.records[0].started_at == dt.datetime(2025, 3, 10, 13, 2)
        assert close.records[0].operator_code == 43


class TestOverCurrent:
    def test_load_above_maximum_trips_by_itself_and_is_recorded(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00", watts=500)
        clock.advance(dt.timedelta(minutes=10))

        meter.set_extra_load(watts=15_000)
        clock.advance(dt.timedelta(hours=1))

        assert not meter.relay_closed
        assert meter.events(EventKind.OVER_CURRENT).count == 1
        trip = meter.events(EventKind.RELAY_TRIP).records[0]
        assert trip.operator_code == METER_OPERATOR
        assert trip.started_at == dt.datetime(2025, 3, 10, 12, 10)
        assert meter.status_word_3() & (RELAY_OPEN | COMMAND_OPEN) == RELAY_OPEN

    def test_configured_lower_maximum_is_honoured(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00", watts=3000, max_current_ma=10_000)

        clock.advance(dt.timedelta(minutes=1))

        assert not meter.relay_closed

    def test_button_restores_power_after_the_overload_is_gone(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00", watts=500)
        meter.set_extra_load(watts=15_000)
        clock.advance(dt.timedelta(minutes=1))
        meter.set_extra_load(watts=0)

        meter.press_button()

        assert meter.relay_closed
        assert meter.events(EventKind.RELAY_CLOSE).records[0].operator_code == BUTTON_OPERATOR


class TestEvents:
    def test_cover_open_record_has_start_end_and_energies(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")
        clock.advance(dt.timedelta(hours=1))

        meter.open_cover()
        clock.advance(dt.timedelta(hours=1))
        meter.close_cover()

        log = meter.events(EventKind.COVER_OPEN)
        assert log.count == 1
        assert log.records[0].started_at == dt.datetime(2025, 3, 10, 13, 0)
        assert log.records[0].ended_at == dt.datetime(2025, 3, 10, 14, 0)
        assert (log.records[0].energy_before_wh, log.records[0].energy_after_wh) == (1000, 2000)

    def test_open_cover_has_no_end_yet(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")

        meter.open_cover()

        assert meter.events(EventKind.COVER_OPEN).records[0].ended_at is None

    def test_opening_an_open_cover_is_a_conflict(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")
        meter.open_terminal_cover()

        with pytest.raises(MeterStateConflict):
            meter.open_terminal_cover()

    def test_only_last_ten_records_are_kept_but_count_goes_on(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")

        for _ in range(12):
            meter.power_down()
            clock.advance(dt.timedelta(minutes=1))
            meter.power_up()
            clock.advance(dt.timedelta(minutes=1))

        log = meter.events(EventKind.POWER_DOWN)
        assert log.count == 12
        assert len(log.records) == 10
        assert log.records[0].started_at == dt.datetime(2025, 3, 10, 12, 22)

    def test_no_energy_flows_while_powered_down(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")

        meter.power_down()
        clock.advance(dt.timedelta(hours=1))
        meter.power_up()

        assert meter.registers().total_wh == 0


class TestProgramming:
    def test_first_write_starts_a_record_at_the_meter_time_before_it(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00", clock_offset=dt.timedelta(minutes=-7))

        meter.record_programming(data_id=0x04000102, operator_code=9)
        meter.set_meter_time(dt.datetime(2025, 3, 10, 12, 0), operator_code=9)

        log = meter.events(EventKind.PROGRAMMING)
        assert log.count == 1
        assert (log.records[0].started_at, log.records[0].operator_code) == (
            dt.datetime(2025, 3, 10, 11, 53),
            9,
        )
        assert log.records[0].data_ids == (0x04000102,)

    def test_writes_of_one_session_share_a_record_each_di_once(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")

        for data_id in (0x04000101, 0x04000102, 0x04000101):
            meter.record_programming(data_id=data_id, operator_code=9)
            clock.advance(dt.timedelta(seconds=20))

        log = meter.events(EventKind.PROGRAMMING)
        assert (log.count, log.records[0].data_ids) == (1, (0x04000101, 0x04000102))
        assert log.records[0].started_at == dt.datetime(2025, 3, 10, 12, 0)

    def test_a_minute_later_or_another_operator_starts_a_new_record(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00")

        meter.record_programming(data_id=0x04000101, operator_code=9)
        meter.record_programming(data_id=0x04000102, operator_code=10)
        clock.advance(dt.timedelta(minutes=1))
        meter.record_programming(data_id=0x04000102, operator_code=10)

        log = meter.events(EventKind.PROGRAMMING)
        assert log.count == 3
        assert [(r.operator_code, r.data_ids) for r in log.records] == [
            (10, (0x04000102,)),
            (10, (0x04000102,)),
            (9, (0x04000101,)),
        ]

    def test_an_eleventh_di_starts_a_new_record(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")

        for data_id in range(0x04000A01, 0x04000A0C):
            meter.record_programming(data_id=data_id, operator_code=9)

        log = meter.events(EventKind.PROGRAMMING)
        assert log.count == 2
        assert log.records[0].data_ids == (0x04000A0B,)
        assert log.records[1].data_ids == tuple(range(0x04000A01, 0x04000A0B))


class TestSettlementFreeze:
    def test_month_end_freezes_the_registers(self) -> None:
        meter, clock = meter_with(start="2025-01-31 23:30")

        clock.advance(dt.timedelta(hours=1))

        latest = meter.settlements()[0]
        assert latest.frozen_at == dt.datetime(2025, 2, 1, 0, 0)
        assert latest.registers.total_wh == 500
        assert meter.registers().total_wh == 1000

    def test_keeps_twelve_months_newest_first(self) -> None:
        meter, clock = meter_with(start="2024-01-15 12:00", watts=100, slot_s=86_400)

        for _ in range(14):
            clock.advance(dt.timedelta(days=31))
            meter.registers()

        frozen = meter.settlements()
        assert len(frozen) == 12
        assert frozen[0].frozen_at == dt.datetime(2025, 3, 1)
        assert frozen[11].frozen_at == dt.datetime(2024, 4, 1)

    def test_leap_day_month_end(self) -> None:
        meter, clock = meter_with(start="2024-02-29 23:00")

        clock.advance(dt.timedelta(hours=2))

        assert meter.settlements()[0].frozen_at == dt.datetime(2024, 3, 1)
        assert meter.settlements()[0].registers.valley_wh == 1000

    def test_history_gives_a_new_meter_past_settlements_that_add_up(self) -> None:
        time_source = ManualTimeSource(start_at=at("2025-03-10 12:00"))
        meter = VirtualMeter(
            spec=MeterSpec(address=ADDRESS, seed=5, history_months=14), time_source=time_source
        )

        registers = meter.registers()
        frozen = meter.settlements()

        assert len(frozen) == 12
        assert frozen[0].frozen_at == dt.datetime(2025, 3, 1)
        assert all(
            a.registers.total_wh > b.registers.total_wh for a, b in itertools.pairwise(frozen)
        )
        assert registers.total_wh == sum(registers.as_tuple()[1:])


class TestClock:
    def test_drift_makes_a_fast_meter_gain_time(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00", drift_ppm=100)

        clock.advance(dt.timedelta(days=10))

        assert meter.meter_time() == dt.datetime(2025, 3, 20, 12, 1, 26, 400_000)

    def test_setting_the_clock_is_recorded(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00", clock_offset=dt.timedelta(minutes=-7))

        meter.set_meter_time(dt.datetime(2025, 3, 10, 12, 0, 0), operator_code=9)

        record = meter.events(EventKind.CLOCK_CHANGE).records[0]
        assert (record.started_at, record.ended_at, record.operator_code) == (
            dt.datetime(2025, 3, 10, 11, 53),
            dt.datetime(2025, 3, 10, 12, 0),
            9,
        )
        assert meter.meter_time() == dt.datetime(2025, 3, 10, 12, 0)

    def test_broadcast_time_corrects_small_error_once_a_day(self) -> None:
        meter, clock = meter_with(start="2025-03-10 12:00", clock_offset=dt.timedelta(minutes=2))

        first = meter.broadcast_time(dt.datetime(2025, 3, 10, 12, 0))
        clock.advance(dt.timedelta(hours=1))
        second = meter.broadcast_time(dt.datetime(2025, 3, 10, 13, 1))

        assert (first, second) == (True, False)
        assert meter.meter_time() == dt.datetime(2025, 3, 10, 13, 0)

    def test_broadcast_time_beyond_five_minutes_is_ignored(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")

        accepted = meter.broadcast_time(dt.datetime(2025, 3, 10, 12, 6))

        assert not accepted
        assert meter.meter_time() == dt.datetime(2025, 3, 10, 12, 0)

    def test_forward_jump_past_month_end_freezes(self) -> None:
        meter, _ = meter_with(start="2025-03-31 12:00")

        meter.set_meter_time(dt.datetime(2025, 4, 1, 8, 0))

        assert meter.settlements()[0].frozen_at == dt.datetime(2025, 4, 1)


class TestMeasurements:
    def test_current_and_power_agree_with_the_voltage(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00", watts=2200)

        values = meter.measurements()

        assert values.active_power_mw == 2_200_000
        assert 210_000 <= values.voltage_mv <= 230_000
        assert values.voltage_mv % 100 == 0
        expected_ma = 2_200_000 * 1_000_000 // (values.voltage_mv * values.power_factor_permille)
        assert values.current_ma == expected_ma

    def test_identity_defaults_to_the_meter_number(self) -> None:
        meter, _ = meter_with(start="2025-03-10 12:00")

        assert (meter.address, meter.meter_number, meter.account_number) == (ADDRESS,) * 3
