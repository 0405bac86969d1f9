"""The SQL unit of work: one connection, one transaction, run in worker threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy.engine import Connection, Engine

from wattbook.adapters.db._engine import SQLITE_BEGIN_OPTION
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
        self._worker.connection = await asyncio.to_thread(self._begin)
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
        if connection is None:
            return

        def finish() -> None:
            try:
                if connection.in_transaction():
                    connection.rollback()
            finally:
                connection.close()

        # Shielded: a cancelled use case must still give its connection back to the pool.
        await asyncio.shield(asyncio.to_thread(finish))

    async def commit(self) -> None:
        """Commit the transaction."""
        await self._worker.run(self._worker.conn().commit)


def unit_of_work_factory(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    """Return a factory that makes a fresh SQL unit of work per use case."""

    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    return make
