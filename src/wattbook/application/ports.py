"""The ports every area shares: the clock and the unit of work that carries every repository.

Each business area keeps its own repository Protocols and records in its ``ports`` module
(``application/accounts/ports.py``, ``application/payments/ports.py``, ...); the unit of work
composes them, so one transaction spans the areas a use case touches (CONVENTIONS §2).
Repositories work on batches where ingest needs it (one query for many meters), so that a bus
sweep of readings costs a handful of statements rather than a handful per reading.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from wattbook.application.accounts.ports import AccountRepository, MeterRepository
from wattbook.application.alarm_ports import AlarmRepository
from wattbook.application.api.ports import ApiTokenRepository
from wattbook.application.billing.ports import (
    ChargeRepository,
    LedgerRepository,
    TariffRepository,
)
from wattbook.application.headend.ports import HeadendRepository
from wattbook.application.metering.ports import IngestRepository, UsageRepository
from wattbook.application.notifications.ports import SmsOutbox
from wattbook.application.payments.ports import PaymentRepository
from wattbook.application.prepaid.calendar_ports import CalendarRepository
from wattbook.application.prepaid.ports import Outbox, PrepaidRepository
from wattbook.application.staff.ports import StaffRepository


class Clock(Protocol):
    """Tell the time."""

    def now(self) -> datetime:
        """Return the current time, aware."""
        ...


class UnitOfWork(Protocol):
    """One transaction: ``async with uow: ...; await uow.commit()``; leaving rolls back."""

    accounts: AccountRepository
    meters: MeterRepository
    ledger: LedgerRepository
    tariffs: TariffRepository
    charges: ChargeRepository
    usage: UsageRepository
    prepaid: PrepaidRepository
    outbox: Outbox
    sms: SmsOutbox
    headend: HeadendRepository
    payments: PaymentRepository
    ingest: IngestRepository
    alarms: AlarmRepository
    calendar: CalendarRepository
    api_tokens: ApiTokenRepository
    staff: StaffRepository

    async def __aenter__(self) -> Self:
        """Begin the transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed and release the connection."""
        ...

    async def commit(self) -> None:
        """Commit the transaction."""
        ...


class UnitOfWorkFactory(Protocol):
    """Make a fresh unit of work per use case."""

    def __call__(self) -> UnitOfWork:
        """Return a new, not yet entered, unit of work."""
        ...
