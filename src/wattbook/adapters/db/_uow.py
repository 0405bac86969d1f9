"""The SQL units of work: one connection, one transaction, run on the engine's own workers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wattbook.adapters.db import _workers
from wattbook.adapters.db._engine import READ_ONLY_OPTION, SQLITE_BEGIN_OPTION
from wattbook.adapters.db._sql import Worker
from wattbook.adapters.db.accounts._repository import SqlAccountRepository, SqlMeterRepository
from wattbook.adapters.db.alarms._repository import SqlAlarmRepository
from wattbook.adapters.db.api._repository import SqlApiTokenRepository
from wattbook.adapters.db.billing._month_end import SqlStatementRepository
from wattbook.adapters.db.billing._repository import (
    SqlChargeRepository,
    SqlLedgerRepository,
    SqlTariffRepository,
    tariff_history,
)
from wattbook.adapters.db.headend._repository import SqlHeadendRepository
from wattbook.adapters.db.metering._ingest import SqlIngestRepository
from wattbook.adapters.db.metering._repository import SqlUsageRepository
from wattbook.adapters.db.notifications._repository import SqlSmsOutbox
from wattbook.adapters.db.payments._repository import SqlPaymentRepository
from wattbook.adapters.db.prepaid._calendar import SqlCalendarRepository
from wattbook.adapters.db.prepaid._repository import (
    SqlOutbox,
    SqlPrepaidRepository,
    prepaid_settings,
)
from wattbook.adapters.db.reports._repository import SqlReportReader
from wattbook.adapters.db.staff._repository import SqlStaffRepository
from wattbook.application import alarm_ports, read_ports
from wattbook.application.accounts import ports as account_ports
from wattbook.application.api import ports as api_ports
from wattbook.application.billing import ports as billing_ports
from wattbook.application.headend import ports as headend_ports
from wattbook.application.metering import ports as metering_ports
from wattbook.application.notifications import ports as sms_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.prepaid import calendar_ports
from wattbook.application.prepaid import ports as prepaid_ports
from wattbook.application.queries import report_ports
from wattbook.application.staff import ports as staff_ports

T = TypeVar("T")

# PostgreSQL's SQLSTATE for a write in a READ ONLY transaction; SQLite's primary result code
# for a write on a connection that may only read (PRAGMA query_only).
_PG_READ_ONLY_SQL_TRANSACTION = "25006"
_SQLITE_READONLY = 8


class UnitOfWorkNotEntered(RuntimeError):
    """A repository was used outside ``async with``."""


class WriteRefused(RuntimeError):
    """A read-only unit of work was asked to write; nothing was written."""


class _ThreadWorker(Worker):
    """Run blocking database calls one at a time on the engine's workers.

    The connection is used by one call at a time (the use case awaits each), so handing it
    between worker threads is safe; SQLite's same-thread check is off for that reason.

    The transaction begins inside the first call that needs the connection (not in a hand-off
    of its own), and a commit gives the connection back in the same hand-off; a call after the
    commit begins a new transaction. A unit of work that reads, writes and commits in one call
    therefore costs one hand-off to a worker thread (ADR 17).
    """

    def __init__(self, *, read_only: bool, begin: Callable[[], Connection]) -> None:
        super().__init__()
        self.connection: Connection | None = None
        self.admission: _workers.Admission | None = None
        # True while the whole unit of work runs on a worker thread (run_in_one_hand_off):
        # each call then runs where it is, with no hand-off of its own.
        self.inline = False
        self._read_only = read_only
        self._begin = begin
        self.handoffs = 0

    def conn(self) -> Connection:
        if self.admission is None:
            raise UnitOfWorkNotEntered("use the unit of work inside 'async with'")
        if self.connection is None:
            # Kept as soon as it exists: the unit of work ends it, whatever happens next.
            self.connection = self._begin()
        return self.connection

    def commit(self) -> None:
        """Commit, and give the connection back to the pool (on the worker thread)."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.commit()
        finally:
            connection.close()

    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        if self.admission is None:
            raise UnitOfWorkNotEntered("use the unit of work inside 'async with'")
        try:
            if self.inline:
                return function(*args)
            self.handoffs += 1
            return await self.admission.run(function, *args)
        except sa.exc.DBAPIError as error:
            if self._read_only and _is_write_refusal(error):
                raise WriteRefused("a read-only unit of work cannot write") from error
            raise


