"""Order keep-power for an account (A3): no cut for lack of money while it lasts."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.prepaid import ports as prepaid_ports
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import prepaid
from wattbook.domain.values import AccountNumber, Period


async def order_keep_power(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    period: Period,
    ordered_by: str,
    reason: str,
) -> tuple[prepaid.Command, ...]:
    """Record the order with who gave it and why, and let the rules close a tripped relay.

    :raises UnknownAccount: if there is no such account.
    :raises ValueError: if ``ordered_by`` or ``reason`` is blank (A3 records both).
    """
    if not ordered_by.strip() or not reason.strip():
        raise ValueError("a keep-power order records who ordered it and why")
    now = clock.now()
    async with uow:
        await uow.accounts.get(number)
        await uow.prepaid.add_keep_power(
            prepaid_ports.KeepPowerOrder(
                account_number=number,
                period=period,
                ordered_by=ordered_by,
                reason=reason,
                created_at=now,
            )
        )
        commands = await apply_prepaid_rules(uow, numbers=(number,), now=now)
        await uow.commit()
    return commands
