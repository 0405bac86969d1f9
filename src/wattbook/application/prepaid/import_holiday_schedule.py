"""Import a year's official holiday schedule from CSV (``wattbook calendar import``).

The file is the State Council's schedule for one year, one day a row, with a header::

    date,type,name
    2026-01-01,休,元旦
    2026-01-04,班,元旦调休

``type`` is 休 / off (a day off) or 班 / working (an adjusted working day, which falls on a
Saturday or Sunday); ``name`` is optional. Blank lines and lines starting with ``#`` are
skipped. Days not listed follow the weekday rule. Every row is checked first; the file is
imported whole or not at all.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date

from wattbook.application import ports
from wattbook.application.prepaid import calendar_ports as cp
from wattbook.application.prepaid.set_calendar_day import MAX_NOTE_LENGTH, check_author, check_year
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import CalendarOverride

_HEADER = ("date", "type", "name")
_OFF = frozenset({"休", "off"})
_WORKING = frozenset({"班", "working"})


def parse_holiday_schedule(text: str) -> tuple[int, tuple[CalendarOverride, ...]]:
    """Return the year and the days of a schedule file (see the module's docstring).

    :raises InvalidHolidaySchedule: listing every bad row with its line number.
    """
    problems: list[tuple[int, str]] = []
    days: dict[date, tuple[int, CalendarOverride]] = {}
    header_seen = False
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        (row,) = csv.reader([line])
        cells = [cell.strip() for cell in row]
        if not header_seen:
            header_seen = True
            if tuple(cell.lower() for cell in cells) not in {_HEADER, _HEADER[:2]}:
                problems.append((number, "the first row must be the header 'date,type,name'"))
            continue
        if not 2 <= len(cells) <= 3:
            problems.append((number, f"expected date,type,name; found {len(cells)} column(s)"))
            continue
        raw_day, kind = cells[0], cells[1].lower()
        name = cells[2] if len(cells) == 3 else ""
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            problems.append((number, f"{raw_day!r} is not a date (YYYY-MM-DD)"))
            continue
        if kind in _OFF:
            working = False
        elif kind in _WORKING:
            working = True
            if day.weekday() < 5:
                problems.append(
                    (number, f"{day} is a weekday; an adjusted working day (班) is a weekend day")
                )
                continue
        else:
            problems.append((number, f"type {cells[1]!r} is not 休/off or 班/working"))
            continue
        if len(name) > MAX_NOTE_LENGTH:
            problems.append((number, f"the name is over {MAX_NOTE_LENGTH} characters"))
            continue
        if day in days:
            problems.append((number, f"{day} is listed already on line {days[day][0]}"))
            continue
        days[day] = (number, CalendarOverride(day=day, working=working, note=name, imported=True))
    if not header_seen:
        problems.append((0, "the file is empty: expected a header 'date,type,name' and rows"))
    elif not days and not problems:
        problems.append((0, "the file lists no days"))
    years = sorted({day.year for day in days})
    if len(years) > 1:
        first_line = {
            year: min(n for d, (n, _) in days.items() if d.year == year) for year in years
        }
        for year in years[1:]:
            problems.append(
                (first_line[year], f"all rows must be in one year: {years[0]} and {year}")
            )
    if problems:
        raise cp.InvalidHolidaySchedule(sorted(problems))
    year = years[0]
    try:
        check_year(year)
    except cp.InvalidCalendarChange as error:
        raise cp.InvalidHolidaySchedule([(min(n for n, _ in days.values()), str(error))]) from error
    return year, tuple(override for _, override in sorted(days.values(), key=lambda v: v[1].day))


async def import_holiday_schedule(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    text: str,
    by: str,
    note: str = "",
) -> tuple[int, tuple[cp.CalendarChange, ...]]:
    """Replace the year's days with the schedule's, confirm the year and end its alarm.

    Return the year and the days that changed.

    :raises InvalidHolidaySchedule: if any row is bad; nothing is written.
    :raises InvalidCalendarChange: if ``by`` is blank; nothing is written.
    """
    name = check_author(by)
    year, days = parse_holiday_schedule(text)
    return year, await _import(uow=uow, clock=clock, year=year, days=days, by=name, note=note)


async def _import(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    year: int,
    days: Sequence[CalendarOverride],
    by: str,
    note: str,
) -> tuple[cp.CalendarChange, ...]:
    now = clock.now()
    async with uow:
        changes = await uow.calendar.import_year(
            year=year, days=days, note=note.strip(), by=by, at=now
        )
        await uow.alarms.end_alarm(
            kind=AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED, subject=str(year), at=now
        )
        await uow.commit()
    return changes
