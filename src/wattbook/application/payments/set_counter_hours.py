"""Change the counter's working hours from a date (P1, Policy); no restart, the past kept."""

from __future__ import annotations

import re
from datetime import date, time

from wattbook.application import ports
from wattbook.domain import payments
from wattbook.domain.values import local_date

# One shift a line: "1-5 08:00-12:00" (Monday to Friday) or "6 09:00-11:30" (Saturday).
_SHIFT = re.compile(r"([1-7])(?:-([1-7]))?\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


def parse_counter_hours(text: str) -> payments.CounterHours:
    """Return the hours written one shift a line, ISO weekdays (1 = Monday): ``1-5 08:00-12:00``.

    :raises ValueError: if a line is malformed, a time impossible, or there is no shift.
    """
    shifts: list[payments.CounterShift] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        found = _SHIFT.fullmatch(line)
        if found is None:
            raise ValueError(f"line {number}: write a shift as '1-5 08:00-12:00', not {line!r}")
        first, last = int(found[1]), int(found[2] or found[1])
        if last < first:
            raise ValueError(f"line {number}: the weekdays run backwards")
        try:
            opens, closes = time(int(found[3]), int(found[4])), time(int(found[5]), int(found[6]))
        except ValueError as error:
            raise ValueError(f"line {number}: {error}") from error
        shifts.extend(
            payments.CounterShift(weekday=day - 1, opens_at=opens, closes_at=closes)
            for day in range(first, last + 1)
        )
    if not shifts:
        raise ValueError("the counter needs at least one shift")
    return payments.CounterHours(shifts=tuple(sorted(shifts)))


async def set_counter_hours(
    *, uow: ports.UnitOfWork, clock: ports.Clock, effective_from: date, hours: payments.CounterHours
) -> tuple[payments.CounterHours, payments.CounterHours]:
    """Put new counter hours in force from ``effective_from`` (today or later); return the
    hours in force then before, and after.

    :raises ValueError: if the date is in the past.
    """
    if effective_from < local_date(clock.now()):
        raise ValueError("new counter hours start today or later: the past is not re-decided")
    async with uow:
        before = await uow.payments.counter_hours(on=effective_from)
        await uow.payments.set_counter_hours(effective_from=effective_from, hours=hours)
        await uow.commit()
    return before, hours
