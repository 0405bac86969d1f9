"""Resolve an alarm on the console: staff end it, saying who and why (A4)."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.domain.alarms import Alarm, UnknownAlarm


async def resolve_alarm(
    *, uow: ports.UnitOfWork, clock: ports.Clock, alarm_id: int, by: str, note: str
) -> Alarm:
    """End an open alarm (acknowledging it first if nobody had) and return it as it was.

    If the condition is still there, the next check raises a new alarm: resolving says the
    cause was dealt with, it does not silence the meter.

    :raises UnknownAlarm: if no open alarm has that id.
    :raises ValueError: if who or why is blank.
    """
    if not by.strip() or not note.strip():
        raise ValueError("resolving an alarm records who did it and why")
    now = clock.now()
    async with uow:
        found = [a for a in await uow.alarms.alarms(open_only=True) if a.id == alarm_id]
        if not found:
            raise UnknownAlarm(f"no open alarm {alarm_id}")
        alarm = found[0]
        if alarm.acknowledged_at is None:
            await uow.alarms.acknowledge(alarm_id, by=by, at=now)
        await uow.alarms.end_alarm(kind=alarm.kind, subject=alarm.subject, at=now)
        await uow.commit()
    return alarm
