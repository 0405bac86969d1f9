"""Read a year of the holiday calendar for staff (``wattbook calendar show``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

from wattbook.application import ports, read_ports
from wattbook.application.prepaid import calendar_ports as cp
from wattbook.application.prepaid.set_calendar_day import check_year
from wattbook.domain import prepaid
from wattbook.domain.values import CalendarSource, local_datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarDay:
    """A day that is not what the weekday rule says: a day off on a weekday or festival, or
    an adjusted working weekend day."""

    day: date
    working: bool
    name: str
    source: CalendarSource


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarYear:
    """A year's days off and adjusted working days, and whether the year is confirmed."""

    year: int
    package: bool
    confirmed: cp.ConfirmedYear | None
    days: tuple[CalendarDay, ...]

    @property
    def provisional(self) -> bool:
        """Test whether the year still follows the fallback (nobody confirmed it)."""
        return not self.package and self.confirmed is None


async def read_calendar_year(*, uow: read_ports.ReadOnlyUnitOfWork, year: int) -> CalendarYear:
    """Return the year's days off (festivals, not plain weekends) and adjusted working days.

    :raises InvalidCalendarChange: if the year is out of range.
    """
    check_year(year)
    async with uow:
        calendar = await uow.calendar.year(year)
        confirmed = {c.year: c for c in await uow.calendar.confirmed_years()}
    days = []
    day = date(year, 1, 1)
    while day.year == year:
        working = calendar.is_working_day(day)
        listed = day in calendar.holidays or day in calendar.working_days
        listed = listed or (not working and day.weekday() < 5)
        listed = listed or calendar.source(day) is CalendarSource.OVERRIDE
        if listed:
            days.append(
                CalendarDay(
                    day=day, working=working, name=calendar.name(day), source=calendar.source(day)
                )
            )
        day += timedelta(days=1)
    return CalendarYear(
        year=year,
        package=year in calendar.package_years,
        confirmed=confirmed.get(year),
        days=tuple(days),
    )


async def next_holiday_eve(
    *, uow: ports.UnitOfWork, on_or_after: date, within: timedelta = timedelta(days=60)
) -> date | None:
    """Return the first day from ``on_or_after`` on which cuts for lack of money are allowed
    and the next day on which they are not (B7, by the policy's holiday rule), if any within
    ``within``. The demo starts its campus the evening before, so its first minutes show cuts
    and then a holiday's hold."""
    last = on_or_after + within
    async with uow:
        settings = await uow.prepaid.settings(on=on_or_after)
        calendar = await uow.prepaid.calendar(
            first_date=on_or_after - timedelta(days=1), last_date=last + timedelta(days=1)
        )

    def cuts_allowed(day: date) -> bool:
        noon = local_datetime(day, time(12))
        return (
            prepaid.cut_hold(now=noon, calendar=calendar, keep_power=(), settings=settings) is None
        )

    day = on_or_after
    while day <= last:
        if cuts_allowed(day) and not cuts_allowed(day + timedelta(days=1)):
            return day
        day += timedelta(days=1)
    return None
