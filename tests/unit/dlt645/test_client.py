"""The master: replies, echo, follow-ups, failures, retries, the bus lock, commands and scans.

Most tests run the client against a scripted fake meter on the in-memory loopback: the fake
answers each request it hears with the next entry of its script.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest

from wattbook.dlt645 import messages
from wattbook.dlt645.client import Client, ClientCounters, address_matches
from wattbook.dlt645.errors import (
    AbnormalResponse,
    GarbledResponse,
    NoResponse,
    NoSuchData,
    OtherMeterError,
    RateChangeRefused,
    TransportError,
    Unauthorised,
    UnexpectedResponse,
    UnknownDataIdentifier,
)
from wattbook.dlt645.frame import (
    FN_BROADCAST_TIME,
    FN_CONTROL,
    FN_READ,
    FN_READ_FOLLOW_UP,
    FN_WRITE,
    Frame,
    FrameParser,
)
from wattbook.dlt645.server import Bus, ReplyPart
from wattbook.dlt645.transport import LoopbackTransport, Transport, loopback_pair

METER = "051600001234"
DI_TOTAL = 0x00000000
DI_ADDRESS = 0x04000401
FAST = 0.005  # seconds; the scripted meter answers before the client starts waiting

Script = Callable[[Frame], bytes | None]


def reply(payload: bytes, *, follow_up: bool = False, address: str | None = None) -> Script:
    """Answer a read with ``payload`` (91H/B1H, or 92H/B2H with SEQ for a follow-up)."""
    return lambda request: messages.read_reply(
        request, payload, follow_up=follow_up, address=address
    ).encode(preamble=0)


def refuse(error_word: int) -> Script:
    return lambda request: messages.abnormal_reply(request, error_word).encode()


def ack() -> Script:
    return lambda request: messages.normal_reply(request).encode()


def raw(data: bytes) -> Script:
    return lambda request: data


def silence() -> Script:
    return lambda request: None


class ScriptedMeter:
    """A fake meter on the far end of a loopback pair, answering from a script.

    It reacts inside the client's own ``write`` (through :class:`_MeterEnd`), so a reply is on
    the line before the client starts waiting: these tests never depend on how busy the
    machine is, and their timeouts can be tiny. With ``delay`` a reply goes out that much later
    from a task instead, and ``log`` shows whether a request arrived while one was pending.
    ``responder``, if given, answers every request after the script runs out.
    """

    def __init__(
        self,
        script: Sequence[Script],
        *,
        echo: bool = False,
        delay: float = 0.0,
        responder: Script | None = None,
    ) -> None:
        client_end, self.line = loopback_pair(echo=echo)
        self.transport = _MeterEnd(client_end, self)
        self._script = list(script)
        self._responder = responder
        self._delay = delay
        self._parser = FrameParser()
        self.heard: list[Frame] = []
        self.log: list[str] = []
        self._replies: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ScriptedMeter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._replies:
            task.cancel()
        await asyncio.gather(*self._replies, return_exceptions=True)

    async def react(self) -> None:
        """Answer whatever requests the client has just written."""
        for request in self._parser.feed(await self.line.read(timeout=0)):
            if request.is_reply:
                continue
            self.heard.append(request)
            self.log.append(f"rx {request.describe()}")
            if self._script:
                answer = self._script.pop(0)(request)
            else:
                answer = self._responder(request) if self._responder else None
            if answer is None:
                continue
            if self._delay:
                task = asyncio.create_task(self._send_later(answer, request))
                self._replies.add(task)
            else:
                await self._send(answer, request)

    async def _send_later(self, answer: bytes, request: Frame) -> None:
        await asyncio.sleep(self._delay)
        await self._send(answer, request)

    async def _send(self, answer: bytes, request: Frame) -> None:
        self.log.append(f"tx {request.describe()}")
        await self.line.write(answer)


class _MeterEnd(Transport):
    """The client's end of the loopback: after each write, the scripted meter reacts."""

    def __init__(self, inner: LoopbackTransport, meter: ScriptedMeter) -> None:
        self._inner = inner
        self._meter = meter

    @property
    def description(self) -> str:
        return self._inner.description

    @property
    def baud(self) -> int | None:
        return self._inner.baud

    @property
    def is_open(self) -> bool:
        return self._inner.is_open

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def write(self, data: bytes) -> None:
        await self._inner.write(data)
        await self._meter.react()

    async def read(self, *, timeout: float) -> bytes:
        return await self._inner.read(timeout=timeout)

    def discard_input(self) -> int:
        return self._inner.discard_input()


