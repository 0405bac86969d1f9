"""The JSON API's feeds: accounts with balances, an account's readings, payments; by cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from wattbook.application import read_ports
from wattbook.application.queries import report_ports as rp
from wattbook.application.queries._portal import InvalidPage
from wattbook.domain.values import AccountNumber

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    """Up to ``limit`` items, and whether more follow the last one."""

    items: tuple[T, ...]
    more: bool


def _checked(limit: int) -> int:
    if not 1 <= limit <= rp.MAX_PAGE:
        raise InvalidPage(f"limit must be from 1 to {rp.MAX_PAGE}")
    return limit


def _page(found: tuple[T, ...], limit: int) -> Page[T]:
    # One more than asked was read: its presence says another page follows.
    return Page(items=found[:limit], more=len(found) > limit)


async def account_page(
    *, uow: read_ports.ReportingUnitOfWork, after: AccountNumber | None, limit: int
) -> Page[rp.AccountRow]:
    """Return the accounts (with balances) after ``after``, by number.

    :raises InvalidPage: if ``limit`` is out of range.
    """
    async with uow:
        found = await uow.reports.accounts_page(after=after, limit=_checked(limit) + 1)
    return _page(found, limit)


async def account_detail(
    *, uow: read_ports.ReportingUnitOfWork, number: AccountNumber
) -> rp.AccountRow:
    """Return one account with its balance.

    :raises UnknownAccount: if there is no such account.
    """
    async with uow:
        return await uow.reports.account(number)


async def reading_page(
    *,
    uow: read_ports.ReportingUnitOfWork,
    number: AccountNumber,
    after_id: int | None,
    limit: int,
) -> Page[rp.ReadingRow]:
    """Return the account's readings after ``after_id``, oldest first.

    :raises InvalidPage: if ``limit`` is out of range.
    :raises UnknownAccount: if there is no such account.
    """
    async with uow:
        found = await uow.reports.readings_page(
            number=number, after_id=after_id, limit=_checked(limit) + 1
        )
    return _page(found, limit)


async def payment_page(
    *,
    uow: read_ports.ReportingUnitOfWork,
    number: AccountNumber | None,
    after_id: int | None,
    limit: int,
) -> Page[rp.PaymentRow]:
    """Return the payments (of one account, or all) after ``after_id``, oldest first.

    :raises InvalidPage: if ``limit`` is out of range.
    :raises UnknownAccount: if ``number`` names no account.
    """
    async with uow:
        found = await uow.reports.payments_page(
            number=number, after_id=after_id, limit=_checked(limit) + 1
        )
    return _page(found, limit)
