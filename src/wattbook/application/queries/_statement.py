"""Monthly charge details (B3, Q4)."""

from __future__ import annotations

from wattbook.application import read_ports
from wattbook.domain import billing
from wattbook.domain.values import AccountNumber


async def monthly_statement(
    *, uow: read_ports.ReadOnlyUnitOfWork, number: AccountNumber
) -> tuple[billing.StatementLine, ...]:
    """Return the account's statement lines: month, item, price, kWh, amount, paid or not.

    A month counts as paid when the balance plus the charges of later months is at least
    zero: credits pay the oldest charges first (see ``billing.monthly_statement``).

    :raises UnknownAccount: if there is no such account.
    """
    async with uow:
        await uow.accounts.get(number)
        totals = await uow.charges.totals((number,), years=None)
        credits = await uow.ledger.migration_credits(number)
        balances = await uow.ledger.balances((number,))
        tariffs = await uow.tariffs.history()
    return billing.monthly_statement(
        totals=totals.get(number, ()),
        tariffs=tariffs,
        migration_credits=credits,
        balance=balances[number],
    )
