"""List the alarms staff must see: system alarms and meter alarms (``wattbook alarms``)."""

from __future__ import annotations

from wattbook.application import alarm_ports, read_ports
from wattbook.application.headend import ports as headend_ports


async def list_alarms(
    *, uow: read_ports.ReadOnlyUnitOfWork, open_only: bool = True
) -> tuple[tuple[alarm_ports.SystemAlarm, ...], tuple[headend_ports.MeterAlarm, ...]]:
    """Return the system alarms (newest first) and the meter alarms (oldest first)."""
    async with uow:
        system = await uow.alarms.alarms(open_only=open_only)
        meter = await uow.headend.alarms(open_only=open_only)
    return system, meter
