"""Each path that acknowledges money commits durably before it answers (ADR 18).

The engine is instrumented at the connection: at every commit the test asks the connection
itself how durable that commit is (SQLite: ``PRAGMA synchronous``, FULL or more; PostgreSQL:
``SHOW synchronous_commit``, not off) and notes which money tables the transaction wrote.
Then each path is driven over HTTP (bank callback, kiosk note and confirmation, the console's
counter, the JSON API's payment); its answer must come after a durable commit that holds its
row, which a second connection then reads. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer
from tests.integration.web.api_client import bearer, campus, token
from tests.integration.web.conftest import SECRET, web_runtime
from tests.integration.web.console.helpers import create_operators, log_in
from tests.integration.web.kiosk_client import NOTES, SESSIONS, KioskAuth, note, register_kiosk

from wattbook.adapters import bank, db
from wattbook.adapters.passwords import Argon2Hasher
from wattbook.bootstrap import WebRuntime
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber
from wattbook.interfaces.web import create_app
from wattbook.settings import WebSettings

ACCOUNT = "051600001234"
_MONEY_WRITE = re.compile(
    r"^\s*(INSERT\s+INTO|UPDATE)\s+\"?(payments|ledger_entries|bank_callbacks|kiosk_notes"
    r"|kiosk_sessions|balances)\b",
    re.IGNORECASE,
)


@dataclass
class CommitLog:
    """Every commit on the engine: its durability setting and the money tables it wrote."""

    commits: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def clear(self) -> None:
        self.commits.clear()

    def money_commits(self) -> list[tuple[str, frozenset[str]]]:
        return [(setting, tables) for setting, tables in self.commits if tables]


def durability(connection: Connection) -> str:
    """Return the connection's own durability setting, asked of the driver."""
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        return {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            driver.execute("PRAGMA synchronous").fetchone()[0]
        ]
    with driver.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def is_durable(setting: str) -> bool:
    """Test whether a commit with this setting is on disk when it returns."""
    return setting in ("FULL", "EXTRA", "on", "local", "remote_write", "remote_apply")