def make_client(
    script: Sequence[Script],
    *,
    echo: bool = False,
    retries: int = 1,
    delay: float = 0.0,
    timeout: float = FAST,
    responder: Script | None = None,
) -> tuple[Client, ScriptedMeter]:
    meter = ScriptedMeter(script, echo=echo, delay=delay, responder=responder)
    client = Client(meter.transport, timeout=timeout, retries=retries, byte_timeout=timeout)
    return client, meter


class TestClientReadPayload:
    async def test_returns_the_data_after_the_di(self) -> None:
        client, meter = make_client([reply(b"\x56\x34\x12\x00")])

        async with meter:
            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert payload == b"\x56\x34\x12\x00"
        assert [(f.address, f.function, f.di) for f in meter.heard] == [(METER, FN_READ, DI_TOTAL)]

    async def test_ignores_the_echo_of_its_own_request(self) -> None:
        client, meter = make_client([reply(b"\x01\x00\x00\x00")], echo=True)

        async with meter:
            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert (payload, client.counters.retries) == (b"\x01\x00\x00\x00", 0)

    async def test_skips_a_reply_from_another_meter_before_its_own(self) -> None:
        def two_replies(request: Frame) -> bytes:
            other = messages.read_reply(request, bytes(4), address="000000000099")
            own = messages.read_reply(request, b"\x07\x00\x00\x00")
            return other.encode() + own.encode()

        client, meter = make_client([two_replies])

        async with meter:
            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert payload == b"\x07\x00\x00\x00"

    async def test_gathers_follow_up_frames_in_order(self) -> None:
        client, meter = make_client(
            [reply(b"AB", follow_up=True), reply(b"CD", follow_up=True), reply(b"EF")]
        )

        async with meter:
            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert payload == b"ABCDEF"
        assert [(f.function, f.data[4:]) for f in meter.heard] == [
            (FN_READ, b""),
            (FN_READ_FOLLOW_UP, b"\x01"),
            (FN_READ_FOLLOW_UP, b"\x02"),
        ]

    async def test_exchange_returns_every_frame_of_a_follow_up_read(self) -> None:
        client, meter = make_client([reply(b"AB", follow_up=True), reply(b"CD")])

        async with meter:
            frames = await client.exchange(messages.read_request(address=METER, di=DI_TOTAL))

        assert [f.control for f in frames] == [0xB1, 0x92]

    async def test_follow_ups_go_to_the_address_that_answered_a_wildcard(self) -> None:
        client, meter = make_client(
            [reply(b"AB", follow_up=True, address=METER), reply(b"CD", address=METER)]
        )

        async with meter:
            payload = await client.read_payload(address="AAAAAAAAAAAA", di=DI_TOTAL)

        assert (payload, meter.heard[1].address) == (b"ABCD", METER)

    async def test_follow_up_reply_without_its_seq_is_unexpected(self) -> None:
        def no_seq(request: Frame) -> bytes:
            return messages.normal_reply(request, request.data[:4] + b"CD").encode()

        client, meter = make_client([reply(b"AB", follow_up=True), no_seq])

        async with meter:
            with pytest.raises(UnexpectedResponse, match="SEQ 01H"):
                await client.read_payload(address=METER, di=DI_TOTAL)

    async def test_endless_follow_ups_are_cut_off_after_255(self) -> None:
        client, meter = make_client([], responder=reply(b"AB", follow_up=True))

        with pytest.raises(UnexpectedResponse, match="more than 255 follow-up frames"):
            await client.read_payload(address=METER, di=DI_TOTAL)

        assert len(meter.heard) == 256

    @pytest.mark.parametrize(
        ("error_word", "exception"),
        [
            (0x02, NoSuchData),
            (0x04, Unauthorised),
            (0x06, Unauthorised),
            (0x08, RateChangeRefused),
            (0x01, OtherMeterError),
            (0x00, OtherMeterError),
        ],
    )
    async def test_abnormal_reply_raises_its_specific_error_without_retrying(
        self, error_word: int, exception: type[AbnormalResponse]
    ) -> None:
        client, meter = make_client([refuse(error_word), refuse(error_word)])

        async with meter:
            with pytest.raises(exception) as caught:
                await client.read_payload(address=METER, di=DI_TOTAL)

        assert (caught.value.error_word, caught.value.address, len(meter.heard)) == (
            error_word,
            METER,
            1,
        )

    async def test_wrong_di_in_the_reply_is_unexpected(self) -> None:
        def other_di(request: Frame) -> bytes:
            wrong = messages.read_request(address=METER, di=0x00010000)
            return messages.read_reply(wrong, bytes(4)).encode()

        client, meter = make_client([other_di])

        async with meter:
            with pytest.raises(UnexpectedResponse, match="00010000"):
                await client.read_payload(address=METER, di=DI_TOTAL)

    async def test_late_reply_to_an_earlier_request_is_set_aside(self) -> None:
        # A meter that answers past the timeout: its answer to the energy read of a moment
        # ago reaches the line during the next exchange, before the answer to this request.
        def late_then_fitting(request: Frame) -> bytes:
            earlier = messages.read_request(address=METER, di=0x0001FF00)
            stale = messages.read_reply(earlier, bytes(20)).encode(preamble=0)
            return stale + messages.read_reply(request, b"\x12\x34\x56\x78").encode(preamble=0)

        client, meter = make_client([late_then_fitting], retries=0)

        async with meter:
            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert (payload, len(meter.heard)) == (b"\x12\x34\x56\x78", 1)

    async def test_reply_with_another_function_is_unexpected(self) -> None:
        def write_ack(request: Frame) -> bytes:
            return Frame(address=METER, control=0x94).encode()

        client, meter = make_client([write_ack])

        async with meter:
            with pytest.raises(UnexpectedResponse, match="function 14H"):
                await client.read_payload(address=METER, di=DI_TOTAL)


