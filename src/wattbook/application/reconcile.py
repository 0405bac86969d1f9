"""Recompute every balance from the journal and report the differences (issue 3, item 4)."""

from __future__ import annotations

from wattbook.application import ports


async def reconcile_ledger(*, uow: ports.UnitOfWork) -> tuple[ports.BalanceDifference, ...]:
    """Return every account whose cached balance differs from the sum of its entries."""
    async with uow:
        return await uow.ledger.reconcile()