@pytest.fixture
def commit_log(engine: Engine) -> Iterator[CommitLog]:
    """Yield the log of the engine's commits from now on."""
    log = CommitLog()
    written: dict[int, set[str]] = {}

    def before_execute(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        found = _MONEY_WRITE.match(statement)
        if found is not None:
            written.setdefault(id(connection.connection), set()).add(found.group(2).lower())

    def on_commit(connection: Connection) -> None:
        tables = written.pop(id(connection.connection), set())
        log.commits.append((durability(connection), frozenset(tables)))

    def on_rollback(connection: Connection) -> None:
        written.pop(id(connection.connection), None)

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    yield log
    event.remove(engine, "before_cursor_execute", before_execute)
    event.remove(engine, "commit", on_commit)
    event.remove(engine, "rollback", on_rollback)


def assert_durable_money_commit(log: CommitLog, *tables: str) -> None:
    money = log.money_commits()
    assert money, "the path answered without committing any money"
    assert all(is_durable(setting) for setting, _tables in log.commits), log.commits
    assert set(tables) <= set().union(*(written for _setting, written in money)), money


@pytest.fixture
async def runtime(engine: Engine, clock: FakeClock) -> WebRuntime:
    built = web_runtime(
        engine,
        clock,
        wall_clock=FakeClock(local(2025, 6, 10, 9, 0)),
        web=WebSettings(bank_secret=SECRET, allowed_hosts=("kiosk.test",)),
    )
    object.__setattr__(built, "password_hasher", Argon2Hasher(fast=True))
    return built


@pytest.fixture
async def app_transport(runtime: WebRuntime) -> AsyncIterator[httpx.ASGITransport]:
    app = create_app(runtime, background=False)
    yield httpx.ASGITransport(app=app)
    await app.state.batcher.close()


async def _payment(engine: Engine, channel: payments.Channel, reference: str) -> Any:
    """Read a payment through a second connection (only a committed row is there)."""
    async with db.reader_factory(engine)() as reader:
        return (await reader.payments.by_channel_reference(channel, (reference,))).get(reference)


class TestTheInstrument:
    def test_tells_a_durable_commit_from_one_that_is_not(
        self, engine: Engine, commit_log: CommitLog
    ) -> None:
        with engine.connect() as connection:
            driver: Any = connection.connection.driver_connection
            if connection.dialect.name == "sqlite":
                driver.execute("PRAGMA synchronous=NORMAL")  # outside any transaction
            else:
                with driver.cursor() as cursor:
                    cursor.execute("SET synchronous_commit TO off")
                driver.commit()
            commit_log.clear()

            connection.exec_driver_sql("SELECT 1")
            connection.commit()
            connection.invalidate()  # relaxed: it must not go back to the pool

        ((relaxed, _tables),) = commit_log.commits
        assert not is_durable(relaxed)

    def test_finds_every_new_connection_durable(self, engine: Engine) -> None:
        with engine.connect() as connection:
            assert is_durable(durability(connection))


class TestMoneyIsAnsweredAfterADurableCommit:
    async def test_a_bank_callback(
        self,
        app_transport: httpx.ASGITransport,
        engine: Engine,
        clock: FakeClock,
        commit_log: CommitLog,
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        body = bank.encode_callback(home.success(debit, "SER-DURABLE"))
        commit_log.clear()

        async with httpx.AsyncClient(
            transport=app_transport, base_url="http://kiosk.test"
        ) as client:
            answer = await client.post(
                "/bank/callbacks",
                content=body,
                headers={
                    bank.SIGNATURE_HEADER: bank.sign(SECRET.encode(), body),
                    "Content-Type": "application/json",
                },
            )

        assert answer.status_code == 200, answer.text
        assert_durable_money_commit(commit_log, "payments", "ledger_entries", "bank_callbacks")
        paid = await _payment(engine, payments.Channel.BANK_AUTO, "SER-DURABLE")
        assert str(paid.receipt_number) == answer.json()["receipt_number"]

    async def test_a_kiosk_note_and_its_confirmation(
        self,
        app_transport: httpx.ASGITransport,
        engine: Engine,
        clock: FakeClock,
        runtime: WebRuntime,
        commit_log: CommitLog,
    ) -> None:
        await Payer(engine, clock).open(opening=None)
        secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
        async with httpx.AsyncClient(
            transport=app_transport,
            base_url="http://kiosk.test",
            auth=KioskAuth("K01", secret, runtime.wall_clock.now),
        ) as kiosk:
            txn = (await kiosk.post(SESSIONS)).json()["transaction_id"]
            await kiosk.post(f"{SESSIONS}/{txn}/account", json={"account_number": ACCOUNT})
            await kiosk.post(f"{SESSIONS}/{txn}/details-confirmed")
            commit_log.clear()

            taken = await kiosk.post(NOTES, json=note(1, 10000))

            assert taken.status_code == 200, taken.text
            assert_durable_money_commit(commit_log, "kiosk_notes")
            commit_log.clear()

            done = await kiosk.post(f"{SESSIONS}/{txn}/confirm")

        assert done.status_code == 200, done.text
        assert_durable_money_commit(commit_log, "payments", "ledger_entries")
        receipt = done.json()["receipt"]["number"]
        async with db.reader_factory(engine)() as reader:
            assert (await reader.payments.by_receipt(receipt)).amount.fen == 10000

    async def test_a_counter_payment_in_the_console(
        self,
        app_transport: httpx.ASGITransport,
        engine: Engine,
        clock: FakeClock,
        runtime: WebRuntime,
        commit_log: CommitLog,
    ) -> None:
        await create_operators(runtime)
        await Payer(engine, clock).open(opening=None)
        async with httpx.AsyncClient(
            transport=app_transport, base_url="http://kiosk.test"
        ) as console:
            csrf = await log_in(console, "cashier")
            commit_log.clear()

            paid = await console.post(
                "/console/counter/top-up",
                data={"csrf_token": csrf, "number": ACCOUNT, "amount": "50.00", "token": "t-1"},
            )

        assert paid.status_code == 303, paid.text
        assert_durable_money_commit(commit_log, "payments", "ledger_entries")
        assert await _payment(engine, payments.Channel.COUNTER, "cashier:t-1") is not None

    async def test_a_payment_through_the_json_api(
        self,
        app_transport: httpx.ASGITransport,
        engine: Engine,
        clock: FakeClock,
        commit_log: CommitLog,
    ) -> None:
        await campus(engine, clock)
        secret = await token(engine, clock, ("payments",))
        commit_log.clear()

        async with httpx.AsyncClient(
            transport=app_transport, base_url="http://kiosk.test"
        ) as client:
            answer = await client.post(
                "/api/v1/payments",
                json={"account_number": "051600006001", "amount_fen": 5000},
                headers=bearer(secret) | {"Idempotency-Key": "durable-1"},
            )

        assert answer.status_code == 201, answer.text
        assert_durable_money_commit(commit_log, "payments", "ledger_entries")
        async with db.reader_factory(engine)() as reader:
            balances = await reader.ledger.balances([AccountNumber(value="051600006001")])
        assert balances[AccountNumber(value="051600006001")].fen == 5100