class TestClientFailures:
    async def test_silence_raises_no_response_after_every_retry(self) -> None:
        client, meter = make_client([], retries=2)

        async with meter:
            with pytest.raises(NoResponse) as caught:
                await client.read_payload(address=METER, di=DI_TOTAL)

        assert (caught.value.attempts, len(meter.heard)) == (3, 3)
        assert client.counters == ClientCounters(requests=3, retries=2, timeouts=3, garbled=0)

    async def test_a_retry_rescues_a_dropped_reply(self) -> None:
        client, meter = make_client([silence(), reply(b"\x01\x00\x00\x00")])

        async with meter:
            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert payload == b"\x01\x00\x00\x00"
        assert client.counters == ClientCounters(requests=2, retries=1, timeouts=1, garbled=0)

    async def test_only_garbage_raises_garbled_response(self) -> None:
        client, meter = make_client([raw(b"\x68\x12\xff\x00"), raw(b"\x01\x02")])

        async with meter:
            with pytest.raises(GarbledResponse) as caught:
                await client.read_payload(address=METER, di=DI_TOTAL)

        assert caught.value.address == METER
        assert client.counters == ClientCounters(requests=2, retries=1, timeouts=0, garbled=2)

    async def test_garbage_then_silence_is_still_garbled(self) -> None:
        client, meter = make_client([raw(b"\x55" * 8), silence()])

        async with meter:
            with pytest.raises(GarbledResponse):
                await client.read_payload(address=METER, di=DI_TOTAL)

    async def test_frame_with_bad_checksum_is_garbage(self) -> None:
        def corrupted(request: Frame) -> bytes:
            good = bytearray(messages.read_reply(request, bytes(4)).encode())
            good[-2] ^= 0x01
            return bytes(good)

        client, meter = make_client([corrupted], retries=0)

        async with meter:
            with pytest.raises(GarbledResponse, match="no valid frame"):
                await client.read_payload(address=METER, di=DI_TOTAL)

    async def test_only_a_reply_from_another_meter_is_garbled(self) -> None:
        client, meter = make_client([reply(bytes(4), address="000000000099")], retries=0)

        async with meter:
            with pytest.raises(GarbledResponse, match="other meters"):
                await client.read_payload(address=METER, di=DI_TOTAL)

    async def test_stale_bytes_are_dropped_before_the_request(self) -> None:
        client, meter = make_client([reply(b"\x02\x00\x00\x00")])
        stale = messages.read_reply(
            messages.read_request(address=METER, di=0x00010000), bytes(4)
        ).encode()
        await meter.line.write(stale)

        async with meter:
            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert payload == b"\x02\x00\x00\x00"

    async def test_a_dropped_transport_raises_transport_error(self) -> None:
        client, meter = make_client([])
        await meter.line.close()

        with pytest.raises(TransportError):
            await client.read_payload(address=METER, di=DI_TOTAL)

    async def test_endless_noise_does_not_hold_the_bus(self) -> None:
        client, meter = make_client([], retries=0, timeout=0.01)

        async def babble() -> None:
            while True:
                await meter.line.write(b"\x00")
                await asyncio.sleep(0.001)

        noise = asyncio.create_task(babble())
        try:
            with pytest.raises(GarbledResponse):
                await asyncio.wait_for(client.read_payload(address=METER, di=DI_TOTAL), 1.0)
        finally:
            noise.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await noise

    def test_rejects_nonpositive_timeout(self) -> None:
        master, _slave = loopback_pair()

        with pytest.raises(ValueError, match="positive"):
            Client(master, timeout=0)


