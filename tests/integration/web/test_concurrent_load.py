"""Many kiosks and the bank at once against a real `wattbook serve`, on both backends (issue 16).

Before issue 16 seven kiosks pressing 确定 together froze a server on PostgreSQL for good:
every statement hopped to the event loop's default thread pool (six threads on two cores),
the confirms waiting for the receipt counter's row lock held every thread, and the one
holding the lock never got a thread to commit. These tests drive the served app over HTTP with
bounded timeouts, so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from tests.integration.db.databases import BACKENDS, postgres_url
from tests.integration.web.kiosk_client import NOTES, SESSIONS
from tests.integration.web.server import SECRET, Server, free_port, seed

from wattbook import bootstrap
from wattbook.adapters import bank, db
from wattbook.application.billing.reconcile import reconcile_ledger
from wattbook.application.payments import bank as bank_cases
from wattbook.application.payments import kiosk_devices
from wattbook.domain import payments
from wattbook.domain.values import SHANGHAI, AccountNumber, Money
from wattbook.settings import Settings

KIOSK_ACCOUNTS = [f"05160002{i:04d}" for i in range(100)]
BANK_ACCOUNTS = [f"05160003{i:04d}" for i in range(200)]
DEBIT_FEN = 5000
# More confirms at once than the default thread pool of this machine has threads (min(32,
# cores + 4)), which is what froze PostgreSQL before issue 16.
CONCURRENT_CONFIRMS = max(8, min(32, (os.cpu_count() or 1) + 4) + 2)
SLOWEST_S = 5.0


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database of each backend (a schema of its own on PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'load.sqlite3'}"
        return
    server = postgres_url()
    if server is None:
        pytest.skip("PostgreSQL not configured: set WATTBOOK_TEST_POSTGRES_URL")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = db.create_engine(server)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


class AcceptingBank:
    async def request_debit(self, debit: payments.DebitRequest) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the server's database holds before the load: the debits and the kiosks."""

    debit_ids: list[str]
    kiosks: list[tuple[str, str]]  # (kiosk id, secret), one kiosk per kiosk account


def prepare(url: str, *, kiosk_accounts: list[str], bank_accounts: list[str]) -> Prepared:
    """Migrate, open the accounts, register a kiosk per kiosk account, sign one agreement for
    the bank accounts and request today's debits (one per bank account)."""
    seed(url, kiosk_accounts + bank_accounts)
    storage = bootstrap.build_storage(Settings(database_url=url))

    async def register() -> list[tuple[str, str]]:
        kiosks = []
        for i in range(len(kiosk_accounts)):
            kiosk_id = f"L{i:03d}"
            _kiosk, secret = await kiosk_devices.register_kiosk(
                uow=storage.uow_factory(), clock=storage.clock, kiosk_id=kiosk_id, by="load test"
            )
            kiosks.append((kiosk_id, secret))
        return kiosks

    try:
        kiosks = asyncio.run(register())
    finally:
        storage.close()
    if not bank_accounts:
        return Prepared(debit_ids=[], kiosks=kiosks)
    storage = bootstrap.build_storage(Settings(database_url=url))
    today = storage.clock.now().astimezone(SHANGHAI).date()
    agreement = payments.Agreement(
        agreement_number="AG-LOAD",
        holder="张三丰",
        id_number_masked="320311********1234",
        card_token="TOKEN-LOAD",  # noqa: S106 - the bank's card token
        card_masked="6217 **** **** 3333",
        phone="13800138000",
        account_numbers=tuple(AccountNumber(value=n) for n in bank_accounts),
        threshold=Money(fen=20000),
        amount=Money(fen=DEBIT_FEN),
        signed_on=today,
    )

    async def run() -> list[str]:
        await bank_cases.register_agreement(
            uow=storage.uow_factory(), clock=storage.clock, agreement=agreement
        )
        done = await bank_cases.run_auto_top_up(
            uow_factory=storage.uow_factory,
            clock=storage.clock,
            bank=AcceptingBank(),
            limit=len(bank_accounts),
        )
        return [debit.debit_id for debit in done.requested]

    try:
        return Prepared(debit_ids=asyncio.run(run()), kiosks=kiosks)
    finally:
        storage.close()


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as the load test needs it."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return _json.loads(self.content)


