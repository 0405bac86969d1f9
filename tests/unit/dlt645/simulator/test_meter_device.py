"""A virtual meter on a bus, frame in, frame out (no sockets)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from wattbook.dlt645 import dataids, errors, messages, server, simulator
from wattbook.dlt645.frame import Frame
from wattbook.interfaces.cli import main

ADDRESS = "051600001234"
START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=simulator.SHANGHAI)
PASSWORD = messages.Password(level=0x02, digits="123456")


def device_on_bus(
    *,
    watts: int = 1000,
    faults: simulator.Faults = simulator.NO_FAULTS,
    max_reply_data: int | None = None,
) -> tuple[simulator.MeterDevice, server.Bus, simulator.ManualTimeSource]:
    clock = simulator.ManualTimeSource(start_at=START)
    meter = simulator.VirtualMeter(
        spec=simulator.MeterSpec(address=ADDRESS),
        time_source=clock,
        load=simulator.ConstantLoad(watts=watts),
    )
    device = simulator.MeterDevice(meter=meter, faults=faults, max_reply_data=max_reply_data)
    return device, server.Bus([device]), clock


def only_frame(parts: object) -> Frame:
    assert isinstance(parts, list | tuple)
    assert len(parts) == 1
    assert isinstance(parts[0], Frame)
    return parts[0]


def control(action: messages.RelayAction) -> Frame:
    order = messages.RelayOrder(action=action, operator_code=5, valid_until=dt.datetime(2099, 1, 1))
    data = messages.plain_control_data(password=PASSWORD, order=order)
    return messages.control_request(address=ADDRESS, data=data)


def write(di: int, value: object, *, operator_code: int) -> Frame:
    return messages.write_request(
        address=ADDRESS,
        di=di,
        data=dataids.encode_value(di, value),
        password=PASSWORD,
        operator_code=operator_code,
    )


class TestMeterDevice:
    def test_abbreviated_read_is_answered_with_the_full_address(self) -> None:
        device, _, clock = device_on_bus()
        clock.advance(dt.timedelta(hours=1))

        reply = only_frame(
            device.handle(messages.read_request(address="AAAAAA001234", di=0x00010000))
        )

        assert reply.address == ADDRESS
        assert dataids.decode_value(0x00010000, reply.payload) == Decimal("1.00")

    def test_trip_under_keep_power_gets_an_abnormal_reply(self) -> None:
        device, _, _ = device_on_bus()
        only_frame(device.handle(control(messages.RelayAction.KEEP_POWER)))

        reply = only_frame(device.handle(control(messages.RelayAction.TRIP)))

        assert reply.error_word == errors.ERR_OTHER
        assert device.meter.relay_closed

    def test_time_write_with_password_sets_the_clock(self) -> None:
        device, _, _ = device_on_bus()
        request = messages.write_request(
            address=ADDRESS,
            di=0x04000102,
            data=dataids.encode_value(0x04000102, dt.time(12, 30, 0)),
            password=PASSWORD,
            operator_code=9,
        )

        reply = only_frame(device.handle(request))

        assert (reply.control, reply.data) == (0x94, b"")
        assert device.meter.meter_time() == dt.datetime(2025, 3, 10, 12, 30)
        assert device.meter.events(simulator.EventKind.CLOCK_CHANGE).count == 1

    def test_clock_writes_are_one_programming_record_and_two_clock_changes(self) -> None:
        device, _, clock = device_on_bus()
        date_write = write(0x04000101, dt.date(2025, 3, 11), operator_code=9)
        time_write = write(0x04000102, dt.time(8, 0, 0), operator_code=9)

        only_frame(device.handle(date_write))
        clock.advance(dt.timedelta(seconds=5))
        only_frame(device.handle(time_write))
        count = only_frame(device.handle(messages.read_request(address=ADDRESS, di=0x03300000)))
        newest = only_frame(device.handle(messages.read_request(address=ADDRESS, di=0x03300001)))
        empty = only_frame(device.handle(messages.read_request(address=ADDRESS, di=0x03300002)))

        assert dataids.decode_value(0x03300000, count.payload) == 1
        assert dataids.decode_value(0x03300001, newest.payload) == dataids.ProgrammingRecord(
            occurred_at=dt.datetime(2025, 3, 10, 12, 0),
            operator_code=9,
            data_ids=(0x04000101, 0x04000102) + (0xFFFFFFFF,) * 8,
        )
        assert empty.payload == bytes(50)
        assert device.meter.events(simulator.EventKind.CLOCK_CHANGE).count == 2

    def test_refused_write_is_no_programming_event(self) -> None:
        device, _, _ = device_on_bus()
        request = messages.write_request(
            address=ADDRESS,
            di=0x04000102,
            data=dataids.encode_value(0x04000102, dt.time(12, 30, 0)),
            password=messages.Password(level=0x02, digits="000000"),
            operator_code=9,
        )

        only_frame(device.handle(request))

        assert device.meter.events(simulator.EventKind.PROGRAMMING).count == 0

    def test_time_write_with_wrong_password_is_refused(self) -> None:
        device, _, _ = device_on_bus()
        request = messages.write_request(
            address=ADDRESS,
            di=0x04000102,
            data=dataids.encode_value(0x04000102, dt.time(12, 30, 0)),
            password=messages.Password(level=0x02, digits="000000"),
            operator_code=9,
        )

        reply = only_frame(device.handle(request))

        assert reply.error_word == errors.ERR_PASSWORD

    def test_broadcast_time_gets_no_answer_but_sets_the_clock(self) -> None:
        device, bus, _ = device_on_bus()

        answer = bus.respond(
            messages.broadcast_time_request(meter_time=dt.datetime(2025, 3, 10, 12, 3))
        )

        assert answer is None
        assert device.meter.meter_time() == dt.datetime(2025, 3, 10, 12, 3)

    def test_over_current_shows_in_status_word_and_event_count(self) -> None:
        device, _, clock = device_on_bus(watts=20_000)
        clock.advance(dt.timedelta(seconds=1))

        status = only_frame(device.handle(messages.read_request(address=ADDRESS, di=0x04000503)))
        count = only_frame(device.handle(messages.read_request(address=ADDRESS, di=0x19010001)))

        word = dataids.decode_value(0x04000503, status.payload)
        assert isinstance(word, dataids.RunStatus3)
        assert (word.relay_open, word.relay_command_open) == (True, False)
        assert dataids.decode_value(0x19010001, count.payload) == 1

    def test_dropped_reply_still_executes_the_order(self) -> None:
        device, _, _ = device_on_bus(faults=simulator.Faults(drop=1.0))

        parts = device.handle(control(messages.RelayAction.TRIP))

        assert parts == ()
        assert not device.meter.relay_closed

    def test_slow_meter_asks_for_a_delay(self) -> None:
        device, _, _ = device_on_bus(faults=simulator.Faults(slow=1.0, slow_delay_s=1.5))

        parts = device.handle(messages.read_request(address=ADDRESS, di=0x04000402))

        assert parts[0] == server.Delay(seconds=1.5)

    def test_powered_down_meter_is_silent(self) -> None:
        device, _, _ = device_on_bus()
        device.meter.power_down()

        parts = device.handle(messages.read_request(address=ADDRESS, di=0x04000402))

        assert parts == ()


COVER_RECORD = 0x03300D01  # 60 bytes


class TestMeterDeviceFollowUp:
    def test_item_within_the_limit_comes_in_one_frame(self) -> None:
        device, _, _ = device_on_bus(max_reply_data=60)

        reply = only_frame(device.handle(messages.read_request(address=ADDRESS, di=COVER_RECORD)))

        assert (reply.control, len(reply.payload)) == (0x91, 60)

    def test_longer_item_is_split_into_b1h_b2h_and_92h_frames(self) -> None:
        device, _, _ = device_on_bus(max_reply_data=25)
        device.meter.open_cover()

        first = only_frame(device.handle(messages.read_request(address=ADDRESS, di=COVER_RECORD)))
        follow_ups = [
            only_frame(
                device.handle(
                    messages.read_follow_up_request(address=ADDRESS, di=COVER_RECORD, seq=seq)
                )
            )
            for seq in (1, 2)
        ]

        assert [first.control, *(f.control for f in follow_ups)] == [0xB1, 0xB2, 0x92]
        assert [len(first.payload), *(len(f.payload) for f in follow_ups)] == [25, 26, 11]
        assert [f.payload[-1] for f in follow_ups] == [1, 2]
        data = first.payload + b"".join(f.payload[:-1] for f in follow_ups)
        record = dataids.decode_value(COVER_RECORD, data)
        assert isinstance(record, dataids.CoverOpenRecord)
        assert record.started_at == dt.datetime(2025, 3, 10, 12, 0)

    def test_follow_up_beyond_the_last_part_is_refused(self) -> None:
        device, _, _ = device_on_bus(max_reply_data=40)
        only_frame(device.handle(messages.read_request(address=ADDRESS, di=COVER_RECORD)))

        reply = only_frame(
            device.handle(messages.read_follow_up_request(address=ADDRESS, di=COVER_RECORD, seq=2))
        )

        assert reply.error_word == errors.ERR_NO_DATA

    def test_follow_up_without_a_split_read_is_refused(self) -> None:
        device, _, _ = device_on_bus(max_reply_data=40)
        only_frame(device.handle(messages.read_request(address=ADDRESS, di=COVER_RECORD)))
        only_frame(device.handle(messages.read_request(address=ADDRESS, di=0x04000402)))

        reply = only_frame(
            device.handle(messages.read_follow_up_request(address=ADDRESS, di=COVER_RECORD, seq=1))
        )

        assert reply.error_word == errors.ERR_NO_DATA

    def test_parts_come_from_the_value_at_the_first_read(self) -> None:
        device, _, clock = device_on_bus(max_reply_data=30)
        device.meter.open_cover()
        first = only_frame(device.handle(messages.read_request(address=ADDRESS, di=COVER_RECORD)))
        clock.advance(dt.timedelta(hours=1))
        device.meter.close_cover()

        last = only_frame(
            device.handle(messages.read_follow_up_request(address=ADDRESS, di=COVER_RECORD, seq=1))
        )

        record = dataids.decode_value(COVER_RECORD, first.payload + last.payload[:-1])
        assert isinstance(record, dataids.CoverOpenRecord)
        # The second part holds the energies at the end: still none, as at the first read.
        assert (record.ended_at, record.after.forward_active) == (None, Decimal("0.00"))
        assert device.meter.events(simulator.EventKind.COVER_OPEN).records[0].energy_after_wh

    def test_limit_outside_1_to_250_bytes_is_refused(self) -> None:
        with pytest.raises(ValueError, match="1 to 250"):
            device_on_bus(max_reply_data=0)


class TestSimulateCommand:
    def test_listen_without_meters_is_bad_input(self) -> None:
        assert main(["simulate", "--listen", "127.0.0.1:0"]) == 2

    def test_unreadable_campus_file_is_bad_input(self) -> None:
        assert main(["simulate", "--campus", "/nonexistent/campus.toml"]) == 2
