"""The SQL unit of work: one connection, one transaction, run in worker threads."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy.engine import Connection, Engine

from wattbook.adapters.db._engine import SQLITE_BEGIN_OPTION, SQLITE_BUSY_TIMEOUT_MS
from wattbook.adapters.db._repositories import (
    SqlAccountRepository,
    SqlChargeRepository,
    SqlLedgerRepository,
    SqlMeterRepository,
    SqlOutbox,
    SqlPrepaidRepository,
    SqlTariffRepository,
    SqlUsageRepository,
    Worker,
)
from wattbook.adapters.db._repositories_alarms import SqlSystemAlarmRepository
from wattbook.adapters.db._repositories_calendar import SqlCalendarRepository
from wattbook.adapters.db._repositories_headend import SqlHeadendRepository
from wattbook.adapters.db._repositories_ingest import SqlIngestRepository
from wattbook.adapters.db._repositories_payments import SqlPaymentRepository
from wattbook.adapters.db._repositories_sms import SqlSmsOutbox
from wattbook.application import ports

T = TypeVar("T")


class UnitOfWorkNotEntered(RuntimeError):
    """A repository was used outside ``async with``."""


class DatabaseBusy(RuntimeError):
    """Another unit of work in this process held the SQLite database for too long."""


# SQLite takes one writer at a time and every unit of work begins IMMEDIATE, so within one
# process they queue here, on the event loop, before they take a worker thread. Waiting for the
# file lock inside a thread instead would let waiting units of work fill the thread pool while
# the one holding the lock cannot get a thread to commit (seen in the demo once it ran the
# scheduled jobs beside the head-end and the web app). Other processes still meet SQLite's
# busy timeout.
_sqlite_gates: weakref.WeakKeyDictionary[
    Engine, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
] = weakref.WeakKeyDictionary()


def _sqlite_gate(engine: Engine) -> asyncio.Lock | None:
    if engine.dialect.name != "sqlite":
        return None
    loop = asyncio.get_running_loop()
    per_loop = _sqlite_gates.setdefault(engine, weakref.WeakKeyDictionary())
    gate = per_loop.get(loop)
    if gate is None:
        gate = per_loop[loop] = asyncio.Lock()
    return gate


class _ThreadWorker(Worker):
    """Run blocking database calls one at a time in a worker thread.

    The connection is used by one call at a time (the use case awaits each), so handing it
    between pool threads is safe; SQLite's same-thread check is off for that reason.
    """

    def __init__(self) -> None:
        super().__init__()
        self.connection: Connection | None = None

    def conn(self) -> Connection:
        if self.connection is None:
            raise UnitOfWorkNotEntered("use the unit of work inside 'async with'")
        return self.connection

    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        return await asyncio.to_thread(function, *args)


class SqlUnitOfWork:
    """One use case's transaction on a SQLAlchemy engine.

    ``async with uow:`` begins (on SQLite with ``BEGIN IMMEDIATE``, so a read-then-write use
    case never fails half-way on a lock upgrade); ``await uow.commit()`` commits; leaving the
    block without committing rolls back.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._gate: asyncio.Lock | None = None
        self._worker = _ThreadWorker()
        worker = self._worker
        self.accounts: ports.AccountRepository = SqlAccountRepository(worker)
        self.meters: ports.MeterRepository = SqlMeterRepository(worker)
        self.ledger: ports.LedgerRepository = SqlLedgerRepository(worker)
        self.tariffs: ports.TariffRepository = SqlTariffRepository(worker)
        self.charges: ports.ChargeRepository = SqlChargeRepository(worker)
        self.usage: ports.UsageRepository = SqlUsageRepository(worker)
        self.prepaid: ports.PrepaidRepository = SqlPrepaidRepository(worker)
        self.outbox: ports.Outbox = SqlOutbox(worker)
        self.sms: ports.SmsOutbox = SqlSmsOutbox(worker)
        self.headend: ports.HeadendRepository = SqlHeadendRepository(worker)
        self.payments: ports.PaymentRepository = SqlPaymentRepository(worker)
        self.ingest: ports.IngestRepository = SqlIngestRepository(worker)
        self.alarms: ports.SystemAlarmRepository = SqlSystemAlarmRepository(worker)
        self.calendar: ports.CalendarRepository = SqlCalendarRepository(worker)

    def _begin(self) -> Connection:
        connection = self._engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        try:
            connection.begin()
        except BaseException:
            connection.close()
            raise
        return connection

    async def __aenter__(self) -> Self:
        """Begin the transaction."""
        if self._worker.connection is not None:
            raise RuntimeError("this unit of work is already in use")
        gate = _sqlite_gate(self._engine)
        if gate is not None:
            try:
                await asyncio.wait_for(gate.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000)
            except TimeoutError:
                raise DatabaseBusy(
                    "the database stayed busy with other work in this process"
                ) from None
        try:
            self._worker.connection = await asyncio.to_thread(self._begin)
        except BaseException:
            if gate is not None:
                gate.release()
            raise
        self._gate = gate
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back what was not committed and release the connection."""
        connection = self._worker.connection
        self._worker.connection = None
        self._worker.forget()
        gate, self._gate = self._gate, None
        if connection is None:
            return

        def finish() -> None:
            try:
                if connection.in_transaction():
                    connection.rollback()
            finally:
                connection.close()

        # Shielded: a cancelled use case must still give its connection back to the pool.
        try:
            await asyncio.shield(asyncio.to_thread(finish))
        finally:
            if gate is not None:
                gate.release()

    async def commit(self) -> None:
        """Commit the transaction."""
        await self._worker.run(self._worker.conn().commit)


def unit_of_work_factory(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    """Return a factory that makes a fresh SQL unit of work per use case."""

    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    return make