class TestClientLock:
    async def test_concurrent_requests_take_turns_on_the_bus(self) -> None:
        client, meter = make_client(
            [reply(b"A"), reply(b"B"), reply(b"C")], delay=0.01, timeout=0.5
        )

        async with meter:
            payloads = await asyncio.gather(
                *(client.read_payload(address=METER, di=di) for di in (1, 2, 3))
            )

        assert payloads == [b"A", b"B", b"C"]
        assert [entry[:2] for entry in meter.log] == ["rx", "tx", "rx", "tx", "rx", "tx"]

    async def test_without_the_lock_requests_would_overlap(self) -> None:
        # Proves the test above can fail: bypass the lock and the meter hears both at once.
        client, meter = make_client([reply(b"A"), reply(b"B")], delay=0.01, timeout=0.5)

        class NoLock:
            async def __aenter__(self) -> None:
                return None

            async def __aexit__(self, *exc_info: object) -> None:
                return None

        client._lock = NoLock()  # type: ignore[assignment]

        async with meter:
            await asyncio.gather(
                *(client.read_payload(address=METER, di=di) for di in (1, 2)),
                return_exceptions=True,
            )

        assert [entry[:2] for entry in meter.log][:2] == ["rx", "rx"]


class TestClientRead:
    async def test_decodes_the_value_through_the_data_table(self) -> None:
        client, meter = make_client([reply(b"\x56\x34\x12\x00")])

        async with meter:
            value = await client.read(address=METER, di=DI_TOTAL)

        assert value == Decimal("1234.56")

    async def test_unknown_di_fails_before_anything_is_sent(self) -> None:
        client, meter = make_client([reply(bytes(4))])

        async with meter:
            with pytest.raises(UnknownDataIdentifier):
                await client.read(address=METER, di=0x7F7F7F7F)

        assert meter.heard == []


class TestClientReadAddress:
    async def test_returns_the_address_from_the_93h_reply(self) -> None:
        client, meter = make_client(
            [lambda request: messages.address_reply(request, address=METER).encode()]
        )

        async with meter:
            address = await client.read_address()

        assert (address, meter.heard[0].address) == (METER, "AAAAAAAAAAAA")

    async def test_reply_without_an_address_is_unexpected(self) -> None:
        client, meter = make_client([lambda request: messages.normal_reply(request).encode()])

        async with meter:
            with pytest.raises(UnexpectedResponse, match="13H"):
                await client.read_address()


