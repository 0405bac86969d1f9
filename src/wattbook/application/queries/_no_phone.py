"""SMS that cannot reach residents: accounts with no mobile number (N2), failed messages."""

from __future__ import annotations

from datetime import datetime

from wattbook.application import read_ports
from wattbook.application.notifications.ports import AccountWithoutPhone, FailedSms
from wattbook.domain.values import AccountNumber


async def accounts_without_phone(
    *, uow: read_ports.ReadOnlyUnitOfWork, after: AccountNumber | None = None, limit: int = 1000
) -> tuple[AccountWithoutPhone, ...]:
    """Return up to ``limit`` open accounts without a phone number, by number after ``after``.

    Each comes with its balance and how many notifications failed for want of a number, so
    the counter staff can ask for one when the resident next comes by.
    """
    async with uow:
        return await uow.sms.without_phone(after=after, limit=limit)


async def failed_sms(
    *, uow: read_ports.ReadOnlyUnitOfWork, since: datetime, limit: int = 1000
) -> tuple[FailedSms, ...]:
    """Return up to ``limit`` messages that failed from ``since`` on, newest first, with why."""
    async with uow:
        return await uow.sms.failed(since=since, limit=limit)
