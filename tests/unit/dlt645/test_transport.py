"""Transports: the in-memory loopback, URL parsing, line settings and wire time."""

from __future__ import annotations

import asyncio

import pytest

from wattbook.dlt645.errors import TransportError
from wattbook.dlt645.transport import (
    SerialTransport,
    TcpTransport,
    loopback_pair,
    transport_from_url,
    wire_time_s,
)


class TestLoopbackPair:
    async def test_delivers_written_bytes_to_the_other_end(self) -> None:
        master, slave = loopback_pair()

        await master.write(b"\x68\x16")
        await master.write(b"\x00")

        assert await slave.read(timeout=0.1) == b"\x68\x16\x00"

    async def test_read_returns_empty_bytes_on_timeout(self) -> None:
        master, _slave = loopback_pair()

        assert await master.read(timeout=0.01) == b""

    async def test_read_wakes_when_bytes_arrive(self) -> None:
        master, slave = loopback_pair()
        reader = asyncio.create_task(slave.read(timeout=1.0))
        await asyncio.sleep(0)

        await master.write(b"abc")

        assert await reader == b"abc"

    async def test_without_echo_an_end_does_not_hear_itself(self) -> None:
        master, _slave = loopback_pair()

        await master.write(b"abc")

        assert await master.read(timeout=0.01) == b""

    async def test_with_echo_an_end_hears_itself_like_a_half_duplex_adapter(self) -> None:
        master, slave = loopback_pair(echo=True)

        await master.write(b"abc")

        assert (await master.read(timeout=0.1), await slave.read(timeout=0.1)) == (b"abc", b"abc")

    async def test_discard_input_drops_unread_bytes(self) -> None:
        master, slave = loopback_pair()
        await master.write(b"stale")

        dropped = slave.discard_input()

        assert (dropped, await slave.read(timeout=0.01)) == (5, b"")

    async def test_peer_close_is_reported_after_pending_bytes(self) -> None:
        master, slave = loopback_pair()
        await master.write(b"last")

        await master.close()

        assert await slave.read(timeout=0.1) == b"last"
        with pytest.raises(TransportError, match="peer closed"):
            await slave.read(timeout=0.1)

    async def test_peer_close_wakes_a_waiting_reader(self) -> None:
        master, slave = loopback_pair()
        reader = asyncio.create_task(slave.read(timeout=5.0))
        await asyncio.sleep(0)

        await master.close()

        with pytest.raises(TransportError, match="peer closed"):
            await reader

    async def test_a_zero_timeout_read_returns_what_has_arrived(self) -> None:
        master, slave = loopback_pair()

        empty = await slave.read(timeout=0.0)
        await master.write(b"abc")

        assert (empty, await slave.read(timeout=0.0)) == (b"", b"abc")

    async def test_a_read_cancelled_while_waiting_leaves_the_bytes_for_the_next(self) -> None:
        master, slave = loopback_pair()
        reader = asyncio.create_task(slave.read(timeout=5.0))
        await asyncio.sleep(0)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader

        await master.write(b"abc")

        assert await slave.read(timeout=0.1) == b"abc"

    async def test_writing_after_close_raises(self) -> None:
        master, _slave = loopback_pair()
        await master.close()

        with pytest.raises(TransportError, match="closed"):
            await master.write(b"x")

    async def test_closed_end_cannot_be_reopened(self) -> None:
        master, _slave = loopback_pair()
        await master.close()

        with pytest.raises(TransportError, match="cannot be reopened"):
            await master.open()

    async def test_reports_baud_and_description(self) -> None:
        master, slave = loopback_pair(baud=9600)

        assert (master.baud, master.description, slave.description) == (
            9600,
            "loop://master",
            "loop://slave",
        )

    async def test_context_manager_closes_the_end(self) -> None:
        master, _slave = loopback_pair()

        async with master as opened:
            assert opened.is_open

        assert not master.is_open