class TestClientWrite:
    async def test_sends_di_password_operator_code_and_encoded_value(self) -> None:
        client, meter = make_client([ack()])
        password = messages.Password(level=2, digits="123456")

        async with meter:
            await client.write(
                address=METER,
                di=DI_ADDRESS,
                value="051600009999",
                password=password,
                operator_code=0x12345678,
            )

        (request,) = meter.heard
        command = messages.parse_write_data(request.data)
        assert (request.function, command) == (
            FN_WRITE,
            messages.WriteCommand(
                di=DI_ADDRESS,
                password=password,
                operator_code=0x12345678,
                data=bytes.fromhex("999900001605"),
            ),
        )

    async def test_wrong_password_raises_unauthorised(self) -> None:
        client, meter = make_client([refuse(0x04)])

        async with meter:
            with pytest.raises(Unauthorised):
                await client.write(
                    address=METER,
                    di=DI_ADDRESS,
                    value="051600009999",
                    password=messages.Password(level=2, digits="000000"),
                    operator_code=0,
                )


class TestClientBroadcastTime:
    async def test_sends_08h_to_everyone_and_expects_no_reply(self) -> None:
        client, meter = make_client([])
        meter_time = dt.datetime(2025, 3, 1, 23, 0, 5)  # meter-local, naive by design

        async with meter:
            await client.broadcast_time(meter_time=meter_time)
            await asyncio.sleep(0.005)

        (request,) = meter.heard
        assert (request.address, request.function) == ("999999999999", FN_BROADCAST_TIME)
        assert messages.parse_broadcast_time(request.data) == meter_time
        assert client.counters == ClientCounters(requests=1)


class TestClientBroadcastExchange:
    async def test_exchange_sends_a_broadcast_and_returns_no_frames(self) -> None:
        client, meter = make_client([])
        freeze_now = Frame(address="999999999999", control=0x16, data=b"\x99" * 4)

        async with meter:
            frames = await client.exchange(freeze_now)
            await asyncio.sleep(0.005)

        assert (frames, meter.heard) == ([], [freeze_now])

    async def test_reading_from_the_broadcast_address_is_refused(self) -> None:
        client, meter = make_client([])

        async with meter:
            with pytest.raises(ValueError, match="broadcast address"):
                await client.read_payload(address="999999999999", di=DI_TOTAL)

        assert meter.heard == []


class TestClientControlRelay:
    ORDER = messages.RelayOrder(
        action=messages.RelayAction.TRIP,
        operator_code=7,
        valid_until=dt.datetime(2025, 3, 2, 0, 0, 0),
    )

    async def test_plain_password_order_is_sent_and_acknowledged(self) -> None:
        client, meter = make_client([ack()])
        password = messages.Password(level=3, digits="654321")

        async with meter:
            await client.control_relay(
                address=METER,
                order=self.ORDER,
                authoriser=messages.PlainPasswordAuthoriser(password),
            )

        (request,) = meter.heard
        assert request.function == FN_CONTROL
        assert messages.parse_control_data(request.data) == (password, self.ORDER)

    async def test_refused_order_raises_unauthorised(self) -> None:
        client, meter = make_client([refuse(0x04)])

        async with meter:
            with pytest.raises(Unauthorised):
                await client.control_relay(
                    address=METER,
                    order=self.ORDER,
                    authoriser=messages.PlainPasswordAuthoriser(
                        messages.Password(level=3, digits="000000")
                    ),
                )

    async def test_secure_order_authenticates_first_and_holds_the_bus(self) -> None:
        key = bytes(range(16))
        module = messages.SimulatedSecurityModule(key)
        meter_time = dt.datetime(2025, 3, 1, 12, 0, 0)
        opened: list[messages.RelayOrder] = []

        def authenticate(request: Frame) -> bytes:
            data = module.authenticate(address=METER, data=request.data, meter_time=meter_time)
            return messages.normal_reply(request, data).encode()

        def control(request: Frame) -> bytes:
            opened.append(
                module.open_control(address=METER, data=request.data, meter_time=meter_time)
            )
            return messages.normal_reply(request).encode()

        client, meter = make_client([authenticate, control])

        async with meter:
            await client.control_relay(
                address=METER,
                order=self.ORDER,
                authoriser=messages.SimulatedSecureAuthoriser(key),
            )

        assert ([f.function for f in meter.heard], opened) == ([0x03, FN_CONTROL], [self.ORDER])


