"""Typed requests and replies, plain relay control, and the simulated secure authoriser."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbook import dlt645
from wattbook.dlt645.errors import abnormal_response

METER = "051600001234"
OTHER_METER = "051600001235"
KEY = bytes(range(32))
WRONG_KEY = bytes(range(1, 33))
NOW = dt.datetime(2025, 1, 31, 22, 0, 0)
PASSWORD = dlt645.Password(level=0x02, digits="123456")

addresses = st.text("0123456789", min_size=12, max_size=12)
data_ids = st.integers(0, 0xFFFFFFFF)
meter_times = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31, 23, 59, 59)
).map(lambda value: value.replace(microsecond=0))
orders = st.builds(
    dlt645.RelayOrder,
    action=st.sampled_from(dlt645.RelayAction),
    operator_code=st.integers(0, 0xFFFFFFFF),
    valid_until=meter_times,
)
passwords = st.builds(
    dlt645.Password,
    level=st.integers(0, 0x97),
    digits=st.text("0123456789", min_size=6, max_size=6),
)


def order(*, valid_until: dt.datetime = dt.datetime(2025, 1, 31, 23, 59, 59)) -> dlt645.RelayOrder:
    return dlt645.RelayOrder(
        action=dlt645.RelayAction.TRIP, operator_code=0x01020304, valid_until=valid_until
    )


def over_the_wire(frame: dlt645.Frame) -> dlt645.Frame:
    return dlt645.decode(frame.encode())


class TestPassword:
    def test_encodes_level_then_digits_low_byte_first(self) -> None:
        assert PASSWORD.encode() == bytes.fromhex("02563412")

    def test_decode_reverses_encode(self) -> None:
        assert dlt645.Password.decode(bytes.fromhex("02563412")) == PASSWORD

    def test_leading_zeros_are_kept(self) -> None:
        password = dlt645.Password(level=0, digits="000001")

        assert dlt645.Password.decode(password.encode()).digits == "000001"

    @pytest.mark.parametrize("digits", ["12345", "1234567", "12345a", "١٢٣٤٥٦"])
    def test_refuses_anything_but_six_digits(self, digits: str) -> None:
        with pytest.raises(dlt645.DataError, match="six decimal digits"):
            dlt645.Password(level=2, digits=digits)

    def test_repr_hides_the_digits(self) -> None:
        assert "123456" not in repr(PASSWORD)


class TestRelayOrder:
    def test_command_bytes_are_action_reserved_and_time_seconds_first(self) -> None:
        assert order().command_bytes() == bytes.fromhex("1A00 595923310125")

    def test_is_valid_up_to_and_including_valid_until(self) -> None:
        until = dt.datetime(2025, 1, 31, 23, 59, 59)

        assert order(valid_until=until).is_valid_at(until)
        assert not order(valid_until=until).is_valid_at(until + dt.timedelta(seconds=1))

    def test_aware_valid_until_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="naive"):
            order(valid_until=dt.datetime(2025, 1, 31, tzinfo=dt.UTC))

    def test_unknown_action_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="relay action"):
            dlt645.RelayOrder(action=0x1D, operator_code=0, valid_until=NOW)  # type: ignore[arg-type]

    def test_action_codes(self) -> None:
        assert [int(action) for action in dlt645.RelayAction] == [
            0x1A, 0x1B, 0x1C, 0x2A, 0x2B, 0x3A, 0x3B
        ]  # fmt: skip


class TestRequests:
    def test_follow_up_seq_must_be_a_byte(self) -> None:
        with pytest.raises(dlt645.DataError, match="SEQ"):
            dlt645.read_follow_up_request(address=METER, di=0, seq=256)

    def test_di_must_be_four_bytes(self) -> None:
        with pytest.raises(dlt645.DataError, match="4 bytes"):
            dlt645.read_request(address=METER, di=0x1_0000_0000)

    def test_write_longer_than_50_bytes_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="at most 50"):
            dlt645.write_request(
                address=METER, di=0x04000403, data=bytes(39), password=PASSWORD, operator_code=0
            )

    def test_broadcast_time_refuses_aware_time(self) -> None:
        with pytest.raises(dlt645.DataError, match="naive"):
            dlt645.broadcast_time_request(meter_time=NOW.replace(tzinfo=dt.UTC))

    def test_broadcast_time_may_go_to_one_meter(self) -> None:
        assert dlt645.broadcast_time_request(meter_time=NOW, address=METER).address == METER

    @given(addresses, data_ids)
    def test_read_request_survives_the_wire(self, address: str, di: int) -> None:
        frame = dlt645.read_request(address=address, di=di)

        assert over_the_wire(frame) == frame
        assert over_the_wire(frame).di == di

    @given(addresses, data_ids, st.binary(max_size=38), passwords, st.integers(0, 0xFFFFFFFF))
    def test_write_request_parses_back(
        self, address: str, di: int, data: bytes, password: dlt645.Password, operator: int
    ) -> None:
        frame = dlt645.write_request(
            address=address, di=di, data=data, password=password, operator_code=operator
        )

        parsed = dlt645.parse_write_data(over_the_wire(frame).data)

        assert parsed == dlt645.WriteCommand(
            di=di, password=password, operator_code=operator, data=data
        )

    @given(meter_times)
    def test_broadcast_time_parses_back(self, meter_time: dt.datetime) -> None:
        frame = dlt645.broadcast_time_request(meter_time=meter_time)

        assert dlt645.parse_broadcast_time(over_the_wire(frame).data) == meter_time


class TestReplies:
    def test_read_reply_control_codes(self) -> None:
        request = dlt645.read_request(address=METER, di=0x00010000)

        last = dlt645.read_reply(request, bytes(4))
        more = dlt645.read_reply(request, bytes(4), follow_up=True)

        assert (last.control, more.control) == (0x91, 0xB1)
        assert more.has_follow_up

    def test_follow_up_reply_ends_with_seq(self) -> None:
        request = dlt645.read_follow_up_request(address=METER, di=0x0001FF00, seq=3)

        reply = dlt645.read_reply(request, b"\x11\x22")

        assert reply.control == 0x92
        assert reply.data == bytes.fromhex("00FF0100 1122 03")

    def test_reply_to_wildcard_carries_own_address(self) -> None:
        request = dlt645.read_request(address="AAAAAAAA1234", di=0)

        reply = dlt645.read_reply(request, bytes(4), address=METER)

        assert reply.address == METER

    def test_abnormal_reply_sets_c0_and_one_byte(self) -> None:
        request = dlt645.read_request(address=METER, di=0x12345678)

        reply = dlt645.abnormal_reply(request, 0x02)

        assert (reply.control, reply.data, reply.is_abnormal) == (0xD1, b"\x02", True)

    def test_cannot_answer_a_reply(self) -> None:
        reply = dlt645.normal_reply(dlt645.read_request(address=METER, di=0))

        with pytest.raises(dlt645.FrameError, match="cannot answer a reply"):
            dlt645.normal_reply(reply)

    def test_read_reply_needs_a_read_request(self) -> None:
        request = dlt645.read_address_request()

        with pytest.raises(dlt645.FrameError, match="not a read request"):
            dlt645.read_reply(request, b"")

    def test_address_reply_refuses_a_wildcard_address(self) -> None:
        with pytest.raises(dlt645.DataError, match="12 digits"):
            dlt645.address_reply(dlt645.read_address_request(), address="AAAAAAAAAAAA")

    @given(addresses, data_ids, st.binary(max_size=150), st.booleans())
    def test_read_reply_survives_the_wire(
        self, address: str, di: int, payload: bytes, follow_up: bool
    ) -> None:
        request = dlt645.read_request(address=address, di=di)

        reply = over_the_wire(dlt645.read_reply(request, payload, follow_up=follow_up))

        assert (reply.di, reply.payload, reply.has_follow_up) == (di, payload, follow_up)


class TestPlainControl:
    async def test_plain_authoriser_needs_no_handshake(self) -> None:
        async def exchange(request: dlt645.Frame) -> dlt645.Frame:
            raise AssertionError("the plain form must not talk to the meter")

        authoriser = dlt645.PlainPasswordAuthoriser(PASSWORD)

        await authoriser.prepare(address=METER, exchange=exchange)
        data = await authoriser.control_data(address=METER, order=order())

        assert len(data) == 16
        assert not dlt645.is_secure_control_data(data)

    @given(passwords, orders)
    def test_plain_data_parses_back(
        self, password: dlt645.Password, relay_order: dlt645.RelayOrder
    ) -> None:
        data = dlt645.plain_control_data(password=password, order=relay_order)

        assert dlt645.parse_control_data(data) == (password, relay_order)

    def test_parse_refuses_wrong_length(self) -> None:
        with pytest.raises(dlt645.DataError, match="16 bytes"):
            dlt645.parse_control_data(bytes(15))

    def test_parse_refuses_ciphertext_form(self) -> None:
        with pytest.raises(dlt645.DataError, match="98H"):
            dlt645.parse_control_data(b"\x98" + bytes(27))

    def test_parse_refuses_unknown_command_type(self) -> None:
        data = bytearray(dlt645.plain_control_data(password=PASSWORD, order=order()))
        data[8] = 0x1D

        with pytest.raises(dlt645.DataError, match="N1=1DH"):
            dlt645.parse_control_data(bytes(data))

    def test_parse_refuses_nonzero_reserved_byte(self) -> None:
        data = bytearray(dlt645.plain_control_data(password=PASSWORD, order=order()))
        data[9] = 0x01

        with pytest.raises(dlt645.DataError, match="N2"):
            dlt645.parse_control_data(bytes(data))

    def test_parse_refuses_all_zero_validity(self) -> None:
        data = dlt645.plain_control_data(password=PASSWORD, order=order())[:10] + bytes(6)

        with pytest.raises(dlt645.DataError, match="not a date"):
            dlt645.parse_control_data(data)


# ---------------------------------------------------------------- the simulated secure form


def meter_bus(
    module: dlt645.SimulatedSecurityModule, *, meter_time: dt.datetime = NOW
) -> dlt645.Exchange:
    """Return an exchange that answers 03H the way the simulator will, over real frames."""

    async def exchange(request: dlt645.Frame) -> dlt645.Frame:
        request = over_the_wire(request)
        try:
            data = module.authenticate(
                address=request.address, data=request.data, meter_time=meter_time
            )
        except dlt645.SecurityError as exc:
            reply = over_the_wire(dlt645.abnormal_reply(request, exc.error_word))
            raise abnormal_response(reply.address, reply.control, reply.error_word or 0) from exc
        return over_the_wire(dlt645.normal_reply(request, data))

    return exchange


async def secure_data(
    *,
    authoriser_key: bytes = KEY,
    module: dlt645.SimulatedSecurityModule,
    address: str = METER,
    relay_order: dlt645.RelayOrder | None = None,
    meter_time: dt.datetime = NOW,
) -> bytes:
    authoriser = dlt645.SimulatedSecureAuthoriser(authoriser_key)
    await authoriser.prepare(address=address, exchange=meter_bus(module, meter_time=meter_time))
    return await authoriser.control_data(address=address, order=relay_order or order())


class TestSimulatedSecureControl:
    async def test_right_key_opens_the_order(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)

        data = await secure_data(module=module)
        opened = module.open_control(address=METER, data=data, meter_time=NOW)

        assert opened == order()

    async def test_data_is_the_28_byte_level_98_form(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)

        data = await secure_data(module=module)

        assert len(data) == 28
        assert data[:8] == bytes.fromhex("98000000 04030201")
        assert dlt645.is_secure_control_data(data)
        assert order().command_bytes() not in data

    async def test_authentication_marks_the_meter_authenticated(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)

        await secure_data(module=module)

        assert module.is_authenticated(address=METER, meter_time=NOW)
        assert not module.is_authenticated(address=OTHER_METER, meter_time=NOW)

    async def test_wrong_key_is_refused_as_unauthorised(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)

        with pytest.raises(dlt645.Unauthorised):
            await secure_data(authoriser_key=WRONG_KEY, module=module)

        assert not module.is_authenticated(address=METER, meter_time=NOW)

    async def test_meter_without_the_key_is_detected(self) -> None:
        authoriser = dlt645.SimulatedSecureAuthoriser(KEY)

        async def impostor(request: dlt645.Frame) -> dlt645.Frame:
            # A meter without the key can only answer with a made-up random and proof.
            forged = request.data[:4] + bytes(range(8)) + bytes(range(8, 16))
            return over_the_wire(dlt645.normal_reply(request, forged))

        with pytest.raises(dlt645.AuthenticationFailed, match="could not prove"):
            await authoriser.prepare(address=METER, exchange=impostor)

    @pytest.mark.parametrize("position", range(4, 28))
    async def test_any_altered_byte_is_refused(self, position: int) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)
        data = bytearray(await secure_data(module=module))
        data[position] ^= 0x01

        with pytest.raises(dlt645.TamperedCommand):
            module.open_control(address=METER, data=bytes(data), meter_time=NOW)

    async def test_command_for_one_meter_is_refused_by_another(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)
        await secure_data(module=module, address=OTHER_METER)
        data = await secure_data(module=module, address=METER)

        with pytest.raises(dlt645.TamperedCommand):
            module.open_control(address=OTHER_METER, data=data, meter_time=NOW)

    async def test_expired_order_is_refused(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)
        stale = order(valid_until=NOW - dt.timedelta(seconds=1))
        data = await secure_data(module=module, relay_order=stale)

        with pytest.raises(dlt645.OrderExpired) as caught:
            module.open_control(address=METER, data=data, meter_time=NOW)

        assert caught.value.error_word == 0x01

    async def test_command_without_authentication_is_refused(self) -> None:
        sender = dlt645.SimulatedSecurityModule(KEY)
        receiver = dlt645.SimulatedSecurityModule(KEY)
        data = await secure_data(module=sender)

        with pytest.raises(dlt645.NoSecureSession):
            receiver.open_control(address=METER, data=data, meter_time=NOW)

    async def test_session_lapses_after_its_duration(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY, session_duration=dt.timedelta(minutes=5))
        data = await secure_data(module=module)

        with pytest.raises(dlt645.NoSecureSession):
            module.open_control(address=METER, data=data, meter_time=NOW + dt.timedelta(minutes=5))

    async def test_failed_authentication_ends_the_session(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)
        data = await secure_data(module=module)
        with pytest.raises(dlt645.Unauthorised):
            await secure_data(authoriser_key=WRONG_KEY, module=module)

        with pytest.raises(dlt645.NoSecureSession):
            module.open_control(address=METER, data=data, meter_time=NOW)

    async def test_authentication_for_another_address_is_refused(self) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)
        authoriser = dlt645.SimulatedSecureAuthoriser(KEY)

        async def misrouted(request: dlt645.Frame) -> dlt645.Frame:
            data = module.authenticate(address=OTHER_METER, data=request.data, meter_time=NOW)
            return dlt645.normal_reply(request, data)

        with pytest.raises(dlt645.AuthenticationFailed, match="another meter"):
            await authoriser.prepare(address=METER, exchange=misrouted)

    async def test_control_data_needs_prepare_first(self) -> None:
        authoriser = dlt645.SimulatedSecureAuthoriser(KEY)

        with pytest.raises(dlt645.NoSecureSession):
            await authoriser.control_data(address=METER, order=order())

    async def test_authentication_request_is_a_03h_frame_with_its_di(self) -> None:
        seen: list[dlt645.Frame] = []
        module = dlt645.SimulatedSecurityModule(KEY)

        async def spy(request: dlt645.Frame) -> dlt645.Frame:
            seen.append(request)
            return await meter_bus(module)(request)

        await dlt645.SimulatedSecureAuthoriser(KEY).prepare(address=METER, exchange=spy)

        assert [(f.control, f.di, len(f.data)) for f in seen] == [(0x03, 0x070000FF, 32)]

    def test_short_master_key_is_refused(self) -> None:
        with pytest.raises(dlt645.DataError, match="16 bytes"):
            dlt645.SimulatedSecurityModule(b"short")

    @given(orders)
    async def test_every_order_survives_the_secure_form(
        self, relay_order: dlt645.RelayOrder
    ) -> None:
        module = dlt645.SimulatedSecurityModule(KEY)
        meter_time = min(relay_order.valid_until, NOW)
        data = await secure_data(module=module, relay_order=relay_order, meter_time=meter_time)

        opened = module.open_control(address=METER, data=data, meter_time=meter_time)

        assert opened == relay_order
        assert dataclasses.asdict(opened) == dataclasses.asdict(relay_order)
