"""Configure a bus in the database: its URL, baud rate, timeout and meters."""

from __future__ import annotations

from collections.abc import Collection

from wattbook.application import ports
from wattbook.application.headend import ports as hp


async def configure_bus(*, uow: ports.UnitOfWork, bus: hp.BusConfig) -> None:
    """Store the bus and put its meters on it, in order, with their poll plans.

    A meter listed here moves off any other bus; meters no longer listed leave this one.
    """
    async with uow:
        await uow.headend.save_bus(bus)
        await uow.commit()


async def load_buses(
    *, uow: ports.UnitOfWork, names: Collection[str] | None = None
) -> tuple[hp.BusConfig, ...]:
    """Return the configured buses (all, or those named) with meters, plans and event counts."""
    async with uow:
        return await uow.headend.buses(names)