def _is_write_refusal(error: sa.exc.DBAPIError) -> bool:
    original = error.orig
    if getattr(original, "sqlstate", None) == _PG_READ_ONLY_SQL_TRANSACTION:
        return True
    code = getattr(original, "sqlite_errorcode", None)
    return (
        isinstance(original, sqlite3.Error)
        and code is not None
        and code & 0xFF == (_SQLITE_READONLY)
    )


class _SqlTransaction:
    """What both units of work share: admission, begin, and the end that always rolls back
    what was not committed and gives the connection and the worker slot back."""

    _writer: bool

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._worker = _ThreadWorker(read_only=not self._writer, begin=self._begin)

    def _begin(self) -> Connection:
        raise NotImplementedError

    def _end(self, connection: Connection) -> None:
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()

    async def __aenter__(self) -> Self:
        """Wait for a worker; the transaction begins with the first call that needs it.

        :raises DatabaseBusy: if no worker came free within the queue timeout.
        """
        if self._worker.admission is not None:
            raise RuntimeError("this unit of work is already in use")
        handed = _handed_off_admission(self._engine, writer=self._writer)
        if handed is not None:
            # Already on the worker thread that run_in_one_hand_off holds for this unit of
            # work: its calls run right here (the first begins); run_in_one_hand_off releases
            # the slot.
            self._worker.admission = handed
            self._worker.inline = True
            return self
        self._worker.admission = await _workers.workers_of(self._engine).admit(writer=self._writer)
        return self

    async def call(self, function: Callable[[Connection], T]) -> T:
        """Return ``function(connection)`` run on this unit of work's worker, for set-based
        reads that need the connection itself (the month-end statements)."""
        worker = self._worker
        return await worker.run(lambda: function(worker.conn()))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back what was not committed, release the connection, then the worker."""
        connection, self._worker.connection = self._worker.connection, None
        admission, self._worker.admission = self._worker.admission, None
        inline, self._worker.inline = self._worker.inline, False
        self._worker.forget()
        if admission is None:
            return
        if inline:
            try:
                if connection is not None:
                    self._end(connection)
            finally:
                _handed_back()
            return
        try:
            if connection is not None:
                # Admission.run lets the call end even if this task is cancelled meanwhile:
                # the slot is given back only once the connection is back in the pool.
                await admission.run(self._end, connection)
        finally:
            admission.release()


class SqlUnitOfWork(_SqlTransaction):
    """One use case's transaction on a SQLAlchemy engine.

    ``async with uow:`` waits for one of the engine's workers and begins (on SQLite with
    ``BEGIN IMMEDIATE``, so a read-then-write use case never fails half-way on a lock
    upgrade); ``await uow.commit()`` commits; leaving the block without committing rolls back.
    """

    _writer = True

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        worker = self._worker
        self.accounts: account_ports.AccountRepository = SqlAccountRepository(worker)
        self.meters: account_ports.MeterRepository = SqlMeterRepository(worker)
        self.ledger: billing_ports.LedgerRepository = SqlLedgerRepository(worker)
        self.tariffs: billing_ports.TariffRepository = SqlTariffRepository(worker)
        self.charges: billing_ports.ChargeRepository = SqlChargeRepository(worker)
        self.usage: metering_ports.UsageRepository = SqlUsageRepository(worker)
        self.prepaid: prepaid_ports.PrepaidRepository = SqlPrepaidRepository(worker)
        self.outbox: prepaid_ports.Outbox = SqlOutbox(worker)
        self.sms: sms_ports.SmsOutbox = SqlSmsOutbox(worker)
        self.headend: headend_ports.HeadendRepository = SqlHeadendRepository(worker)
        self.payments: payment_ports.PaymentRepository = SqlPaymentRepository(worker)
        self.ingest: metering_ports.IngestRepository = SqlIngestRepository(
            worker, tariffs=tariff_history, settings=prepaid_settings
        )
        self.alarms: alarm_ports.AlarmRepository = SqlAlarmRepository(worker)
        self.calendar: calendar_ports.CalendarRepository = SqlCalendarRepository(worker)
        self.api_tokens: api_ports.ApiTokenRepository = SqlApiTokenRepository(worker)
        self.staff: staff_ports.StaffRepository = SqlStaffRepository(worker)

    def _begin(self) -> Connection:
        connection = self._engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        try:
            connection.begin()
        except BaseException:
            connection.close()
            raise
        return connection

    async def commit(self) -> None:
        """Commit the transaction (nothing to do if none began since the last commit)."""
        if self._worker.connection is not None:
            await self._worker.run(self._worker.commit)

    @property
    def handoffs(self) -> int:
        """How many calls this unit of work has handed to a worker thread so far."""
        return self._worker.handoffs


class SqlMonthEndUnitOfWork(SqlUnitOfWork):
    """The month-end's transaction: a unit of work that also writes the statements.

    On PostgreSQL it is REPEATABLE READ: the lines, their totals and the domain's check of a
    sample all read one snapshot, whatever the ingest commits meanwhile (on SQLite the write
    lock taken up front gives the same).
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.statements: billing_ports.StatementRepository = SqlStatementRepository(self._worker)

    def _begin(self) -> Connection:
        if self._engine.dialect.name != "postgresql":
            return super()._begin()
        connection = self._engine.connect().execution_options(isolation_level="REPEATABLE READ")
        try:
            connection.begin()
        except BaseException:
            connection.close()
            raise
        return connection


