"""Run `wattbook serve` in a subprocess on a SQLite file, for browser and crash tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from wattbook import bootstrap
from wattbook.application.accounts.open_account import open_account
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber, Money
from wattbook.settings import Settings

SECRET = "test-bank-secret"  # noqa: S105 - a test key


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(url: str, numbers: list[str], *, opening_fen: int = 0) -> None:
    """Migrate the database at ``url`` and open the accounts."""
    settings = Settings(database_url=url)
    bootstrap.migrate(settings)
    storage = bootstrap.build_storage(settings)

    async def run() -> None:
        for number in numbers:
            await open_account(
                uow=storage.uow_factory(),
                clock=storage.clock,
                number=AccountNumber(value=number),
                holder=accounts.Holder(name="张三丰"),
                phone=accounts.PhoneNumber(digits="13800138000"),
                address=accounts.Address(text="丙6-1-801"),
                opening_balance=Money(fen=opening_fen) if opening_fen else None,
            )

    try:
        asyncio.run(run())
    finally:
        storage.close()


class Server:
    """A `wattbook serve` process; ``kill()`` is kill -9."""

    def __init__(
        self,
        url: str,
        port: int,
        log: Path,
        *,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.url = url
        self._env = env or {}
        self._args = args
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 20.0) -> None:
        env = {
            **os.environ,
            "WATTBOOK_DATABASE_URL": self.url,
            "WATTBOOK_BANK_SECRET": SECRET,
            "WATTBOOK_WEB_PORT": str(self.port),
            **self._env,
        }
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wattbook", "serve", "--no-background", *self._args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start; see {self._log}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