class TestTransportFromUrl:
    def test_tcp_url_gives_host_and_port(self) -> None:
        transport = transport_from_url("tcp://10.0.0.7:4001")

        assert isinstance(transport, TcpTransport)
        assert (transport.description, transport.baud) == ("tcp://10.0.0.7:4001", None)

    def test_tcp_url_may_name_the_bus_baud(self) -> None:
        transport = transport_from_url("tcp://gw.local:4001?baud=9600&connect_timeout=2.5")

        assert transport.baud == 9600

    def test_ipv6_tcp_url_keeps_brackets_in_description(self) -> None:
        assert transport_from_url("tcp://[::1]:4001").description == "tcp://[::1]:4001"

    def test_serial_url_defaults_to_2400_8e1(self) -> None:
        transport = transport_from_url("serial:///dev/ttyUSB0")

        assert isinstance(transport, SerialTransport)
        assert transport.description == (
            "serial:///dev/ttyUSB0?baud=2400&parity=E&bytesize=8&stopbits=1"
        )

    def test_serial_url_takes_every_line_setting(self) -> None:
        url = "serial:///dev/ttyS1?baud=9600&parity=N&bytesize=7&stopbits=2"

        transport = transport_from_url(url)

        assert (transport.description, transport.baud) == (url, 9600)

    def test_serial_url_takes_one_and_a_half_stop_bits(self) -> None:
        transport = transport_from_url("serial:///dev/ttyS1?stopbits=1.5")

        assert transport.description.endswith("stopbits=1.5")

    def test_serial_url_with_windows_port_name(self) -> None:
        transport = transport_from_url("serial://COM3?baud=1200")

        assert transport.description.startswith("serial://COM3?baud=1200")

    def test_description_parses_back_to_the_same_settings(self) -> None:
        url = "serial:///dev/ttyUSB1?baud=4800&parity=O&bytesize=8&stopbits=1"

        again = transport_from_url(transport_from_url(url).description)

        assert again.description == url

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("udp://host:1", "unsupported transport URL"),
            ("/dev/ttyUSB0", "unsupported transport URL"),
            ("tcp://host", "needs a host and a port"),
            ("tcp://:4001", "needs a host and a port"),
            ("tcp://host:99999", "bad port"),
            ("tcp://host:4001/path", "must be tcp://HOST:PORT"),
            ("tcp://host:4001?parity=E", "unknown setting"),
            ("tcp://host:4001?baud=0", "baud rate must be positive"),
            ("tcp://host:4001?connect_timeout=soon", "connect_timeout must be seconds"),
            ("serial://", "needs a device"),
            ("serial:///dev/ttyUSB0?baud=fast", "baud must be a whole number"),
            ("serial:///dev/ttyUSB0?baud=0", "baud rate must be positive"),
            ("serial:///dev/ttyUSB0?parity=X", "parity must be one of"),
            ("serial:///dev/ttyUSB0?bytesize=9", "bytesize must be"),
            ("serial:///dev/ttyUSB0?stopbits=3", "stopbits must be"),
            ("serial:///dev/ttyUSB0?speed=2400", "unknown setting"),
            ("serial:///dev/ttyUSB0?baud=2400&baud=9600", "given 2 times"),
        ],
    )
    def test_rejects_bad_url_with_a_clear_message(self, url: str, message: str) -> None:
        with pytest.raises(TransportError, match=message):
            transport_from_url(url)


class TestSerialTransport:
    async def test_opening_a_missing_port_raises_transport_error(self) -> None:
        transport = SerialTransport(port="/nonexistent/ttyUSB9")

        with pytest.raises(TransportError, match="cannot open"):
            await transport.open()

    async def test_unopened_port_refuses_to_write(self) -> None:
        transport = SerialTransport(port="/dev/ttyUSB0")

        with pytest.raises(TransportError, match="not open"):
            await transport.write(b"x")

    def test_lower_case_parity_is_accepted(self) -> None:
        transport = SerialTransport(port="/dev/ttyUSB0", parity="e")

        assert "parity=E" in transport.description


class TestWireTime:
    def test_twenty_bytes_at_2400_baud_take_91_ms(self) -> None:
        assert wire_time_s(byte_count=20, baud=2400) == pytest.approx(0.091667, abs=1e-6)

    def test_rejects_zero_baud(self) -> None:
        with pytest.raises(TransportError):
            wire_time_s(byte_count=1, baud=0)