class Timed:
    """A lean HTTP/1.1 client that remembers every answer's status and how long it took.

    httpx costs several milliseconds of CPU a request; on a two-core machine shared with the
    server, 300 concurrent httpx requests measured the client more than the server. This
    client writes the request and reads a Content-Length response on one keep-alive
    connection per caller (``connection()``), as a kiosk or the bank would.
    """

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self.answers: list[tuple[str, int, float]] = []

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[_Connection]:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        try:
            yield _Connection(self, reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send one request on a connection of its own."""
        async with self.connection() as connection:
            return await connection.request(
                method, path, json=json, content=content, headers=headers
            )

    def server_errors(self) -> list[tuple[str, int, float]]:
        return [answer for answer in self.answers if answer[1] >= 500]

    def slowest_s(self) -> float:
        return max((seconds for _path, _status, seconds in self.answers), default=0.0)

    def summary(self) -> str:
        """Return the median and slowest answer per kind of request."""
        by_kind: dict[str, list[float]] = {}
        for path, _status, seconds in self.answers:
            by_kind.setdefault(path.rsplit("/", 1)[-1], []).append(seconds)
        return ", ".join(
            f"{kind} x{len(times)} median {sorted(times)[len(times) // 2]:.2f} s"
            f" max {max(times):.2f} s"
            for kind, times in by_kind.items()
        )


class _Connection:
    def __init__(
        self, client: Timed, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._client, self._reader, self._writer = client, reader, writer

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        body = content if content is not None else b""
        sent = {"Host": "127.0.0.1", "Content-Length": str(len(body))}
        if json is not None:
            body = _json.dumps(json).encode()
            sent |= {"Content-Type": "application/json", "Content-Length": str(len(body))}
        sent |= headers or {}
        head = "".join(f"{name}: {value}\r\n" for name, value in sent.items())
        started = time.monotonic()
        self._writer.write(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
        await self._writer.drain()
        status_line, *lines = (await self._reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        fields = {
            name.strip().lower(): value.strip()
            for name, _sep, value in (line.partition(":") for line in lines if line)
        }
        assert "content-length" in fields, f"no Content-Length from {path}: {fields}"
        answer = Answer(
            status_code=int(status_line.split()[1]),
            content=await self._reader.readexactly(int(fields["content-length"])),
        )
        self._client.answers.append((path, answer.status_code, time.monotonic() - started))
        return answer


# ---- The kiosk API steps, in one place: each request signed as the kiosk's agent signs it.


@dataclass(frozen=True, slots=True)
class Kiosk:
    """A registered kiosk on one keep-alive connection: screen and acceptor, as its agent."""

    connection: _Connection
    kiosk_id: str
    secret: str

    async def post(self, path: str, body: object = None) -> Answer:
        content = b"" if body is None else _json.dumps(body).encode()
        headers = payments.kiosk_headers(
            kiosk_id=self.kiosk_id,
            secret=self.secret,
            method="POST",
            target=path,
            at=datetime.now(SHANGHAI),  # the server checks freshness on the wall clock
            body=content,
        )
        if body is not None:
            headers["Content-Type"] = "application/json"
        return await self.connection.request("POST", path, content=content, headers=headers)

    async def get(self, path: str) -> Answer:
        headers = payments.kiosk_headers(
            kiosk_id=self.kiosk_id,
            secret=self.secret,
            method="GET",
            target=path,
            at=datetime.now(SHANGHAI),
            body=b"",
        )
        return await self.connection.request("GET", path, headers=headers)


async def insert_kiosk_notes(
    kiosk: Kiosk, *, account_number: str, notes_fen: tuple[int, ...]
) -> str:
    """Start a session (the server makes its id), enter the account, confirm the details and
    put the notes through the acceptor; return the session's id."""
    opened = await kiosk.post(SESSIONS)
    assert opened.status_code == 201, (opened.status_code, opened.text)
    transaction_id = str(opened.json()["transaction_id"])
    base = f"{SESSIONS}/{transaction_id}"
    steps: list[tuple[str, object]] = [
        (f"{base}/account", {"account_number": account_number}),
        (f"{base}/details-confirmed", None),
    ]
    steps += [
        (NOTES, {"acceptor_sequence": sequence, "amount_fen": fen})
        for sequence, fen in enumerate(notes_fen, start=1)
    ]
    for path, body in steps:
        answer = await kiosk.post(path, body)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
    return transaction_id


async def confirm_kiosk_session(kiosk: Kiosk, *, transaction_id: str) -> Answer:
    """Press 确定: return the answer (a credited session and its receipt)."""
    return await kiosk.post(f"{SESSIONS}/{transaction_id}/confirm")


# ----


async def drive_kiosk_session(
    http: Timed,
    *,
    kiosk_id: str,
    secret: str,
    account_number: str,
    notes_fen: tuple[int, ...],
) -> tuple[str, Answer]:
    """Walk one kiosk session from the account to 确定 on one connection, as a kiosk does;
    return its id and the confirm's answer."""
    async with http.connection() as connection:
        kiosk = Kiosk(connection, kiosk_id, secret)
        transaction = await insert_kiosk_notes(
            kiosk, account_number=account_number, notes_fen=notes_fen
        )
        return transaction, await confirm_kiosk_session(kiosk, transaction_id=transaction)


async def send_callback(http: Timed, *, serial: str, debit_id: str) -> Answer:
    """Post one signed successful callback for a debit, as the bank does."""
    body = bank.encode_callback(
        payments.BankCallback(
            serial=serial,
            debit_id=debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=Money(fen=DEBIT_FEN),
            at=datetime.now(SHANGHAI),  # the server runs on the system clock: in its window
        )
    )
    headers = {bank.SIGNATURE_HEADER: bank.sign(SECRET.encode(), body)}
    return await http.request("POST", "/bank/callbacks", content=body, headers=headers)


def ledger_state(url: str) -> tuple[dict[str, int], list[str], bool, int, int]:
    """Return the kiosk credits by transaction, the bank serials credited, whether the ledger
    reconciles (balances and debits), and the sums of the journal and the balances."""
    storage = bootstrap.build_storage(Settings(database_url=url))

    async def reconcile() -> bool:
        return not await reconcile_ledger(uow=storage.reader_factory())

    try:
        clean = asyncio.run(reconcile())
        with storage.engine.connect() as connection:
            kiosk_rows = connection.execute(
                sa.text(
                    "SELECT channel_reference, amount_fen FROM payments WHERE channel = 'KIOSK'"
                )
            ).all()
            bank_rows = connection.execute(
                sa.text("SELECT channel_reference FROM payments WHERE channel = 'BANK_AUTO'")
            ).all()
            journal, cached = connection.execute(
                sa.text(
                    "SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries),"
                    " (SELECT COALESCE(SUM(balance_fen), 0) FROM balances)"
                )
            ).one()
    finally:
        storage.close()
    credited: dict[str, int] = {}
    for reference, fen in kiosk_rows:
        assert reference not in credited, f"kiosk session {reference} credited twice"
        credited[reference] = fen
    return credited, [serial for (serial,) in bank_rows], clean, int(journal), int(cached)


def start_server(url: str, tmp_path: Path) -> Server:
    server = Server(url, free_port(), tmp_path / "server.log")
    server.start(timeout_s=30)
    return server


class TestConcurrentKioskConfirms:
    async def test_more_confirms_than_threads_all_succeed_and_the_database_still_answers(
        self, database_url: str, tmp_path: Path
    ) -> None:
        numbers = KIOSK_ACCOUNTS[:CONCURRENT_CONFIRMS]
        prepared = await asyncio.to_thread(
            prepare, database_url, kiosk_accounts=numbers, bank_accounts=[]
        )
        server = start_server(database_url, tmp_path)
        http = Timed(server.base)
        try:
            async with contextlib.AsyncExitStack() as stack:
                kiosks = [
                    Kiosk(await stack.enter_async_context(http.connection()), kiosk_id, secret)
                    for kiosk_id, secret in prepared.kiosks
                ]
                transactions = [
                    await insert_kiosk_notes(kiosk, account_number=number, notes_fen=(10000,))
                    for kiosk, number in zip(kiosks, numbers, strict=True)
                ]
                # Everybody presses 确定 at once.
                confirms = await asyncio.wait_for(
                    asyncio.gather(
                        *(
                            confirm_kiosk_session(kiosk, transaction_id=transaction)
                            for kiosk, transaction in zip(kiosks, transactions, strict=True)
                        )
                    ),
                    timeout=30,
                )
                shown = await asyncio.wait_for(
                    kiosks[0].get(f"{SESSIONS}/{transactions[0]}"), timeout=10
                )
            health = await asyncio.wait_for(http.request("GET", "/healthz"), timeout=10)
        finally:
            server.stop()
        credited, _serials, clean, journal, cached = await asyncio.to_thread(
            ledger_state, database_url
        )

        assert [answer.status_code for answer in confirms] == [200] * len(transactions)
        assert shown.status_code == 200
        assert shown.json()["state"] == "CREDITED"
        assert health.status_code == 200
        assert credited == dict.fromkeys(transactions, 10000)
        assert clean
        assert journal == cached == 10000 * len(transactions)


@pytest.mark.slow
class TestConcurrentLoad:
    async def test_bank_callbacks_and_kiosk_sessions_all_at_once(
        self, database_url: str, tmp_path: Path
    ) -> None:
        prepared = await asyncio.to_thread(
            prepare, database_url, kiosk_accounts=KIOSK_ACCOUNTS, bank_accounts=BANK_ACCOUNTS
        )
        debit_ids = prepared.debit_ids
        server = start_server(database_url, tmp_path)
        sessions = [
            (kiosk, number, (10000, 2000) if i % 2 else (5000,))
            for i, (kiosk, number) in enumerate(zip(prepared.kiosks, KIOSK_ACCOUNTS, strict=True))
        ]
        started = time.monotonic()
        http = Timed(server.base)
        try:
            kiosk_answers, bank_answers = await asyncio.wait_for(
                asyncio.gather(
                    asyncio.gather(
                        *(
                            drive_kiosk_session(
                                http,
                                kiosk_id=kiosk_id,
                                secret=secret,
                                account_number=number,
                                notes_fen=notes,
                            )
                            for (kiosk_id, secret), number, notes in sessions
                        )
                    ),
                    asyncio.gather(
                        *(
                            send_callback(http, serial=f"SER-LOAD-{i:04d}", debit_id=debit)
                            for i, debit in enumerate(debit_ids)
                        )
                    ),
                ),
                timeout=90,
            )
            health = await http.request("GET", "/healthz")
        finally:
            server.stop()
        elapsed_s = time.monotonic() - started
        credited, serials, clean, journal, cached = await asyncio.to_thread(
            ledger_state, database_url
        )
        expected_kiosk = {
            transaction: sum(notes)
            for (transaction, _answer), (_kiosk, _number, notes) in zip(
                kiosk_answers, sessions, strict=True
            )
        }

        assert len(debit_ids) == len(BANK_ACCOUNTS)
        assert http.server_errors() == []
        assert http.slowest_s() < SLOWEST_S, f"slowest answer {http.slowest_s():.2f} s"
        assert {answer.status_code for _transaction, answer in kiosk_answers} == {200}
        assert {answer.status_code for answer in bank_answers} == {200}
        assert health.status_code == 200
        assert credited == expected_kiosk
        assert sorted(serials) == sorted(f"SER-LOAD-{i:04d}" for i in range(len(debit_ids)))
        assert clean
        assert journal == cached == sum(expected_kiosk.values()) + DEBIT_FEN * len(debit_ids)
        # The measurement, shown with -s.
        print(f"\n{len(http.answers)} requests in {elapsed_s:.1f} s; {http.summary()}")
