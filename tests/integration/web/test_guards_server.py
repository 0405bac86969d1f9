"""The guards on a real `wattbook serve` (uvicorn): big bodies, the banner, the Host header."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.integration.web.server import Server, free_port, seed

MIB = 1024 * 1024
CHUNK = 64 * 1024
HOSTILE_BODY_BYTES = 128 * MIB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("guards")
    url = f"sqlite:///{folder / 'guards.sqlite3'}"
    seed(url, ["051600001234"])
    running = Server(url, free_port(), folder / "server.log")
    running.start()
    yield running
    running.stop()


def resident_kib(server: Server) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1])


def stream(server: Server, head: bytes, *, chunked: bool) -> tuple[bytes, int]:
    """Send ``head`` and then up to 128 MiB of body; return the answer and the bytes sent."""
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(head)
        connection.setblocking(False)
        filler = b"[" * CHUNK
        piece = (b"%x\r\n" % CHUNK) + filler + b"\r\n" if chunked else filler
        pending = memoryview(piece)
        deadline = time.monotonic() + 60
        while sent < HOSTILE_BODY_BYTES and time.monotonic() < deadline:
            try:
                answer += connection.recv(65536)
                if answer:
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                count = connection.send(pending)
                sent += count
                # A partial send goes on from where it stopped, or the chunk framing breaks.
                pending = pending[count:] or memoryview(piece)
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:  # the server closed the connection
                break
        connection.setblocking(True)
        connection.settimeout(5)
        try:
            while b"\r\n\r\n" not in answer:
                more = connection.recv(65536)
                if not more:
                    break
                answer += more
        except OSError:
            pass
    return answer, sent


def head(*, length: int | None) -> bytes:
    framing = b"Transfer-Encoding: chunked" if length is None else b"Content-Length: %d" % length
    return (
        b"POST /bank/callbacks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nX-Bank-Signature: sha256=00\r\n" + framing + b"\r\n\r\n"
    )


class TestBodyLimit:
    def test_a_streamed_128_mib_body_is_refused_after_the_limit_without_growing_memory(
        self, server: Server
    ) -> None:
        before_kib = resident_kib(server)

        answer, sent = stream(server, head(length=None), chunked=True)

        grown_kib = resident_kib(server) - before_kib
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # Socket buffers take a few MiB; the server reads no more than the limit of them.
        assert sent < 16 * MIB
        assert grown_kib < 16 * 1024

    def test_a_declared_128_mib_body_is_refused_before_any_of_it_is_read(
        self, server: Server
    ) -> None:
        before_kib = resident_kib(server)

        answer, sent = stream(server, head(length=HOSTILE_BODY_BYTES), chunked=False)

        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 16 * MIB
        assert resident_kib(server) - before_kib < 16 * 1024

    def test_a_body_under_the_limit_still_reaches_the_route(self, server: Server) -> None:
        answer = httpx.post(f"{server.base}/bank/callbacks", content=b"{}" * 1000, timeout=5)

        assert answer.status_code == 401
        assert answer.json()["error"] == "INVALID_SIGNATURE"


class TestServerHeaders:
    def test_no_banner_names_the_server_software(self, server: Server) -> None:
        answer = httpx.get(f"{server.base}/healthz", timeout=5)

        assert answer.status_code == 200
        assert "server" not in answer.headers

    def test_a_foreign_host_name_is_refused(self, server: Server) -> None:
        rebound = httpx.get(
            f"{server.base}/kiosk/api/sessions/K01-0123456789abcdef",
            headers={"Host": f"attacker.example:{server.port}"},
            timeout=5,
        )
        local = httpx.get(
            f"{server.base}/healthz", headers={"Host": f"localhost:{server.port}"}, timeout=5
        )

        assert rebound.status_code == 400
        assert rebound.json()["error"] == "UNKNOWN_HOST"
        assert local.status_code == 200
