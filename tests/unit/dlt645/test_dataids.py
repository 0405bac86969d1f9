"""The data identifier table and its value codecs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook import dlt645
from wattbook.dlt645 import dataids
from wattbook.dlt645.dataids import Fmt

# ---------------------------------------------------------------- strategies per format


def fixed_point(*, digits: int, places: int, signed: bool = False) -> st.SearchStrategy[Decimal]:
    # Signed fields lose the top bit of the most significant byte to the sign.
    top = 8 * 10 ** (digits - 1) - 1 if signed else 10**digits - 1
    low = -top if signed else 0
    return st.integers(low, top).map(lambda raw: Decimal(raw).scaleb(-places))


energy = fixed_point(digits=8, places=2)
signed_energy = fixed_point(digits=8, places=2, signed=True)
meter_times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31, 23, 59, 59)
).map(lambda value: value.replace(microsecond=0))
record_times = st.none() | meter_times
operator_codes = st.integers(0, 0xFFFFFFFF)
snapshots = st.builds(
    dataids.EnergySnapshot,
    forward_active=energy,
    reverse_active=energy,
    reactive_q1=energy,
    reactive_q2=energy,
    reactive_q3=energy,
    reactive_q4=energy,
)


def status(cls: type[dataids._StatusWord]) -> st.SearchStrategy[object]:
    return st.integers(0, 0xFFFF).map(cls.from_word)


VALUES: dict[Fmt, st.SearchStrategy[object]] = {
    Fmt.ENERGY: energy,
    Fmt.SIGNED_ENERGY: signed_energy,
    Fmt.ENERGY_BLOCK: st.builds(
        dlt645.EnergyBlock, total=energy, tariffs=st.lists(energy, max_size=8).map(tuple)
    ),
    Fmt.SIGNED_ENERGY_BLOCK: st.builds(
        dlt645.EnergyBlock,
        total=signed_energy,
        tariffs=st.lists(signed_energy, max_size=8).map(tuple),
    ),
    Fmt.VOLTAGE: fixed_point(digits=4, places=1),
    Fmt.CURRENT: fixed_point(digits=6, places=3, signed=True),
    Fmt.POWER: fixed_point(digits=6, places=4, signed=True),
    Fmt.POWER_FACTOR: fixed_point(digits=4, places=3, signed=True),
    Fmt.FREQUENCY: fixed_point(digits=4, places=2),
    Fmt.DATE_WEEKDAY: st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)),
    Fmt.TIME: st.times().map(lambda value: value.replace(microsecond=0)),
    Fmt.DIGITS: st.text("0123456789", min_size=12, max_size=12),
    Fmt.ASCII: st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=32),
    Fmt.COUNT: st.integers(0, 999_999),
    Fmt.NUMBER: st.integers(0, 99),
    Fmt.RUN_STATUS_1: status(dlt645.RunStatus1),
    Fmt.RUN_STATUS_2: status(dlt645.RunStatus2),
    Fmt.RUN_STATUS_3: status(dlt645.RunStatus3),
    Fmt.PHASE_FAULT_STATUS: status(dlt645.PhaseFaultStatus),
    Fmt.RUN_STATUS_7: status(dlt645.RunStatus7),
    Fmt.RUN_STATUS_BLOCK: st.builds(
        dlt645.RunStatusBlock,
        word1=status(dlt645.RunStatus1),
        word2=status(dlt645.RunStatus2),
        word3=status(dlt645.RunStatus3),
        phase_a=status(dlt645.PhaseFaultStatus),
        phase_b=status(dlt645.PhaseFaultStatus),
        phase_c=status(dlt645.PhaseFaultStatus),
        word7=status(dlt645.RunStatus7),
    ),
    Fmt.COVER_RECORD: st.builds(
        dlt645.CoverOpenRecord,
        started_at=record_times,
        ended_at=record_times,
        before=snapshots,
        after=snapshots,
    ),
    Fmt.POWER_DOWN_RECORD: st.builds(
        dlt645.PowerDownRecord, started_at=record_times, ended_at=record_times
    ),
    Fmt.PROGRAMMING_RECORD: st.builds(
        dlt645.ProgrammingRecord,
        occurred_at=record_times,
        operator_code=operator_codes,
        data_ids=st.lists(st.integers(0, 0xFFFFFFFF), min_size=10, max_size=10).map(tuple),
    ),
    Fmt.CLOCK_CHANGE_RECORD: st.builds(
        dlt645.ClockChangeRecord,
        operator_code=operator_codes,
        before=record_times,
        after=record_times,
    ),
    Fmt.RELAY_RECORD: st.builds(
        dlt645.RelayEventRecord,
        occurred_at=record_times,
        operator_code=operator_codes,
        energy=snapshots,
    ),
    Fmt.OVER_CURRENT_RECORD: st.builds(
        dlt645.OverCurrentRecord,
        started_at=record_times,
        forward_active_at_start=energy,
        reverse_active_at_start=energy,
        rest=st.binary(max_size=60),
    ),
}


class TestRoundTrip:
    def test_every_format_has_a_strategy(self) -> None:
        assert set(VALUES) == set(Fmt)

    def test_every_format_is_used_by_some_item(self) -> None:
        assert {item.fmt for item in dlt645.ITEMS.values()} == set(Fmt)

    @pytest.mark.parametrize("fmt", list(Fmt))
    @given(data=st.data())
    def test_decode_of_encode_returns_the_value(self, fmt: Fmt, data: st.DataObject) -> None:
        items = sorted(
            (item for item in dlt645.ITEMS.values() if item.fmt is fmt), key=lambda i: i.di
        )
        item = data.draw(st.sampled_from(items), label="item")
        value = data.draw(VALUES[fmt], label="value")

        raw = dlt645.encode_value(item.di, value)

        assert dlt645.decode_value(item.di, raw) == value
        if not item.variable:
            assert len(raw) == item.length

    @given(st.binary(min_size=2, max_size=2))
    def test_any_status_word_bytes_encode_back_unchanged(self, raw: bytes) -> None:
        for di in range(0x04000501, 0x04000508):
            assert dlt645.encode_value(di, dlt645.decode_value(di, raw)) == raw

    @given(st.binary(min_size=14, max_size=14))
    def test_any_status_block_bytes_encode_back_unchanged(self, raw: bytes) -> None:
        value = dlt645.decode_value(0x040005FF, raw)

        assert dlt645.encode_value(0x040005FF, value) == raw


class TestTable:
    @pytest.mark.parametrize(
        ("di", "name"),
        [
            (0x00000000, "combined_active_total"),
            (0x00010000, "forward_active_total"),
            (0x00010100, "forward_active_tariff_1"),
            (0x00010400, "forward_active_tariff_4"),
            (0x0001FF00, "forward_active_block"),
            (0x00010001, "forward_active_total_settlement_1"),
            (0x00010002, "forward_active_total_settlement_2"),
            (0x0001FF01, "forward_active_block_settlement_1"),
            (0x0001FF02, "forward_active_block_settlement_2"),
            (0x0001030C, "forward_active_tariff_3_settlement_12"),
            (0x03300D0A, "meter_cover_open_record_10"),
            (0x1D00FF01, "relay_trip_record_1"),
            (0x1E000001, "relay_close_count"),
            (0x1901FF01, "over_current_a_record_1"),
        ],
    )
    def test_lists_the_item_under_its_name(self, di: int, name: str) -> None:
        assert dlt645.lookup(di).name == name

    def test_names_are_unique(self) -> None:
        names = [item.name for item in dlt645.ITEMS.values()]

        assert len(names) == len(set(names))

    def test_settlement_index_stops_at_twelve(self) -> None:
        with pytest.raises(dlt645.UnknownDataIdentifier, match="0001FF0D"):
            dlt645.lookup(0x0001FF0D)

    def test_unknown_identifier_raises_on_decode(self) -> None:
        with pytest.raises(dlt645.UnknownDataIdentifier):
            dlt645.decode_value(0x12345678, b"")

    def test_block_is_variable_with_twenty_bytes_nominal(self) -> None:
        item = dlt645.lookup(0x0001FF00)

        assert (item.variable, item.length, item.unit) == (True, 20, "kWh")


class TestDecodeValue:
    def test_energy_is_exact_decimal(self) -> None:
        value = dlt645.decode_value(0x00010000, bytes.fromhex("78563412"))

        assert value == Decimal("123456.78")
        assert isinstance(value, Decimal)

    def test_combined_active_carries_a_sign(self) -> None:
        assert dlt645.decode_value(0x00000000, bytes.fromhex("76170380")) == Decimal("-317.76")

    def test_signed_current_uses_bit_7_of_last_byte(self) -> None:
        assert dlt645.decode_value(0x02020100, bytes.fromhex("235180")) == Decimal("-5.123")

    def test_block_with_two_tariffs(self) -> None:
        value = dlt645.decode_value(0x0001FF00, bytes.fromhex("00000100 00500000 00500000"))

        assert value == dlt645.EnergyBlock(
            total=Decimal("100.00"), tariffs=(Decimal("50.00"), Decimal("50.00"))
        )

    def test_block_of_total_only(self) -> None:
        value = dlt645.decode_value(0x0001FF01, bytes.fromhex("00000100"))

        assert value == dlt645.EnergyBlock(total=Decimal("100.00"), tariffs=())

    @pytest.mark.parametrize("size", [0, 3, 21])
    def test_block_length_not_multiple_of_four_raises(self, size: int) -> None:
        with pytest.raises(dlt645.DataError, match=r"0001FF00 .*4 x \(1 \+ tariffs\)"):
            dlt645.decode_value(0x0001FF00, bytes(size))

    def test_length_mismatch_names_item_and_lengths(self) -> None:
        with pytest.raises(dlt645.DataError, match=r"02010100 \(voltage_a\) has 2 .* got 3"):
            dlt645.decode_value(0x02010100, bytes(3))

    def test_relay_record_of_38_bytes_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="34 byte"):
            dlt645.decode_value(0x1D00FF01, bytes(38))

    def test_not_bcd_raises(self) -> None:
        with pytest.raises(dlt645.DataError, match="not BCD"):
            dlt645.decode_value(0x00010000, bytes.fromhex("0A000000"))

    def test_date_with_wrong_weekday_raises(self) -> None:
        # 2024-02-29 was a Thursday (04); 05 is wrong.
        with pytest.raises(dlt645.DataError, match="weekday"):
            dlt645.decode_value(0x04000101, bytes.fromhex("05290224"))

    def test_date_and_time(self) -> None:
        assert dlt645.decode_value(0x04000101, bytes.fromhex("04290224")) == dt.date(2024, 2, 29)
        assert dlt645.decode_value(0x04000102, bytes.fromhex("595923")) == dt.time(23, 59, 59)

    def test_twelve_digits_keep_leading_zeros(self) -> None:
        value = dlt645.decode_value(0x0400040E, bytes.fromhex("341200001605"))

        assert value == "051600001234"

    def test_ascii_is_reversed_and_unpadded(self) -> None:
        raw = bytes(25) + b"201YZDD"

        assert dlt645.decode_value(0x04000403, raw) == "DDZY102"

    def test_event_count_is_int(self) -> None:
        assert dlt645.decode_value(0x03300D00, bytes.fromhex("120000")) == 12


class TestEncodeValue:
    def test_float_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="float"):
            dlt645.encode_value(0x00010000, 1.5)

    def test_bool_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="bool"):
            dlt645.encode_value(0x03300D00, True)

    def test_extra_decimal_places_are_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="decimal place"):
            dlt645.encode_value(0x02010100, Decimal("220.05"))

    def test_value_too_large_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="does not fit"):
            dlt645.encode_value(0x00010000, Decimal("1000000.00"))

    def test_negative_in_unsigned_field_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="negative"):
            dlt645.encode_value(0x00010000, Decimal("-1"))

    def test_datetime_is_not_a_date(self) -> None:
        with pytest.raises(dlt645.DataError, match=r"datetime\.date"):
            dlt645.encode_value(0x04000101, dt.datetime(2024, 2, 29, 12, 0, 0))

    def test_time_with_microseconds_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="whole seconds"):
            dlt645.encode_value(0x04000102, dt.time(12, 0, 0, 1))

    def test_eleven_digits_are_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="12 digits"):
            dlt645.encode_value(0x04000402, "05160000123")

    def test_ascii_longer_than_field_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="32 ASCII"):
            dlt645.encode_value(0x04000403, "X" * 33)

    def test_status_word_of_another_kind_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="RunStatus1"):
            dlt645.encode_value(0x04000503, dlt645.RunStatus1())

    def test_programming_record_needs_ten_dis(self) -> None:
        record = dlt645.ProgrammingRecord(occurred_at=None, operator_code=0, data_ids=(1, 2))

        with pytest.raises(dlt645.DataError, match="10 DIs"):
            dlt645.encode_value(0x03300001, record)


class TestRunStatus3:
    @pytest.mark.parametrize(
        ("word", "field"),
        [
            (0x0010, "relay_open"),
            (0x0040, "relay_command_open"),
            (0x0080, "pre_trip_alarm"),
            (0x1000, "keep_power"),
            (0x2000, "identity_authenticated"),
            (0x4000, "local_account_opened"),
            (0x8000, "remote_account_opened"),
        ],
    )
    def test_single_bit_sets_only_its_flag(self, word: int, field: str) -> None:
        status = dlt645.RunStatus3.from_word(word)

        flags = {f.name for f in dataclasses.fields(status) if getattr(status, f.name) is True}
        assert flags == {field}

    @pytest.mark.parametrize(
        ("word", "meter_type"),
        [
            (0x0000, dlt645.MeterType.NOT_PREPAID),
            (0x0100, dlt645.MeterType.ENERGY_PREPAID),
            (0x0200, dlt645.MeterType.MONEY_PREPAID),
        ],
    )
    def test_bits_8_and_9_are_meter_type(self, word: int, meter_type: dlt645.MeterType) -> None:
        assert dlt645.RunStatus3.from_word(word).meter_type is meter_type

    def test_bits_1_and_2_are_power_supply(self) -> None:
        assert dlt645.RunStatus3.from_word(0x0004).power_supply is dlt645.PowerSupply.BATTERY

    def test_fields_build_the_word(self) -> None:
        status = dlt645.RunStatus3(
            relay_open=True, relay_command_open=True, meter_type=dlt645.MeterType.MONEY_PREPAID
        )

        assert dlt645.encode_value(0x04000503, status) == bytes.fromhex("5002")

    def test_replace_clears_one_bit_and_keeps_the_rest(self) -> None:
        status = dlt645.RunStatus3.from_word(0x1050)

        closed = dataclasses.replace(status, relay_open=False)

        assert closed.raw == 0x1040

    def test_plain_int_meter_type_is_normalised(self) -> None:
        assert dlt645.RunStatus3(meter_type=2).meter_type is dlt645.MeterType.MONEY_PREPAID  # type: ignore[arg-type]

    def test_word_wider_than_16_bits_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="16 bits"):
            dlt645.RunStatus3.from_word(0x10000)


class TestOtherStatusWords:
    def test_word_1_battery_and_direction_bits(self) -> None:
        status = dlt645.decode_value(0x04000501, bytes.fromhex("1C00"))

        assert status == dlt645.RunStatus1(
            clock_battery_low=True, reading_battery_low=True, active_power_reverse=True
        )

    def test_unnamed_bits_survive_in_raw(self) -> None:
        status = dlt645.decode_value(0x04000501, bytes.fromhex("C104"))

        assert isinstance(status, dlt645.RunStatus1)
        assert not any(getattr(status, name) for name, _ in dlt645.RunStatus1._FLAGS)
        assert dlt645.encode_value(0x04000501, status) == bytes.fromhex("C104")

    def test_phase_fault_bits(self) -> None:
        status = dlt645.decode_value(0x04000504, bytes.fromhex("1101"))

        assert status == dlt645.PhaseFaultStatus(
            loss_of_voltage=True, over_current=True, current_break=True
        )

    def test_block_puts_word_3_third(self) -> None:
        raw = bytes.fromhex("0000 0000 1000 0000 0000 0000 0002")

        block = dlt645.decode_value(0x040005FF, raw)

        assert block == dlt645.RunStatusBlock(
            word3=dlt645.RunStatus3(relay_open=True),
            word7=dlt645.RunStatus7(meter_cover_open=True),
        )


class TestEventRecords:
    def test_power_down_record(self) -> None:
        raw = bytes.fromhex("000023310125300007010225")

        record = dlt645.decode_value(0x03110001, raw)

        assert record == dlt645.PowerDownRecord(
            started_at=dt.datetime(2025, 1, 31, 23, 0, 0),
            ended_at=dt.datetime(2025, 2, 1, 7, 0, 30),
        )

    def test_clock_change_record_starts_with_operator(self) -> None:
        raw = bytes.fromhex("78563412000023310125050023310125")

        record = dlt645.decode_value(0x03300401, raw)

        assert record == dlt645.ClockChangeRecord(
            operator_code=0x12345678,
            before=dt.datetime(2025, 1, 31, 23, 0, 0),
            after=dt.datetime(2025, 1, 31, 23, 0, 5),
        )

    def test_cover_record_still_open_has_no_end(self) -> None:
        before = bytes.fromhex("76170300") + bytes(20)
        after = bytes.fromhex("77170300") + bytes(20)
        raw = bytes.fromhex("000012150624") + bytes(6) + before + after

        record = dlt645.decode_value(0x03300D01, raw)

        assert isinstance(record, dlt645.CoverOpenRecord)
        assert record.started_at == dt.datetime(2024, 6, 15, 12, 0, 0)
        assert record.ended_at is None
        assert (record.before.forward_active, record.after.forward_active) == (
            Decimal("317.76"),
            Decimal("317.77"),
        )

    def test_relay_trip_record(self) -> None:
        energies = bytes.fromhex("76170300 00000000") + bytes(16)
        raw = bytes.fromhex("00002331012501000000") + energies

        record = dlt645.decode_value(0x1D00FF01, raw)

        assert isinstance(record, dlt645.RelayEventRecord)
        assert (record.occurred_at, record.operator_code, record.energy.forward_active) == (
            dt.datetime(2025, 1, 31, 23, 0, 0),
            1,
            Decimal("317.76"),
        )

    def test_programming_record_keeps_ten_slots(self) -> None:
        dis = bytes.fromhex("02010004") + bytes.fromhex("FFFFFFFF") * 9
        raw = bytes.fromhex("00002331012500000000") + dis

        record = dlt645.decode_value(0x03300001, raw)

        assert isinstance(record, dlt645.ProgrammingRecord)
        assert record.data_ids == (0x04000102,) + (0xFFFFFFFF,) * 9

    def test_over_current_keeps_the_rest_raw(self) -> None:
        raw = bytes.fromhex("0000233101257617030000000000") + b"\x01\x02"

        record = dlt645.decode_value(0x1901FF01, raw)

        assert record == dlt645.OverCurrentRecord(
            started_at=dt.datetime(2025, 1, 31, 23, 0, 0),
            forward_active_at_start=Decimal("317.76"),
            reverse_active_at_start=Decimal("0"),
            rest=b"\x01\x02",
        )

    def test_over_current_shorter_than_its_head_raises(self) -> None:
        with pytest.raises(dlt645.DataError, match="at least 14"):
            dlt645.decode_value(0x1901FF01, bytes(13))

    def test_impossible_time_raises(self) -> None:
        with pytest.raises(dlt645.DataError, match="not a date"):
            dlt645.decode_value(0x03110001, bytes.fromhex("000000321325") + bytes(6))
