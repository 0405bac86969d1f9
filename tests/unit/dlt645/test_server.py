"""The slave side: bus routing, collisions, fault parts, and the paced serving loop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest

from wattbook.dlt645.frame import FN_BROADCAST_TIME, FN_READ, Frame, FrameParser
from wattbook.dlt645.server import (
    Answer,
    Bus,
    Delay,
    RawReply,
    ReplyPart,
    collide,
    serve_transport,
)
from wattbook.dlt645.transport import LoopbackTransport, loopback_pair, wire_time_s

DI_TOTAL = 0x00000000
DI_TOTAL_BYTES = DI_TOTAL.to_bytes(4, "little")


@dataclasses.dataclass
class TableMeter:
    """Answer 11H reads from a table of payloads; refuse other DIs with "no such data"."""

    address: str
    payloads: dict[int, bytes] = dataclasses.field(default_factory=dict)
    heard: list[Frame] = dataclasses.field(default_factory=list)

    def handle(self, request: Frame) -> Sequence[ReplyPart]:
        self.heard.append(request)
        if request.function != FN_READ or request.di is None:
            return ()
        payload = self.payloads.get(request.di)
        if payload is None:
            return (Frame(address=self.address, control=0xD1, data=b"\x02"),)
        return (Frame(address=self.address, control=0x91, data=request.data[:4] + payload),)


@dataclasses.dataclass
class FixedDevice:
    """Answer every request with the same parts."""

    address: str
    parts: tuple[ReplyPart, ...]

    def handle(self, request: Frame) -> Sequence[ReplyPart]:
        return self.parts


def read(address: str, di: int = DI_TOTAL) -> Frame:
    return Frame(address=address, control=FN_READ, data=di.to_bytes(4, "little"))


def frames_in(data: bytes) -> list[Frame]:
    return FrameParser().feed(data)


async def next_reply(master: LoopbackTransport) -> Frame:
    """Return the next reply frame the master hears, skipping its own echoed requests."""
    parser = FrameParser()
    while chunk := await master.read(timeout=1.0):
        replies = [f for f in parser.feed(chunk) if f.is_reply]
        if replies:
            return replies[0]
    raise AssertionError("no reply within 1 s")


class TestBusRespond:
    def test_device_with_the_exact_address_answers(self) -> None:
        bus = Bus([TableMeter("051600001234", {DI_TOTAL: b"\x56\x34\x12\x00"})])

        answer = bus.respond(read("051600001234"), preamble=0)

        assert answer is not None
        (reply,) = frames_in(answer.data)
        assert (reply.address, reply.control, reply.payload) == (
            "051600001234",
            0x91,
            b"\x56\x34\x12\x00",
        )

    def test_replies_carry_the_requested_preamble(self) -> None:
        bus = Bus([TableMeter("051600001234", {DI_TOTAL: bytes(4)})])

        answer = bus.respond(read("051600001234"), preamble=2)

        assert answer is not None
        assert answer.data[:3] == b"\xfe\xfe\x68"

    def test_other_addresses_get_no_answer(self) -> None:
        meter = TableMeter("051600001234", {DI_TOTAL: bytes(4)})
        bus = Bus([meter])

        answer = bus.respond(read("051600001235"))

        assert (answer, meter.heard) == (None, [])

    def test_all_aa_address_reaches_any_meter(self) -> None:
        bus = Bus([TableMeter("051600001234", {DI_TOTAL: bytes(4)})])

        answer = bus.respond(read("AAAAAAAAAAAA"))

        assert answer is not None
        assert frames_in(answer.data)[0].address == "051600001234"

    def test_abbreviated_address_reaches_only_meters_ending_in_its_digits(self) -> None:
        near = TableMeter("051600001234", {DI_TOTAL: bytes(4)})
        far = TableMeter("051600001299", {DI_TOTAL: bytes(4)})
        bus = Bus([near, far])

        answer = bus.respond(read("AAAAAAAAAA34"))

        assert answer is not None
        assert ([f.address for f in frames_in(answer.data)], len(far.heard)) == (
            ["051600001234"],
            0,
        )

    def test_broadcast_reaches_every_device_and_nobody_answers(self) -> None:
        first = TableMeter("000000000001")
        second = TableMeter("000000000002")
        bus = Bus([first, second])
        sync = Frame(address="999999999999", control=FN_BROADCAST_TIME, data=bytes(6))

        answer = bus.respond(sync)

        assert (answer, len(first.heard), len(second.heard)) == (None, 1, 1)

    def test_reply_frames_on_the_line_are_not_dispatched(self) -> None:
        meter = TableMeter("051600001234", {DI_TOTAL: bytes(4)})
        bus = Bus([meter])
        echo_of_reply = Frame(address="051600001234", control=0x91, data=DI_TOTAL_BYTES)

        answer = bus.respond(echo_of_reply)

        assert (answer, meter.heard) == (None, [])

    def test_two_answering_meters_collide_into_garbage(self) -> None:
        bus = Bus(
            [
                TableMeter("051600001234", {DI_TOTAL: b"\x01\x00\x00\x00"}),
                TableMeter("051600005634", {DI_TOTAL: b"\x02\x00\x00\x00"}),
            ]
        )

        answer = bus.respond(read("AAAAAAAAAA34"))

        assert answer is not None
        assert answer.data
        assert frames_in(answer.data) == []

    def test_a_silent_meter_does_not_collide_with_an_answering_one(self) -> None:
        bus = Bus(
            [
                FixedDevice("051600001234", ()),
                TableMeter("051600005634", {DI_TOTAL: bytes(4)}),
            ]
        )

        answer = bus.respond(read("AAAAAAAAAA34"))

        assert answer is not None
        assert [f.address for f in frames_in(answer.data)] == ["051600005634"]

    def test_silent_device_gives_no_answer(self) -> None:
        bus = Bus([FixedDevice("051600001234", ())])

        assert bus.respond(read("051600001234")) is None

    def test_raw_reply_goes_out_verbatim(self) -> None:
        bus = Bus([FixedDevice("051600001234", (RawReply(data=b"\x68\x00\xff"),))])

        answer = bus.respond(read("051600001234"))

        assert answer == Answer(data=b"\x68\x00\xff")

    def test_delay_parts_add_up_to_extra_delay(self) -> None:
        reply = Frame(address="051600001234", control=0x91, data=DI_TOTAL_BYTES + bytes(4))
        parts = (Delay(seconds=0.25), reply, Delay(seconds=0.5))
        bus = Bus([FixedDevice("051600001234", parts)])

        answer = bus.respond(read("051600001234"), preamble=0)

        assert answer == Answer(data=reply.encode(preamble=0), extra_delay_s=0.75)

    def test_delay_without_bytes_is_silence(self) -> None:
        bus = Bus([FixedDevice("051600001234", (Delay(seconds=1.0),))])

        assert bus.respond(read("051600001234")) is None

    def test_duplicate_addresses_both_answer_and_collide(self) -> None:
        bus = Bus([TableMeter("051600001234", {DI_TOTAL: bytes(4)})])
        bus.add(TableMeter("051600001234", {DI_TOTAL: b"\x99\x00\x00\x00"}))

        answer = bus.respond(read("051600001234"))

        assert answer is not None
        assert frames_in(answer.data) == []

    def test_remove_takes_the_device_off_the_bus(self) -> None:
        bus = Bus([TableMeter("051600001234", {DI_TOTAL: bytes(4)})])

        bus.remove("051600001234")

        assert (bus.devices, bus.respond(read("051600001234"))) == ((), None)

    def test_remove_of_an_unknown_address_raises_key_error(self) -> None:
        with pytest.raises(KeyError):
            Bus().remove("051600001234")

    def test_negative_delay_is_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            Delay(seconds=-0.1)


class TestCollide:
    def test_xors_bytes_and_keeps_the_longest_tail(self) -> None:
        assert collide([b"\x0f\xf0", b"\xff\xff\x16"]) == b"\xf0\x0f\x16"

    def test_nothing_collides_into_nothing(self) -> None:
        assert collide([]) == b""


class TestServeTransport:
    async def test_answers_a_request_over_the_loopback(self) -> None:
        master, slave = loopback_pair()
        bus = Bus([TableMeter("051600001234", {DI_TOTAL: b"\x56\x34\x12\x00"})])
        serving = asyncio.create_task(serve_transport(slave, bus, baud=None, preamble=0))

        await master.write(read("051600001234").encode())
        data = await master.read(timeout=1.0)

        assert frames_in(data)[0].payload == b"\x56\x34\x12\x00"
        await master.close()
        await asyncio.wait_for(serving, 1.0)

    async def test_stops_when_the_master_closes_the_pipe(self) -> None:
        master, slave = loopback_pair()
        serving = asyncio.create_task(serve_transport(slave, Bus(), baud=None))

        await master.close()

        assert await asyncio.wait_for(serving, 1.0) is None

    async def test_ignores_its_own_echo_and_noise(self) -> None:
        master, slave = loopback_pair(echo=True)
        meter = TableMeter("051600001234", {DI_TOTAL: bytes(4)})
        serving = asyncio.create_task(serve_transport(slave, Bus([meter]), baud=None))

        await master.write(b"\x00\x68\x13" + read("051600001234").encode())
        first = await next_reply(master)
        await master.write(read("051600001234").encode())
        second = await next_reply(master)

        assert (first.control, second.control, len(meter.heard)) == (0x91, 0x91, 2)
        await master.close()
        await asyncio.wait_for(serving, 1.0)

    async def test_paced_reply_takes_at_least_the_wire_time(self) -> None:
        master, slave = loopback_pair()
        bus = Bus([TableMeter("051600001234", {DI_TOTAL: bytes(4)})])
        serving = asyncio.create_task(
            serve_transport(slave, bus, baud=9600, answer_delay_s=0.02, preamble=4)
        )
        request = read("051600001234").encode(preamble=4)
        loop = asyncio.get_running_loop()
        # 20 request bytes + 24 reply bytes at 9600 baud, plus the 20 ms answer delay.
        minimum = wire_time_s(byte_count=20 + 24, baud=9600) + 0.02

        started = loop.time()
        await master.write(request)
        data = await master.read(timeout=1.0)
        elapsed = loop.time() - started

        assert len(data) == 24
        assert elapsed >= minimum - 0.002  # the loop's clock resolution
        await master.close()
        await asyncio.wait_for(serving, 1.0)

    async def test_device_delay_holds_the_reply_back(self) -> None:
        master, slave = loopback_pair()
        reply = Frame(address="051600001234", control=0x91, data=DI_TOTAL_BYTES + bytes(4))
        bus = Bus([FixedDevice("051600001234", (Delay(seconds=0.05), reply))])
        serving = asyncio.create_task(serve_transport(slave, bus, baud=None))

        await master.write(read("051600001234").encode())

        assert await master.read(timeout=0.03) == b""
        assert frames_in(await master.read(timeout=0.5)) == [reply]
        await master.close()
        await asyncio.wait_for(serving, 1.0)

    async def test_stops_when_the_master_leaves_before_its_answer(self) -> None:
        master, slave = loopback_pair()
        bus = Bus([FixedDevice("051600001234", (Delay(seconds=0.02), RawReply(data=b"x")))])
        serving = asyncio.create_task(serve_transport(slave, bus, baud=None))
        await master.write(read("051600001234").encode())
        await asyncio.sleep(0)

        await master.close()

        assert await asyncio.wait_for(serving, 1.0) is None
