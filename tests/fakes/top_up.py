"""The tests' shortcut for money in: credit cash the way the counter does, at any hour.

Tests that need a balance to rise (to close a relay, to end a low spell) are not about the
counter's opening hours, so they credit through the one path every channel shares
(``payments._credit.credit_top_ups``) with the counter's channel.
"""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.payments._credit import Credited, TopUp, credit_top_ups
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money


async def top_up(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    amount: Money,
    reference: str,
    channel: payments.Channel = payments.Channel.COUNTER,
) -> Credited:
    """Credit ``amount`` to the account in one unit of work and run the prepaid rules."""
    async with uow:
        credited = await credit_top_ups(
            uow,
            top_ups=(
                TopUp(
                    account_number=number,
                    amount=amount,
                    channel=channel,
                    channel_reference=reference,
                    operator="test" if channel is payments.Channel.COUNTER else None,
                ),
            ),
            now=clock.now(),
        )
        await uow.commit()
    return credited