class SqlReadOnlyUnitOfWork(_SqlTransaction):
    """A transaction that only reads: a consistent snapshot that never blocks a writer.

    On SQLite it begins DEFERRED with ``PRAGMA query_only`` on, outside the one-writer queue,
    so it reads beside the writer (WAL). On PostgreSQL it is a REPEATABLE READ, READ ONLY
    transaction. A write through it fails with :class:`WriteRefused`; there is no commit.
    """

    _writer = False

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        worker = self._worker
        self.accounts: read_ports.AccountReader = SqlAccountRepository(worker)
        self.ledger: read_ports.LedgerReader = SqlLedgerRepository(worker)
        self.tariffs: read_ports.TariffReader = SqlTariffRepository(worker)
        self.charges: read_ports.ChargeReader = SqlChargeRepository(worker)
        self.sms: read_ports.SmsReader = SqlSmsOutbox(worker)
        self.headend: read_ports.HeadendReader = SqlHeadendRepository(worker)
        self.payments: read_ports.PaymentReader = SqlPaymentRepository(worker)
        self.alarms: alarm_ports.AlarmReader = SqlAlarmRepository(worker)
        self.calendar: read_ports.CalendarReader = SqlCalendarRepository(worker)
        self.prepaid: read_ports.PrepaidReader = SqlPrepaidRepository(worker)
        self.api_tokens: read_ports.ApiTokenReader = SqlApiTokenRepository(worker)
        self.reports: report_ports.ReportReader = SqlReportReader(worker)
        self.staff: read_ports.StaffReader = SqlStaffRepository(worker)

    def _begin(self) -> Connection:
        connection = self._engine.connect().execution_options(**{READ_ONLY_OPTION: True})
        try:
            if connection.dialect.name == "sqlite":
                _query_only(connection, on=True)
                connection = connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            else:
                connection = connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            connection.begin()
        except BaseException:
            self._end(connection)
            raise
        return connection

    def _end(self, connection: Connection) -> None:
        try:
            if connection.in_transaction():
                connection.rollback()
            if connection.dialect.name == "sqlite" and not connection.closed:
                _query_only(connection, on=False)
        except BaseException:
            # A connection that may still refuse writes must not go back to the pool.
            connection.invalidate()
            raise
        finally:
            connection.close()


