"""The audit log (A4): every staff action, written in the same transaction as the action.

A console route (or a field tool) runs an existing use case on :func:`audited` units of work:
the audit record is appended by the unit of work's own ``commit``, so the action and its trace
are committed together or not at all, and no use case needs to know who is watching.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from wattbook.application import alarm_ports, ports
from wattbook.application.accounts import ports as account_ports
from wattbook.application.api import ports as api_ports
from wattbook.application.billing import ports as billing_ports
from wattbook.application.headend import ports as headend_ports
from wattbook.application.metering import ports as metering_ports
from wattbook.application.notifications import ports as sms_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.prepaid import calendar_ports
from wattbook.application.prepaid import ports as prepaid_ports
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff
from wattbook.domain.values import MeterNumber


class AuditTrail:
    """What one staff action writes; ``written`` tells whether it was committed."""

    def __init__(self, records: Callable[[], Sequence[staff.AuditRecord]]) -> None:
        self._records = records
        self.written = False

    def records(self) -> Sequence[staff.AuditRecord]:
        """Return the records to write now."""
        return self._records()


class _AuditedUnitOfWork:
    """A unit of work whose first commit appends the trail's records before committing."""

    def __init__(self, inner: ports.UnitOfWork, trail: AuditTrail) -> None:
        self._inner = inner
        self._trail = trail
        self.accounts: account_ports.AccountRepository = inner.accounts
        self.meters: account_ports.MeterRepository = inner.meters
        self.ledger: billing_ports.LedgerRepository = inner.ledger
        self.tariffs: billing_ports.TariffRepository = inner.tariffs
        self.charges: billing_ports.ChargeRepository = inner.charges
        self.usage: metering_ports.UsageRepository = inner.usage
        self.prepaid: prepaid_ports.PrepaidRepository = inner.prepaid
        self.outbox: prepaid_ports.Outbox = inner.outbox
        self.sms: sms_ports.SmsOutbox = inner.sms
        self.headend: headend_ports.HeadendRepository = inner.headend
        self.payments: payment_ports.PaymentRepository = inner.payments
        self.ingest: metering_ports.IngestRepository = inner.ingest
        self.alarms: alarm_ports.AlarmRepository = inner.alarms
        self.calendar: calendar_ports.CalendarRepository = inner.calendar
        self.staff: staff_ports.StaffRepository = inner.staff
        self.api_tokens: api_ports.ApiTokenRepository = inner.api_tokens

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, traceback)

    async def commit(self) -> None:
        if not self._trail.written:
            await self._inner.staff.append_audit(self._trail.records())
        await self._inner.commit()
        self._trail.written = True


def audited(factory: ports.UnitOfWorkFactory, trail: AuditTrail) -> Callable[[], ports.UnitOfWork]:
    """Return a unit-of-work factory whose units write ``trail`` with their first commit."""

    def make() -> ports.UnitOfWork:
        return _AuditedUnitOfWork(factory(), trail)

    return make


async def record_action(*, uow: ports.UnitOfWork, records: Sequence[staff.AuditRecord]) -> None:
    """Append records for an action that has no transaction of its own (a meter read)."""
    async with uow:
        await uow.staff.append_audit(records)
        await uow.commit()


async def search_audit(
    *, uow: ports.UnitOfWork, query: staff_ports.AuditQuery
) -> tuple[staff_ports.StoredAuditRecord, ...]:
    """Return the audit records matching ``query``, newest first."""
    async with uow:
        return await uow.staff.search_audit(query)


async def record_field_action(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    meter: MeterNumber,
    action: str,
    by: str,
    outcome: str,
) -> bool:
    """Record a field tool's action on ``meter`` (A4) if the meter is installed on an account
    of this database; return whether it was recorded.

    :raises ValueError: if ``by`` is blank.
    """
    if not by.strip():
        raise ValueError("a field action records who did it")
    async with uow:
        positions = await uow.meters.positions((meter,))
        if meter not in positions:
            return False
        await uow.staff.append_audit(
            (
                staff.AuditRecord(
                    at=clock.now(),
                    actor=by.strip(),
                    action=action,
                    target=str(meter),
                    after=outcome,
                    detail=f"account {positions[meter].installation.account_number}",
                    channel="CLI",
                ),
            )
        )
        await uow.commit()
    return True
