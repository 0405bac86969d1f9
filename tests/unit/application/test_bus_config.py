"""A bus is stored only with a URL the head-end can open (issue 16)."""

from __future__ import annotations

import pytest

from wattbook.application.headend.ports import BusConfig


class TestBusUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "tcp://127.0.0.1:7001",
            "tcp://gateway.example:1",
            "tcp://127.0.0.1:65535?connect_timeout=2",
            "serial:///dev/ttyUSB0",
            "serial:///dev/ttyUSB0?baud=2400&parity=E",
            "serial://COM3",
        ],
    )
    def test_accepts_a_tcp_host_and_port_or_a_serial_device(self, url: str) -> None:
        assert BusConfig(name="b1", url=url).url == url

    @pytest.mark.parametrize(
        "url",
        [
            "tcp://127.0.0.1:abc",
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1:65536",
            "tcp://127.0.0.1",
            "tcp://:7001",
            "tcp://user@127.0.0.1:7001",
            "tcp://127.0.0.1:7001/dev/ttyUSB0",
            "tcp://127.0.0.1:7001#x",
            "serial://",
            "serial:///",
            "udp://127.0.0.1:7001",
            "/dev/ttyUSB0",
        ],
    )
    def test_refuses_any_other_url(self, url: str) -> None:
        with pytest.raises(ValueError, match="tcp://HOST:PORT or serial:///dev/PORT"):
            BusConfig(name="b1", url=url)
