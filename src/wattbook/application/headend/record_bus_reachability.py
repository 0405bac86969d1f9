"""Raise and end a bus's BUS_UNREACHABLE alarm (C2): its line cannot be opened, or opens again.

The meters on the bus get their own no-communication alarms from their failed visits
(``record_communication``); this alarm names the cause once, with the bus as its subject.
"""

from __future__ import annotations

from datetime import datetime

from wattbook.application import alarm_ports, ports


async def record_bus_unreachable(
    *, uow: ports.UnitOfWork, bus: str, detail: str, at: datetime
) -> bool:
    """Open the bus's BUS_UNREACHABLE alarm (once: an open one gets the new detail).

    Return whether an alarm opened.
    """
    async with uow:
        opened = await uow.alarms.raise_alarm(
            kind=alarm_ports.AlarmKind.BUS_UNREACHABLE, subject=bus, detail=detail, at=at
        )
        await uow.commit()
    return opened


async def record_bus_reachable(*, uow: ports.UnitOfWork, bus: str, at: datetime) -> bool:
    """End the bus's BUS_UNREACHABLE alarm, if one is open; return whether one ended."""
    async with uow:
        ended = await uow.alarms.end_alarm(
            kind=alarm_ports.AlarmKind.BUS_UNREACHABLE, subject=bus, at=at
        )
        await uow.commit()
    return ended
