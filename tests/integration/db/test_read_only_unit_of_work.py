"""The read-only unit of work (issue 16): a snapshot beside the writer, and no writes."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy.engine import Engine
from tests.integration.db.databases import same_database

from wattbook.adapters import db
from wattbook.application.billing.reconcile import reconcile_ledger
from wattbook.application.headend.list_alarms import list_alarms
from wattbook.domain import accounts, ledger
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import AccountNumber, Money

AT = datetime(2027, 1, 5, 1, 0, tzinfo=UTC)
NUMBER = AccountNumber(value="051600000001")


async def _open_account(engine: Engine, *, opening_fen: int = 0) -> None:
    async with db.SqlUnitOfWork(engine) as uow:
        await uow.accounts.add(
            accounts.open_account(
                number=NUMBER,
                holder=accounts.Holder(name="李四"),
                phone=None,
                address=accounts.Address(text="丙6-1-801"),
                at=AT,
            )
        )
        if opening_fen:
            await uow.ledger.post((_top_up("OPENING", opening_fen),))
        await uow.commit()


def _top_up(reference: str, fen: int) -> ledger.Entry:
    return ledger.Entry(
        account_number=NUMBER,
        reference=reference,
        kind=ledger.EntryKind.TOP_UP,
        amount=Money(fen=fen),
        at=AT,
    )


class TestReadOnlyUnitOfWork:
    async def test_reads_a_snapshot_while_a_writer_holds_the_database(self, engine: Engine) -> None:
        await _open_account(engine, opening_fen=1000)

        async with db.SqlUnitOfWork(engine) as writer:
            # The writer holds BEGIN IMMEDIATE (SQLite) or the balance row (PostgreSQL).
            await writer.ledger.post((_top_up("PENDING", 500),))
            # Were the reader to wait for the writer, it would wait for ever: the timeout says so.
            async with asyncio.timeout(10), db.SqlReadOnlyUnitOfWork(engine) as reader:
                balances = await reader.ledger.balances((NUMBER,))
                session = await reader.payments.kiosk_session("K01-0123456789abcdef")
            await writer.commit()

        assert balances[NUMBER] == Money(fen=1000)  # the uncommitted top-up is not seen
        assert session is None

    async def test_a_writer_on_sqlite_still_waits_for_the_writer_before_it(
        self, engine: Engine
    ) -> None:
        if engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL writers only wait for the rows they lock")
        await _open_account(engine)

        async with db.SqlUnitOfWork(engine):
            second = db.SqlUnitOfWork(engine)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(second.__aenter__(), timeout=0.3)
            async with db.SqlReadOnlyUnitOfWork(engine) as reader:
                balances = await reader.ledger.balances((NUMBER,))

        assert balances[NUMBER] == Money(fen=0)

    async def test_refuses_a_write_and_writes_nothing(self, engine: Engine) -> None:
        # One connection only, so the writer below gets the very connection the reader had:
        # it must not still refuse writes.
        single = same_database(engine, workers=1)
        try:
            async with db.SqlReadOnlyUnitOfWork(single) as reader:
                alarms = cast(Any, reader.alarms)
                with pytest.raises(db.WriteRefused):
                    await alarms.raise_alarm(
                        kind=AlarmKind.BUS_UNREACHABLE, subject="bus-1", detail="", at=AT
                    )
            async with db.SqlUnitOfWork(single) as writer:
                before = await writer.alarms.alarms()
                await writer.alarms.raise_alarm(
                    kind=AlarmKind.BUS_UNREACHABLE, subject="bus-2", detail="", at=AT
                )
                await writer.commit()
            async with db.SqlReadOnlyUnitOfWork(single) as reader:
                after = await reader.alarms.alarms()
        finally:
            single.dispose()

        assert before == ()
        assert [alarm.subject for alarm in after] == ["bus-2"]

    async def test_has_no_commit(self, engine: Engine) -> None:
        reader = db.SqlReadOnlyUnitOfWork(engine)

        assert not hasattr(reader, "commit")

    async def test_serves_the_read_use_cases(self, engine: Engine) -> None:
        await _open_account(engine, opening_fen=1000)
        reader = db.reader_factory(engine)

        report = await reconcile_ledger(uow=reader())
        alarms = await list_alarms(uow=reader())

        assert not report
        assert alarms == ()


class TestAdmission:
    async def test_a_full_gate_answers_database_busy_after_the_queue_timeout(
        self, engine: Engine
    ) -> None:
        small = same_database(engine, workers=2, queue_timeout_s=0.3)
        try:
            async with db.SqlReadOnlyUnitOfWork(small), db.SqlReadOnlyUnitOfWork(small):
                started = time.monotonic()
                with pytest.raises(db.DatabaseBusy):
                    async with db.SqlUnitOfWork(small):
                        pass
                waited_s = time.monotonic() - started
            async with db.SqlUnitOfWork(small) as uow:  # the slots came back
                await uow.alarms.alarms()
        finally:
            small.dispose()

        assert waited_s >= 0.25  # it waited its queue timeout; raising proves it gave up

    async def test_a_cancelled_unit_of_work_gives_its_worker_back(self, engine: Engine) -> None:
        small = same_database(engine, workers=1, queue_timeout_s=2)
        release = threading.Event()

        async def stuck() -> None:
            async with db.SqlReadOnlyUnitOfWork(small) as uow:
                await uow.call(lambda _connection: release.wait(5))

        try:
            task = asyncio.create_task(stuck())
            await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.sleep(0.1)
            release.set()  # the call ends; only then is the worker given back
            with pytest.raises(asyncio.CancelledError):
                await task
            async with db.SqlUnitOfWork(small) as uow:
                alarms = await uow.alarms.alarms()
        finally:
            release.set()
            small.dispose()

        assert alarms == ()

    async def test_disposing_the_engine_stops_its_threads(self, engine: Engine) -> None:
        other = same_database(engine, workers=3)
        async with db.SqlUnitOfWork(other) as uow:
            await uow.alarms.alarms()
        running = _database_threads()

        other.dispose()
        deadline = time.monotonic() + 5
        while _database_threads() >= running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        left = _database_threads()
        async with db.SqlUnitOfWork(other) as uow:  # usable again: new workers start
            alarms = await uow.alarms.alarms()
        other.dispose()

        assert left < running
        assert alarms == ()


def _database_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name.startswith("wattbook-db"))


async def test_a_unit_of_work_cancelled_while_it_begins_gives_its_connection_back(
    engine: Engine,
) -> None:
    # The transaction begins inside the first call that needs the connection (ADR 17).
    single = same_database(engine, workers=1, queue_timeout_s=2)
    gate = threading.Event()
    began = threading.Event()

    class SlowToBegin(db.SqlUnitOfWork):
        def _begin(self) -> Any:
            began.set()
            gate.wait(5)
            return super()._begin()

    async def enter() -> None:
        async with SlowToBegin(single) as uow:
            await uow.alarms.alarms()

    try:
        task = asyncio.create_task(enter())
        await asyncio.to_thread(began.wait, 5)
        task.cancel()
        await asyncio.sleep(0.05)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        checked_out = single.pool.checkedout()  # type: ignore[attr-defined]
        async with db.SqlUnitOfWork(single) as uow:
            alarms = await uow.alarms.alarms()
    finally:
        gate.set()
        single.dispose()

    assert checked_out == 0
    assert alarms == ()
