"""`wattbook serve` tells the bank to call back on the port it actually serves (P3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.integration.web.server import SECRET, free_port, seed

from wattbook import bootstrap
from wattbook.application.payments import bank as bank_cases
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money
from wattbook.interfaces.cli._exits import Exit
from wattbook.settings import Settings

NUMBER = "051600008001"
CONFIGURED_PORT = "8700"  # what WATTBOOK_WEB_PORT says; --port must win over it


class RecordingBank:
    """A bank that records the debit requests it gets and answers 202."""

    def __init__(self) -> None:
        self.debits: list[dict[str, str]] = []
        self.app = Starlette(routes=[Route("/debits", self._debit, methods=["POST"])])

    async def _debit(self, request: Request) -> PlainTextResponse:
        self.debits.append(json.loads(await request.body()))
        return PlainTextResponse("accepted", status_code=202)


@contextlib.asynccontextmanager
async def bank_on(port: int) -> AsyncIterator[RecordingBank]:
    recording = RecordingBank()
    server = uvicorn.Server(
        uvicorn.Config(recording.app, host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield recording
    finally:
        server.should_exit = True
        await task


def prepared_database(tmp_path: Path) -> str:
    """Return a database with one account below its agreement's threshold (blocking: it
    runs its own event loop, so call it in a thread from async tests)."""
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    seed(url, [NUMBER])
    storage = bootstrap.build_storage(Settings(database_url=url))
    agreement = payments.Agreement(
        agreement_number="AG-SERVE",
        holder="张三丰",
        id_number_masked="320311********1234",
        card_token="T-SERVE",  # noqa: S106 - a test card token
        card_masked="6217 **** **** 3333",
        phone="13800138000",
        account_numbers=(AccountNumber(value=NUMBER),),
        threshold=Money(fen=2000),
        amount=Money(fen=5000),
        signed_on=date(2000, 1, 1),
    )
    try:
        asyncio.run(
            bank_cases.register_agreement(
                uow=storage.uow_factory(), clock=storage.clock, agreement=agreement
            )
        )
    finally:
        storage.close()
    return url


@contextlib.contextmanager
def serving(
    url: str, *arguments: str, bank_port: int, public_url: str | None, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "WATTBOOK_DATABASE_URL": url,
        "WATTBOOK_BANK_SECRET": SECRET,
        "WATTBOOK_BANK_URL": f"http://127.0.0.1:{bank_port}",
        "WATTBOOK_WEB_PORT": CONFIGURED_PORT,
    }
    env.pop("WATTBOOK_PUBLIC_URL", None)
    if public_url is not None:
        env["WATTBOOK_PUBLIC_URL"] = public_url
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "wattbook", "serve", *arguments],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def first_debit(recording: RecordingBank, log: Path) -> dict[str, str]:
    for _ in range(600):
        if recording.debits:
            return recording.debits[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no debit reached the bank; log:\n{log.read_text()}")


def served_port(log: Path) -> int:
    found = re.search(r"wattbook serving on http://127\.0\.0\.1:(\d+)/kiosk", log.read_text())
    assert found is not None, log.read_text()
    return int(found.group(1))


class TestServeCallbackUrl:
    async def test_follows_the_port_given_on_the_command_line(self, tmp_path: Path) -> None:
        url = await asyncio.to_thread(prepared_database, tmp_path)
        bank_port, web_port = free_port(), free_port()
        log = tmp_path / "serve.log"

        async with bank_on(bank_port) as recording:
            with serving(
                url, "--port", str(web_port), bank_port=bank_port, public_url=None, log=log
            ):
                debit = await first_debit(recording, log)

        assert debit["account_number"] == NUMBER
        assert debit["callback_url"] == f"http://127.0.0.1:{web_port}/bank/callbacks"
        assert served_port(log) == web_port

    async def test_port_0_uses_the_port_actually_bound(self, tmp_path: Path) -> None:
        url = await asyncio.to_thread(prepared_database, tmp_path)
        bank_port = free_port()
        log = tmp_path / "serve.log"

        async with bank_on(bank_port) as recording:
            with serving(url, "--port", "0", bank_port=bank_port, public_url=None, log=log):
                debit = await first_debit(recording, log)
                port = served_port(log)

        assert port not in (0, int(CONFIGURED_PORT))
        assert debit["callback_url"] == f"http://127.0.0.1:{port}/bank/callbacks"

    async def test_the_public_url_wins_when_set(self, tmp_path: Path) -> None:
        url = await asyncio.to_thread(prepared_database, tmp_path)
        bank_port = free_port()
        log = tmp_path / "serve.log"

        async with bank_on(bank_port) as recording:
            with serving(
                url,
                "--port",
                "0",
                bank_port=bank_port,
                public_url="https://power.campus.example/",
                log=log,
            ):
                debit = await first_debit(recording, log)

        assert debit["callback_url"] == "https://power.campus.example/bank/callbacks"

    async def test_a_taken_port_is_a_clear_error(self, tmp_path: Path) -> None:
        url = await asyncio.to_thread(prepared_database, tmp_path)
        log = tmp_path / "serve.log"

        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            with serving(url, "--port", str(port), bank_port=1, public_url=None, log=log) as p:
                code = await asyncio.to_thread(p.wait, 30)

        assert code == Exit.CANNOT_LISTEN  # the one table's code (ADR 10)
        assert "cannot listen on 127.0.0.1:" in log.read_text()
        assert "Traceback" not in log.read_text()
