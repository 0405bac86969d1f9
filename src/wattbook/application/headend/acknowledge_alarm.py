"""Acknowledge an alarm of any kind on the console: who saw it, and when."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.domain.alarms import Alarm


async def acknowledge_alarm(
    *, uow: ports.UnitOfWork, clock: ports.Clock, alarm_id: int, by: str
) -> Alarm:
    """Record the acknowledgement (the first one stands) and return the alarm.

    :raises UnknownAlarm: if no alarm has that id.
    :raises ValueError: if ``by`` is blank.
    """
    if not by.strip():
        raise ValueError("an acknowledgement records who made it")
    async with uow:
        alarm = await uow.alarms.acknowledge(alarm_id, by=by, at=clock.now())
        await uow.commit()
    return alarm