def _query_only(connection: Connection, *, on: bool) -> None:
    """Switch SQLite's query_only on the driver connection (it outlives the transaction)."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)  # noqa: S101 - SQLite engines only
    driver.execute(f"PRAGMA query_only={'ON' if on else 'OFF'}")


class HandOffSuspended(RuntimeError):
    """A use case run in one hand-off awaited something other than its unit of work."""


@dataclass(slots=True)
class _Held:
    """The admission a run_in_one_hand_off holds on its worker thread, for the writing units
    of work its use case enters one after another (``taken`` while one is entered)."""

    engine: Engine
    admission: _workers.Admission
    taken: bool = False


_handed = threading.local()


def _handed_off_admission(engine: Engine, *, writer: bool) -> _workers.Admission | None:
    held: _Held | None = getattr(_handed, "held", None)
    if held is None:
        return None
    if held.engine is not engine or not writer or held.taken:
        raise HandOffSuspended(
            "a use case run in one hand-off enters writing units of work of the engine it was"
            " handed to, one at a time"
        )
    held.taken = True
    return held.admission


def _handed_back() -> None:
    """Let the use case run in one hand-off enter its next unit of work (one after another)."""
    held: _Held | None = getattr(_handed, "held", None)
    if held is not None:
        held.taken = False


async def run_in_one_hand_off(engine: Engine, use_case: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Return ``await use_case()`` run whole on one of the engine's workers: one hand-off.

    The use case's writing unit of work is admitted here, on the event loop, as ``async
    with`` would admit it; then one worker thread begins, runs every repository call as it
    comes, commits and ends, with no trip back to the event loop in between (a use case of
    several units of work enters them one after another on that thread, in the one write
    turn). A use case is run this way only if all it awaits is its units of work (the money
    paths: payments, callbacks, the kiosk's notes): anything else that would suspend it is
    refused.

    :raises DatabaseBusy: if no worker came free within the queue timeout.
    :raises HandOffSuspended: if the use case awaited anything but its units of work, or
        entered one inside another; what was not committed was rolled back.
    """
    admission = await _workers.workers_of(engine).admit(writer=True)

    def drive() -> T:
        _handed.held = _Held(engine=engine, admission=admission)
        coroutine = use_case()
        try:
            try:
                coroutine.send(None)
            except StopIteration as done:
                result: T = done.value
                return result
            # It suspended on something that is not its unit of work: unwind it here (its
            # unit of work rolls back on the way out), then say so.
            try:
                coroutine.throw(HandOffSuspended("a use case run in one hand-off tried to wait"))
            except StopIteration:
                pass
            finally:
                coroutine.close()
            raise HandOffSuspended("a use case run in one hand-off tried to wait")
        finally:
            del _handed.held

    try:
        return await admission.run(drive)
    finally:
        admission.release()


class DatabaseUnavailable(RuntimeError):
    """The database did not answer a ping: unreachable, failing, or too slow."""

    def __init__(self, message: str, *, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


# How long a health check waits, at the gate and for the answer together.
PING_TIMEOUT_S = 2.0


async def ping(engine: Engine, *, timeout_s: float = PING_TIMEOUT_S) -> None:
    """Run ``SELECT 1`` through the engine's gate and workers, within ``timeout_s``.

    :raises DatabaseUnavailable: with ``problem`` BUSY (no worker came free), TIMEOUT (no
        answer in time) or UNREACHABLE (connecting or the query failed).
    """
    workers = _workers.workers_of(engine)
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        admission = await workers.admit(
            writer=False, timeout_s=min(timeout_s, workers.limits.queue_timeout_s)
        )
    except _workers.DatabaseBusy as error:
        raise DatabaseUnavailable(str(error), problem="BUSY") from error

    def select_one() -> None:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1").scalar_one()

    try:
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
        await admission.run_bounded(select_one, timeout_s=remaining)
    except TimeoutError as error:
        raise DatabaseUnavailable(str(error), problem="TIMEOUT") from error
    except Exception as error:
        raise DatabaseUnavailable(
            f"the database failed a ping: {type(error).__name__}", problem="UNREACHABLE"
        ) from error
    finally:
        admission.release()


def unit_of_work_factory(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    """Return a factory that makes a fresh SQL unit of work per use case."""

    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    return make


def month_end_factory(engine: Engine) -> Callable[[], SqlMonthEndUnitOfWork]:
    """Return a factory that makes a fresh month-end unit of work per run."""

    def make() -> SqlMonthEndUnitOfWork:
        return SqlMonthEndUnitOfWork(engine)

    return make


def reader_factory(engine: Engine) -> Callable[[], SqlReadOnlyUnitOfWork]:
    """Return a factory that makes a fresh read-only unit of work per query."""

    def make() -> SqlReadOnlyUnitOfWork:
        return SqlReadOnlyUnitOfWork(engine)

    return make
