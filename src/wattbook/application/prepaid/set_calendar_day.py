"""Set one day of the holiday calendar by hand (``wattbook calendar set``), recording who."""

from __future__ import annotations

from datetime import date

from wattbook.application import ports
from wattbook.application.prepaid import calendar_ports as cp
from wattbook.domain.values import OPERATOR_NAME_MAX

MAX_NOTE_LENGTH = 200


def check_author(by: str) -> str:
    """Return ``by`` stripped.

    :raises InvalidCalendarChange: if it is blank or too long.
    """
    name = by.strip()
    if not name:
        raise cp.InvalidCalendarChange("a calendar change records who made it (--by)")
    if len(name) > OPERATOR_NAME_MAX:
        raise cp.InvalidCalendarChange(
            f"the name of who made the change is over {OPERATOR_NAME_MAX} characters"
        )
    return name


def check_year(year: int) -> None:
    """Check the calendar takes changes for ``year``.

    :raises InvalidCalendarChange: if it is outside FIRST_YEAR..LAST_YEAR.
    """
    if not cp.FIRST_YEAR <= year <= cp.LAST_YEAR:
        raise cp.InvalidCalendarChange(
            f"{year} is outside the years the calendar holds ({cp.FIRST_YEAR}..{cp.LAST_YEAR})"
        )


async def set_calendar_day(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    day: date,
    working: bool,
    by: str,
    note: str = "",
) -> cp.CalendarChange | None:
    """Make ``day`` a working day or a day off; return the change (None if it already was).

    It does not confirm the year: only importing the official schedule does.

    :raises InvalidCalendarChange: if ``by`` is blank, the note too long, or the year out of
        range; nothing is written.
    """
    name = check_author(by)
    check_year(day.year)
    text = note.strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise cp.InvalidCalendarChange(f"the note is over {MAX_NOTE_LENGTH} characters")
    async with uow:
        change = await uow.calendar.set_day(
            day=day, working=working, note=text, by=name, at=clock.now()
        )
        await uow.commit()
    return change