class TestClientScan:
    async def test_keeps_the_candidates_that_answer_even_with_a_refusal(self) -> None:
        client, meter = make_client(
            [reply(bytes.fromhex("010000000000")), silence(), refuse(0x02)], retries=0
        )

        async with meter:
            found = await client.scan(candidates=["000000000001", "000000000002", "000000000003"])

        assert found == ["000000000001", "000000000003"]

    async def test_search_finds_every_meter_splitting_collisions(self) -> None:
        addresses = ["000000001234", "000000005634", "000000000077"]
        bus = Bus([_AddressMeter(address) for address in addresses])
        # Each silent probe costs the timeout: about 200 probes here.
        client, meter = make_client([], retries=0, timeout=0.001, responder=_answered_by(bus))

        async with meter:
            found = await client.scan()

        assert sorted(found) == sorted(addresses)
        # The full wildcard collides, then 00..99, then 00..99 under the collision on 34.
        assert [request.address for request in meter.heard[:2]] == [
            "AAAAAAAAAAAA",
            "AAAAAAAAAA00",
        ]
        assert len(meter.heard) == 201

    async def test_search_of_a_silent_bus_stops_after_one_wildcard_probe(self) -> None:
        client, meter = make_client([], retries=0, responder=silence())

        async with meter:
            found = await client.scan()

        assert found == []
        assert [request.address for request in meter.heard] == ["AAAAAAAAAAAA"]

    async def test_search_of_a_bus_of_one_meter_takes_its_one_clean_reply(self) -> None:
        bus = Bus([_AddressMeter(METER)])
        client, meter = make_client([], retries=0, responder=_answered_by(bus))

        async with meter:
            found = await client.scan()

        assert found == [METER]
        assert [request.address for request in meter.heard] == ["AAAAAAAAAAAA"]

    async def test_search_splits_a_garbled_wildcard_reply(self) -> None:
        addresses = ["000000000012", "000000000034"]
        bus = Bus([_AddressMeter(address) for address in addresses])
        client, meter = make_client([], retries=0, timeout=0.001, responder=_answered_by(bus))

        async with meter:
            found = await client.scan()

        assert sorted(found) == addresses
        assert meter.heard[0].address == "AAAAAAAAAAAA"
        assert len(meter.heard) == 1 + 100  # then AAAAAAAAAA00..99, where each answers alone


def _answered_by(bus: Bus) -> Script:
    def on_the_bus(request: Frame) -> bytes | None:
        answer = bus.respond(request, preamble=0)
        return None if answer is None else answer.data

    return on_the_bus


class _AddressMeter:
    """A meter that answers only reads of its communication address."""

    def __init__(self, address: str) -> None:
        self.address = address

    def handle(self, request: Frame) -> Sequence[ReplyPart]:
        if request.function != FN_READ or request.di != DI_ADDRESS:
            return ()
        payload = bytes(reversed(bytes.fromhex(self.address)))
        return (messages.read_reply(request, payload, address=self.address),)


class TestAddressMatches:
    @pytest.mark.parametrize(
        ("pattern", "address", "fits"),
        [
            (METER, METER, True),
            (METER, "051600001235", False),
            ("AAAAAAAAAAAA", METER, True),
            ("AAAAAAAAAA34", METER, True),
            ("AAAAAAAAAA35", METER, False),
            ("aaaaaaaa1234", METER, True),
        ],
    )
    def test_a_nibbles_fit_anything(self, pattern: str, address: str, fits: bool) -> None:
        assert address_matches(pattern, address) is fits
