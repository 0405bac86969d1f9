"""Change the price from a date on (B2); the past is never re-priced."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.domain import billing


async def set_tariff(*, uow: ports.UnitOfWork, tariff: billing.Tariff) -> billing.TariffHistory:
    """Put ``tariff`` in force from its effective date and return the new history.

    Consumption already charged stays at the prices of its time: charges are kept per tariff
    version, and a version only ever covers the days it was in force.

    :raises billing.InvalidTariff: if the new version overlaps a later one.
    """
    async with uow:
        await uow.tariffs.replace_from(tariff)
        history = await uow.tariffs.history()
        await uow.commit()
    return history
