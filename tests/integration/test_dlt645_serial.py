"""DL/T 645 over a real serial device: a pty pair stands in for the USB-RS485 adapter.

The client opens the pty's slave device through pyserial-asyncio, exactly as it would open
/dev/ttyUSB0; the bus is served on the master side through :class:`FdTransport`. A pty carries
no parity bit, and some kernels (gVisor) refuse PARENB on one, so these ports use 8N1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator, Sequence

import pytest

from wattbook.dlt645 import messages
from wattbook.dlt645.client import Client
from wattbook.dlt645.errors import NoResponse, TransportError
from wattbook.dlt645.frame import FN_READ, Frame
from wattbook.dlt645.server import Bus, ReplyPart, serve_transport
from wattbook.dlt645.transport import FdTransport, SerialTransport, transport_from_url

# Leading 16H and FEH bytes on purpose: the pty must pass every byte value through untouched.
METER = "160000001234"
DI_TOTAL = 0x00000000
DI_ADDRESS = 0x04000401


class TableMeter:
    """Answer reads from a table of payloads."""

    def __init__(self, address: str, payloads: dict[int, bytes]) -> None:
        self.address = address
        self.payloads = payloads

    def handle(self, request: Frame) -> Sequence[ReplyPart]:
        if request.function != FN_READ or request.di not in self.payloads:
            return ()
        return (messages.read_reply(request, self.payloads[request.di], address=self.address),)


class Pty:
    """A pty pair whose master side serves a bus."""

    def __init__(self) -> None:
        self.master_fd, self.slave_fd = os.openpty()
        # Raw mode before anyone writes: no echo, no CR/LF translation, all 8 bits kept.
        tty.setraw(self.slave_fd)
        self.slave_path = os.ttyname(self.slave_fd)

    def close(self) -> None:
        os.close(self.master_fd)
        os.close(self.slave_fd)


@pytest.fixture
async def served_pty() -> AsyncIterator[Pty]:
    pty = Pty()
    bus = Bus(
        [
            TableMeter(
                METER, {DI_TOTAL: b"\xfe\x16\x68\x00", DI_ADDRESS: b"\x34\x12\x00\x00\x00\x16"}
            )
        ]
    )
    master = FdTransport(fd=pty.master_fd, description="pty master")
    await master.open()
    serving = asyncio.create_task(serve_transport(master, bus, baud=None))
    yield pty
    serving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    await master.close()
    pty.close()


class TestClientOverSerial:
    async def test_reads_through_a_serial_port(self, served_pty: Pty) -> None:
        async with SerialTransport(port=served_pty.slave_path, parity="N") as port:
            client = Client(port, timeout=0.5)

            payload = await client.read_payload(address=METER, di=DI_TOTAL)

        assert payload == b"\xfe\x16\x68\x00"

    async def test_decodes_a_value_through_a_serial_url(self, served_pty: Pty) -> None:
        url = f"serial://{served_pty.slave_path}?baud=9600&parity=N&bytesize=8&stopbits=1"

        async with transport_from_url(url) as port:
            value = await Client(port, timeout=0.5).read(address=METER, di=DI_ADDRESS)

        assert value == "160000001234"

    async def test_silence_on_the_line_is_no_response(self, served_pty: Pty) -> None:
        async with SerialTransport(port=served_pty.slave_path, parity="N") as port:
            client = Client(port, timeout=0.05, retries=1)

            with pytest.raises(NoResponse):
                await client.read_payload(address="000000000001", di=DI_TOTAL)

        assert client.counters.timeouts == 2

    async def test_port_can_be_closed_and_opened_again(self, served_pty: Pty) -> None:
        port = SerialTransport(port=served_pty.slave_path, parity="N")
        await port.open()
        await port.close()

        await port.open()
        payload = await Client(port, timeout=0.5).read_payload(address=METER, di=DI_TOTAL)
        await port.close()

        assert payload == b"\xfe\x16\x68\x00"

    async def test_closed_port_refuses_to_read(self, served_pty: Pty) -> None:
        port = SerialTransport(port=served_pty.slave_path, parity="N")
        await port.open()
        await port.close()

        with pytest.raises(TransportError, match="closed"):
            await port.read(timeout=0.01)


class TestFdTransport:
    async def test_master_sees_eof_when_the_slave_side_goes_away(self) -> None:
        pty = Pty()
        master = FdTransport(fd=pty.master_fd, description="pty master")
        await master.open()

        os.close(pty.slave_fd)

        with pytest.raises(TransportError, match="pty master"):
            await master.read(timeout=1.0)
        await master.close()
        os.close(pty.master_fd)
