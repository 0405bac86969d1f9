"""A NATS server with JetStream that a test starts itself, on a free port, restartable.

Debian's ``/usr/sbin/nats-server`` with ``-js -sd DIR -p PORT``: its store is the test's
temporary directory, so a restart keeps the streams and what they hold.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

NATS_SERVER = "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NatsServer:
    """One nats-server process; :meth:`restart` stops it and starts it on the same port."""

    def __init__(self, store: Path, port: int | None = None) -> None:
        self.store = store
        self.port = port if port is not None else free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.store.parent / "nats-server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    NATS_SERVER,
                    "-js",
                    "-sd",
                    str(self.store),
                    "-a",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_listening()

    def _wait_listening(self) -> None:
        # Polls the port until the server listens (not a timing assertion: it waits for a state).
        for _ in range(200):
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def require_nats_server() -> None:
    if shutil.which(NATS_SERVER) is None:
        pytest.skip(f"{NATS_SERVER} is not installed (Debian package nats-server)")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """Yield a running NATS server with JetStream, stopped afterwards."""
    require_nats_server()
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()
