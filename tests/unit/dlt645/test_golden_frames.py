"""Golden frames: byte-exact requests and replies built from the standard's layouts.

Each expected frame was worked out by hand from the digest's layouts (address 051600001234 is
``34 12 00 00 16 05`` on the wire, every data byte +33H, checksum = byte sum from the first 68H
mod 256); the comment above each gives the data field *before* +33H. Only the first frame is a
published reference; the others are constructed, never produced by the code under test.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from wattbook import dlt645

METER = "051600001234"


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


# 11H, DI 00000000: the digest's reference bytes (section 6.1).
READ_TOTAL = wire("FE FE FE FE 68 34 12 00 00 16 05 68 11 04 33 33 33 33 12 16")
# 91H, DI 0001FF00 (00 FF 01 00) + 1234.56 (56 34 12 00), 100.00 (00 00 01 00),
# 400.00 (00 00 04 00), 500.00 (00 00 05 00), 234.56 (56 34 02 00); L = 24.
BLOCK_REPLY = wire(
    "FE FE FE FE 68 34 12 00 00 16 05 68 91 18"
    " 33 32 34 33 89 67 45 33 33 33 34 33 33 33 37 33 33 33 38 33 89 67 35 33 D4 16"
)
# 91H, DI 02010100 (00 01 01 02) + 100.1 V as 1001 BCD low byte first (01 10).
VOLTAGE_REPLY = wire("FE FE FE FE 68 34 12 00 00 16 05 68 91 06 33 34 34 35 34 43 0F 16")
# 91H, DI 02030000 (00 00 03 02) + -0.1234 kW: 001234 BCD low first (34 12 00), sign bit set
# in the last byte (34 12 80).
POWER_REPLY = wire("FE FE FE FE 68 34 12 00 00 16 05 68 91 07 33 33 36 35 67 45 B3 F9 16")
# 91H, DI 04000503 (03 05 00 04) + status word 3 = 1050H (relay open b4, command open b6,
# keep-power b12), low byte first (50 10).
STATUS3_REPLY = wire("FE FE FE FE 68 34 12 00 00 16 05 68 91 06 36 38 33 37 83 43 66 16")
# 1CH plain trip: PA=02 + 123456 (02 56 34 12) | operator 00000001 (01 00 00 00) | N1=1A N2=00
# | valid until 2025-01-31 23:59:59 sent ss mm hh DD MM YY (59 59 23 31 01 25); L = 16.
TRIP_REQUEST = wire(
    "FE FE FE FE 68 34 12 00 00 16 05 68 1C 10"
    " 35 89 67 45 34 33 33 33 4D 33 8C 8C 56 64 34 58 72 16"
)
# DCH abnormal reply, L = 1, error word 04 (password wrong / unauthorised).
CONTROL_REFUSED = wire("FE FE FE FE 68 34 12 00 00 16 05 68 DC 01 37 45 16")
# 9CH control acknowledged, L = 0.
CONTROL_ACK = wire("FE FE FE FE 68 34 12 00 00 16 05 68 9C 00 CD 16")
# 08H to 999999999999: 2024-02-29 23:00:00 as ss mm hh DD MM YY (00 00 23 29 02 24).
BROADCAST_TIME = wire("FE FE FE FE 68 99 99 99 99 99 99 68 08 06 33 33 56 5C 35 57 18 16")
# 12H, DI 0001FF00 (00 FF 01 00) + SEQ 01; L = 5.
FOLLOW_UP_REQUEST = wire("FE FE FE FE 68 34 12 00 00 16 05 68 12 05 33 32 34 33 34 48 16")
# 13H to AAAAAAAAAAAA, L = 0 (the frame gams/python-dlt645 and fdxxw/go-dlt645 send).
ADDRESS_REQUEST = wire("FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16")
# 93H from the meter: its address low byte first (34 12 00 00 16 05); L = 6.
ADDRESS_REPLY = wire("FE FE FE FE 68 34 12 00 00 16 05 68 93 06 67 45 33 33 49 38 5D 16")
# 14H write DI 04000102 (02 01 00 04) + PA=02 123456 (02 56 34 12) + operator 00000000
# + 12:34:56 as ss mm hh (56 34 12); L = 15.
WRITE_TIME = wire(
    "FE FE FE FE 68 34 12 00 00 16 05 68 14 0F 35 34 33 37 35 89 67 45 33 33 33 33 89 67 45 92 16"
)

PASSWORD = dlt645.Password(level=0x02, digits="123456")


class TestGoldenRequests:
    def test_read_request_matches_reference(self) -> None:
        frame = dlt645.read_request(address=METER, di=0x00000000)

        assert frame.encode() == READ_TOTAL

    def test_follow_up_request_carries_seq_after_di(self) -> None:
        frame = dlt645.read_follow_up_request(address=METER, di=0x0001FF00, seq=1)

        assert frame.encode() == FOLLOW_UP_REQUEST

    def test_read_address_request_goes_to_all_aa(self) -> None:
        frame = dlt645.read_address_request()

        assert frame.encode() == ADDRESS_REQUEST

    def test_write_request_orders_di_password_operator_data(self) -> None:
        data = dlt645.encode_value(0x04000102, dt.time(12, 34, 56))

        frame = dlt645.write_request(
            address=METER, di=0x04000102, data=data, password=PASSWORD, operator_code=0
        )

        assert frame.encode() == WRITE_TIME

    def test_broadcast_time_goes_to_999999999999(self) -> None:
        frame = dlt645.broadcast_time_request(meter_time=dt.datetime(2024, 2, 29, 23, 0, 0))

        assert frame.encode() == BROADCAST_TIME

    async def test_plain_trip_matches_layout(self) -> None:
        order = dlt645.RelayOrder(
            action=dlt645.RelayAction.TRIP,
            operator_code=1,
            valid_until=dt.datetime(2025, 1, 31, 23, 59, 59),
        )
        authoriser = dlt645.PlainPasswordAuthoriser(PASSWORD)

        data = await authoriser.control_data(address=METER, order=order)

        assert dlt645.control_request(address=METER, data=data).encode() == TRIP_REQUEST


class TestGoldenReplies:
    def test_block_reply_is_built_from_encoded_block(self) -> None:
        block = dlt645.EnergyBlock(
            total=Decimal("1234.56"),
            tariffs=(Decimal("100.00"), Decimal("400.00"), Decimal("500.00"), Decimal("234.56")),
        )
        request = dlt645.read_request(address=METER, di=0x0001FF00)

        reply = dlt645.read_reply(request, dlt645.encode_value(0x0001FF00, block))

        assert reply.encode() == BLOCK_REPLY

    def test_block_reply_decodes_to_five_registers(self) -> None:
        frame = dlt645.decode(BLOCK_REPLY)

        value = dlt645.decode_value(frame.di or 0, frame.payload)

        assert (frame.control, frame.di) == (0x91, 0x0001FF00)
        assert value == dlt645.EnergyBlock(
            total=Decimal("1234.56"),
            tariffs=(Decimal("100.00"), Decimal("400.00"), Decimal("500.00"), Decimal("234.56")),
        )

    def test_voltage_reply_round_trips(self) -> None:
        request = dlt645.read_request(address=METER, di=0x02010100)

        reply = dlt645.read_reply(request, dlt645.encode_value(0x02010100, Decimal("100.1")))
        value = dlt645.decode_value(0x02010100, dlt645.decode(VOLTAGE_REPLY).payload)

        assert reply.encode() == VOLTAGE_REPLY
        assert value == Decimal("100.1")

    def test_negative_power_reply_round_trips(self) -> None:
        request = dlt645.read_request(address=METER, di=0x02030000)

        reply = dlt645.read_reply(request, dlt645.encode_value(0x02030000, Decimal("-0.1234")))
        value = dlt645.decode_value(0x02030000, dlt645.decode(POWER_REPLY).payload)

        assert reply.encode() == POWER_REPLY
        assert value == Decimal("-0.1234")

    def test_status_word_3_reply_decodes_relay_and_keep_power(self) -> None:
        status = dlt645.decode_value(0x04000503, dlt645.decode(STATUS3_REPLY).payload)

        assert status == dlt645.RunStatus3(
            relay_open=True, relay_command_open=True, keep_power=True
        )

    def test_abnormal_control_reply_has_error_04(self) -> None:
        request = dlt645.decode(TRIP_REQUEST)

        reply = dlt645.abnormal_reply(request, 0x04)

        assert reply.encode() == CONTROL_REFUSED
        assert reply.error_word == 0x04

    def test_control_ack_is_9c_without_data(self) -> None:
        request = dlt645.decode(TRIP_REQUEST)

        assert dlt645.normal_reply(request).encode() == CONTROL_ACK

    def test_address_reply_carries_the_real_address(self) -> None:
        request = dlt645.decode(ADDRESS_REQUEST)

        reply = dlt645.address_reply(request, address=METER)

        assert reply.encode() == ADDRESS_REPLY


class TestGoldenParsing:
    def test_trip_request_parses_to_password_and_order(self) -> None:
        frame = dlt645.decode(TRIP_REQUEST)

        password, order = dlt645.parse_control_data(frame.data)

        assert password == PASSWORD
        assert order == dlt645.RelayOrder(
            action=dlt645.RelayAction.TRIP,
            operator_code=1,
            valid_until=dt.datetime(2025, 1, 31, 23, 59, 59),
        )

    def test_broadcast_time_parses_to_meter_local_time(self) -> None:
        frame = dlt645.decode(BROADCAST_TIME)

        assert dlt645.parse_broadcast_time(frame.data) == dt.datetime(2024, 2, 29, 23, 0, 0)

    def test_write_request_parses_to_its_parts(self) -> None:
        frame = dlt645.decode(WRITE_TIME)

        command = dlt645.parse_write_data(frame.data)

        assert command == dlt645.WriteCommand(
            di=0x04000102, password=PASSWORD, operator_code=0, data=bytes.fromhex("563412")
        )
        assert dlt645.decode_value(command.di, command.data) == dt.time(12, 34, 56)
