"""The working-day calendar: Chinese statutory holidays, adjusted working days, local overrides."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Self

import chinese_calendar

_SATURDAY = 5


@functools.lru_cache(maxsize=8192)
def _package_day(day: date) -> tuple[bool, bool] | None:
    """Return (statutory holiday, working day) as chinese-calendar has ``day``, or None.

    Cached: the package's data never changes within a process, and the rules ask about the
    same weeks for every batch of readings and payments.
    """
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
        is_workday = chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None
    return (bool(is_holiday and name is not None), bool(is_workday))


class CalendarNotCovered(LookupError):
    """Raise when asked about a date the calendar holds no data for."""

    def __init__(self, day: date, first_date: date, last_date: date) -> None:
        super().__init__(
            f"no holiday data for {day}; the calendar covers {first_date}..{last_date}"
        )
        self.day = day


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarOverride:
    """A local decision about one date: a working day (``working``) or a day off."""

    day: date
    working: bool
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingCalendar:
    """Which local dates in ``[first_date, last_date]`` are working days.

    ``holidays`` are statutory holidays (days off on a weekday, or festival days on a weekend);
    ``working_days`` are the adjusted working days (调休), usually Saturdays or Sundays. Any
    other date is a working day from Monday to Friday. It is plain data, so it can be stored
    as effective-dated policy and edited locally.
    """

    first_date: date
    last_date: date
    holidays: frozenset[date]
    working_days: frozenset[date]

    def __post_init__(self) -> None:
        if self.last_date < self.first_date:
            raise ValueError(f"calendar ends before it starts: {self.first_date}..{self.last_date}")
        if self.holidays & self.working_days:
            clash = min(self.holidays & self.working_days)
            raise ValueError(f"{clash} is both a holiday and a working day")

    @classmethod
    def from_chinese_calendar(
        cls, *, first_date: date, last_date: date, overrides: Iterable[CalendarOverride] = ()
    ) -> Self:
        """Return the calendar of the ``chinese-calendar`` package, with local overrides applied.

        The package learns each year's holidays only once the State Council publishes them. For
        a year it does not know yet, the centre enters that year's holidays and adjusted working
        days as overrides: a year with at least one override counts as covered, its other days
        following the weekday rule. Pass every override of the years the range touches.

        :raises CalendarNotCovered: if neither the package nor an override covers part of the
            range.
        """
        local = tuple(overrides)
        years_entered = {override.day.year for override in local}
        holidays: set[date] = set()
        working_days: set[date] = set()
        day = first_date
        while day <= last_date:
            known = _package_day(day)
            if known is None:
                if day.year not in years_entered:
                    raise CalendarNotCovered(day, first_date, last_date)
            else:
                statutory, workday = known
                if statutory:
                    holidays.add(day)
                elif workday and day.weekday() >= _SATURDAY:
                    working_days.add(day)
            day += timedelta(days=1)
        for override in local:
            if not first_date <= override.day <= last_date:
                continue
            holidays.discard(override.day)
            working_days.discard(override.day)
            if override.working and override.day.weekday() >= _SATURDAY:
                working_days.add(override.day)
            elif not override.working:
                holidays.add(override.day)
        return cls(
            first_date=first_date,
            last_date=last_date,
            holidays=frozenset(holidays),
            working_days=frozenset(working_days),
        )

    def _check(self, day: date) -> None:
        if not self.first_date <= day <= self.last_date:
            raise CalendarNotCovered(day, self.first_date, self.last_date)

    def is_statutory_holiday(self, day: date) -> bool:
        """Test whether ``day`` is a statutory (or locally declared) holiday.

        :raises CalendarNotCovered: if ``day`` is outside the calendar.
        """
        self._check(day)
        return day in self.holidays

    def is_working_day(self, day: date) -> bool:
        """Test whether ``day`` is a working day (adjusted working weekends included).

        :raises CalendarNotCovered: if ``day`` is outside the calendar.
        """
        self._check(day)
        if day in self.working_days:
            return True
        return day.weekday() < _SATURDAY and day not in self.holidays
