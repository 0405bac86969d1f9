"""DL/T 645 over real TCP on 127.0.0.1: the transport, and client <-> server end to end."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest

from wattbook.dlt645 import messages
from wattbook.dlt645.client import Client
from wattbook.dlt645.errors import NoSuchData, TransportError
from wattbook.dlt645.frame import FN_READ, Frame
from wattbook.dlt645.server import Bus, ReplyPart, serve_tcp
from wattbook.dlt645.transport import TcpTransport, wire_time_s

METER = "051600001234"
DI_TOTAL = 0x00000000


class TableMeter:
    """Answer reads from a table of payloads, and refuse other DIs with "no such data"."""

    def __init__(self, address: str, payloads: dict[int, bytes]) -> None:
        self.address = address
        self.payloads = payloads

    def handle(self, request: Frame) -> Sequence[ReplyPart]:
        if request.function != FN_READ or request.di is None:
            return ()
        payload = self.payloads.get(request.di)
        if payload is None:
            return (messages.abnormal_reply(request, 0x02, address=self.address),)
        return (messages.read_reply(request, payload, address=self.address),)


def port_of(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


@pytest.fixture
async def bus_server() -> AsyncIterator[asyncio.Server]:
    bus = Bus([TableMeter(METER, {DI_TOTAL: b"\x56\x34\x12\x00"})])
    server = await serve_tcp(host="127.0.0.1", port=0, bus=bus, baud=None)
    yield server
    server.close()
    await server.wait_closed()


class TestTcpTransport:
    async def test_refused_connection_raises_transport_error(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free_port = probe.getsockname()[1]
        transport = TcpTransport(host="127.0.0.1", port=free_port)

        with pytest.raises(TransportError, match=f"tcp://127.0.0.1:{free_port}: cannot connect"):
            await transport.open()

    async def test_connection_that_never_completes_times_out(self) -> None:
        # Linux drops SYNs to a listener whose accept queue is full, so connect() hangs.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            port = listener.getsockname()[1]
            fillers = [socket.socket() for _ in range(3)]
            for filler in fillers:
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            await asyncio.sleep(0.02)
            transport = TcpTransport(host="127.0.0.1", port=port, connect_timeout=0.1)

            try:
                with pytest.raises(TransportError, match=r"no connection within 0\.1 s"):
                    await transport.open()
            finally:
                for filler in fillers:
                    filler.close()

    async def test_dropped_connection_raises_and_reopening_connects_again(self) -> None:
        connections = 0

        async def drop_first_then_echo(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            nonlocal connections
            connections += 1
            if connections > 1:
                writer.write(await reader.read(100))
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(drop_first_then_echo, "127.0.0.1", 0)
        transport = TcpTransport(host="127.0.0.1", port=port_of(server))
        await transport.open()

        with pytest.raises(TransportError, match="peer closed the connection"):
            await transport.read(timeout=1.0)
        with pytest.raises(TransportError):
            await transport.write(b"x")
        await transport.open()
        await transport.write(b"again")
        echoed = await transport.read(timeout=1.0)

        assert (echoed, connections) == (b"again", 2)
        await transport.close()
        server.close()
        await server.wait_closed()

    async def test_close_is_idempotent_and_open_reports_state(self) -> None:
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the client leaves
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        transport = TcpTransport(host="127.0.0.1", port=port_of(server))

        await transport.open()
        opened = transport.is_open
        await transport.close()
        await transport.close()

        assert (opened, transport.is_open) == (True, False)
        server.close()
        await server.wait_closed()


class TestClientOverTcp:
    async def test_reads_a_decoded_value_from_the_served_bus(
        self, bus_server: asyncio.Server
    ) -> None:
        async with TcpTransport(host="127.0.0.1", port=port_of(bus_server)) as transport:
            client = Client(transport, timeout=0.5)

            value = await client.read(address=METER, di=DI_TOTAL)

        assert value == Decimal("1234.56")

    async def test_a_refusal_crosses_the_network_as_its_exception(
        self, bus_server: asyncio.Server
    ) -> None:
        async with TcpTransport(host="127.0.0.1", port=port_of(bus_server)) as transport:
            client = Client(transport, timeout=0.5)

            with pytest.raises(NoSuchData):
                await client.read_payload(address=METER, di=0x00010000)

    async def test_a_new_connection_is_served_after_one_closes(
        self, bus_server: asyncio.Server
    ) -> None:
        port = port_of(bus_server)
        async with TcpTransport(host="127.0.0.1", port=port) as first:
            await Client(first, timeout=0.5).read_payload(address=METER, di=DI_TOTAL)

        async with TcpTransport(host="127.0.0.1", port=port) as second:
            payload = await Client(second, timeout=0.5).read_payload(address=METER, di=DI_TOTAL)

        assert payload == b"\x56\x34\x12\x00"

    async def test_paced_bus_is_never_faster_than_the_wire(self) -> None:
        bus = Bus([TableMeter(METER, {DI_TOTAL: bytes(4)})])
        server = await serve_tcp(host="127.0.0.1", port=0, bus=bus, baud=9600, preamble=4)
        loop = asyncio.get_running_loop()
        # Request 4 FE + 16 bytes, reply 4 FE + 20 bytes, plus the 20 ms answer delay.
        wire = wire_time_s(byte_count=20 + 24, baud=9600) + 0.02

        async with TcpTransport(host="127.0.0.1", port=port_of(server)) as transport:
            client = Client(transport, timeout=0.5)
            started = loop.time()
            await client.read_payload(address=METER, di=DI_TOTAL)
            elapsed = loop.time() - started

        assert elapsed >= wire - 0.002  # the loop's clock resolution
        server.close()
        await server.wait_closed()

    async def test_two_connections_to_one_bus_take_turns(self) -> None:
        bus = Bus([TableMeter(METER, {DI_TOTAL: bytes(4)})])
        server = await serve_tcp(host="127.0.0.1", port=0, bus=bus, baud=9600, preamble=4)
        loop = asyncio.get_running_loop()
        one_transaction = wire_time_s(byte_count=20 + 24, baud=9600) + 0.02
        port = port_of(server)

        async with (
            TcpTransport(host="127.0.0.1", port=port) as first,
            TcpTransport(host="127.0.0.1", port=port) as second,
        ):
            started = loop.time()
            await asyncio.gather(
                Client(first, timeout=1.0).read_payload(address=METER, di=DI_TOTAL),
                Client(second, timeout=1.0).read_payload(address=METER, di=DI_TOTAL),
            )
            elapsed = loop.time() - started

        assert elapsed >= 2 * one_transaction - 0.004
        server.close()
        await server.wait_closed()
