"""Recompute every balance from the journal and check every bank debit."""

from __future__ import annotations

from dataclasses import dataclass

from wattbook.application import read_ports
from wattbook.application.billing import ports as billing_ports
from wattbook.domain import payments


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerReport:
    """What reconciling the ledger found: balances off their journal, and bank debits
    credited twice or credited while they failed."""

    balances: tuple[billing_ports.BalanceDifference, ...]
    debits: tuple[payments.Mismatch, ...]

    def __bool__(self) -> bool:
        return bool(self.balances or self.debits)


async def reconcile_ledger(*, uow: read_ports.ReadOnlyUnitOfWork) -> LedgerReport:
    """Return every account whose cached balance differs from the sum of its entries, and
    every bank debit credited more than once or credited while it failed."""
    async with uow:
        balances = await uow.ledger.reconcile()
        debits = await uow.payments.debit_credits(day=None)
    return LedgerReport(balances=balances, debits=payments.check_debits(debits=debits))
