"""Look again at accounts whose cut was held (holiday, keep-power) or whose re-close is due."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import prepaid


async def apply_prepaid_policy(
    *, uow: ports.UnitOfWork, clock: ports.Clock, limit: int = 1000
) -> tuple[prepaid.Command, ...]:
    """Evaluate the rules for up to ``limit`` accounts that asked to be looked at by now."""
    now = clock.now()
    async with uow:
        due = await uow.prepaid.due(at=now, limit=limit)
        commands = await apply_prepaid_rules(uow, numbers=due, now=now)
        await uow.commit()
    return commands
