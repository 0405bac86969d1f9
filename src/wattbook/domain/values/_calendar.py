"""The working-day calendar: Chinese statutory holidays, adjusted working days, local overrides.

Every date has an answer. Where it comes from, in order:

1. an override the centre set (``calendar set``) or imported (``calendar import``);
2. the ``chinese-calendar`` package, for the years it covers;
3. a year the centre confirmed by importing the State Council's schedule: the weekday rule;
4. otherwise a provisional fallback that errs towards not cutting: every Saturday and Sunday,
   and the usual festival windows around the statutory festivals of that year (lunar dates from
   the ``holidays`` package), are days off; there are no adjusted working days (调休).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Self

import chinese_calendar
import holidays

_SATURDAY = 5

# Festival windows of the fallback, as (anchor, first offset, last offset) in days. Each window
# contains every official day off of 2020..2026 around that festival (checked by the tests
# against chinese-calendar), with a margin: a bridge day either side of a festival on a Tuesday
# or Thursday, the Monday after one on a weekend, the eve of the Spring Festival.
_SPRING_FESTIVAL = "Chinese New Year (Spring Festival)"
_LUNAR_WINDOWS: Mapping[str, tuple[str, int, int]] = {
    _SPRING_FESTIVAL: ("春节 Spring Festival", -2, 6),
    "Tomb-Sweeping Day": ("清明节 Qingming", -2, 2),
    "Dragon Boat Festival": ("端午节 Dragon Boat Festival", -2, 2),
    "Mid-Autumn Festival": ("中秋节 Mid-Autumn Festival", -2, 2),
}
_FIXED_WINDOWS: tuple[tuple[int, int, str, int, int], ...] = (
    # (month, day, name, first offset, last offset)
    (1, 1, "元旦 New Year's Day", -2, 2),
    (5, 1, "劳动节 Labour Day", 0, 4),
    (10, 1, "国庆节 National Day", 0, 7),
)


class CalendarSource(StrEnum):
    """Where the calendar's answer for a date comes from."""

    PACKAGE = "PACKAGE"  # the chinese-calendar package (the State Council's published schedule)
    OFFICIAL = "OFFICIAL"  # the schedule the centre imported, or the weekday rule of that year
    OVERRIDE = "OVERRIDE"  # one day the centre set
    PROVISIONAL = "PROVISIONAL"  # the fallback: festival windows and weekends, not yet confirmed


@functools.lru_cache(maxsize=8192)
def _package_day(day: date) -> tuple[bool, bool, str] | None:
    """Return (statutory holiday, working day, name) as chinese-calendar has ``day``, or None.

    Cached: the package's data never changes within a process, and the rules ask about the
    same weeks for every batch of readings and payments.
    """
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
        is_workday = chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None
    return (bool(is_holiday and name is not None), bool(is_workday), str(name or ""))


def package_covers(year: int) -> bool:
    """Test whether the chinese-calendar package holds the official schedule of ``year``."""
    return (
        _package_day(date(year, 1, 1)) is not None and _package_day(date(year, 12, 31)) is not None
    )


@functools.lru_cache(maxsize=64)
def _statutory_days(year: int) -> tuple[tuple[date, str], ...]:
    """Return the CN statutory days ``holidays`` lists for ``year``, by date, with their names.

    English names: stable keys, whatever the package's default language.
    """
    listed = holidays.country_holidays("CN", years=year, language="en_US")
    return tuple(sorted((day, str(names)) for day, names in listed.items()))


@functools.lru_cache(maxsize=64)
def _festival_anchors(year: int) -> tuple[tuple[str, date], ...]:
    """Return the first date of each lunar festival of ``year`` (names as in _LUNAR_WINDOWS)."""
    found: dict[str, date] = {}
    for day, names in _statutory_days(year):
        for name in str(names).split("; "):
            if name in _LUNAR_WINDOWS and name not in found:
                found[name] = day
    return tuple(sorted(found.items(), key=lambda item: item[1]))


@functools.lru_cache(maxsize=64)
def fallback_days_off(year: int) -> Mapping[date, str]:
    """Return the provisional festival days off of ``year`` with their names (weekends aside).

    The festival windows around the statutory festivals of ``year`` and the years either side
    (a New Year window starts in late December), and every statutory day the ``holidays``
    package lists for ``year``. It errs towards not cutting: a wrong cut on a holiday is worse
    than a late cut.
    """
    days: dict[date, str] = {}

    def add(anchor: date, name: str, first: int, last: int) -> None:
        for offset in range(first, last + 1):
            day = anchor + timedelta(days=offset)
            if day.year == year:
                days.setdefault(day, name)

    for near in (year - 1, year, year + 1):
        if not date.min.year < near < date.max.year:
            continue
        for month, day_of_month, name, first, last in _FIXED_WINDOWS:
            add(date(near, month, day_of_month), name, first, last)
        for festival, anchor in _festival_anchors(near):
            name, first, last = _LUNAR_WINDOWS[festival]
            add(anchor, name, first, last)
    for day, name in _statutory_days(year):
        days.setdefault(day, name)
    return dict(sorted(days.items()))


class CalendarNotCovered(LookupError):
    """Raise when asked about a date outside the range a calendar was built for."""

    def __init__(self, day: date, first_date: date, last_date: date) -> None:
        super().__init__(
            f"no holiday data for {day}; the calendar covers {first_date}..{last_date}"
        )
        self.day = day


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarOverride:
    """A local decision about one date: a working day (``working``) or a day off.

    ``imported`` marks a day of an official schedule the centre imported, as opposed to one
    day the centre set by hand.
    """

    day: date
    working: bool
    note: str = ""
    imported: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingCalendar:
    """Which local dates in ``[first_date, last_date]`` are working days, and on whose word.

    ``holidays`` are statutory holidays (days off on a weekday, or festival days on a weekend);
    ``working_days`` are the adjusted working days (调休), usually Saturdays or Sundays. Any
    other date is a working day from Monday to Friday. ``package_years`` are the years the
    chinese-calendar package covers, ``confirmed_years`` those whose official schedule the
    centre imported; dates of other years are provisional (the fallback), except the days in
    ``set_days`` or ``imported_days`` (overrides). ``names`` names the holidays and overrides.
    It is plain data, built once per range.
    """

    first_date: date
    last_date: date
    holidays: frozenset[date]
    working_days: frozenset[date]
    package_years: frozenset[int] = frozenset()
    confirmed_years: frozenset[int] = frozenset()
    set_days: frozenset[date] = frozenset()
    imported_days: frozenset[date] = frozenset()
    names: Mapping[date, str] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.last_date < self.first_date:
            raise ValueError(f"calendar ends before it starts: {self.first_date}..{self.last_date}")
        if self.holidays & self.working_days:
            clash = min(self.holidays & self.working_days)
            raise ValueError(f"{clash} is both a holiday and a working day")

    @classmethod
    def from_chinese_calendar(
        cls,
        *,
        first_date: date,
        last_date: date,
        overrides: Iterable[CalendarOverride] = (),
        confirmed_years: Iterable[int] = (),
    ) -> Self:
        """Return the calendar for every date of the range (see the module's docstring).

        The package learns each year's holidays only once the State Council publishes them. A
        year it does not know is provisional until the centre imports the official schedule
        (``confirmed_years``): then that year's overrides and the weekday rule decide.
        """
        if last_date < first_date:
            raise ValueError(f"calendar ends before it starts: {first_date}..{last_date}")
        confirmed = frozenset(confirmed_years)
        years = range(first_date.year, last_date.year + 1)
        package_years = frozenset(year for year in years if package_covers(year))
        holidays_: set[date] = set()
        working_days: set[date] = set()
        names: dict[date, str] = {}
        for year in years:
            if year in package_years or year in confirmed:
                continue
            for day, name in fallback_days_off(year).items():
                if first_date <= day <= last_date:
                    holidays_.add(day)
                    names[day] = name
        day = first_date
        while day <= last_date:
            if day.year in package_years:
                known = _package_day(day)
                if known is not None:
                    statutory, workday, name = known
                    if statutory:
                        holidays_.add(day)
                        names[day] = name
                    elif workday and day.weekday() >= _SATURDAY:
                        working_days.add(day)
                        names[day] = "调休 adjusted working day"
            day += timedelta(days=1)
        set_days: set[date] = set()
        imported_days: set[date] = set()
        for override in overrides:
            if not first_date <= override.day <= last_date:
                continue
            holidays_.discard(override.day)
            working_days.discard(override.day)
            names.pop(override.day, None)
            if override.working and override.day.weekday() >= _SATURDAY:
                working_days.add(override.day)
            elif not override.working:
                holidays_.add(override.day)
            if override.note:
                names[override.day] = override.note
            (imported_days if override.imported else set_days).add(override.day)
        return cls(
            first_date=first_date,
            last_date=last_date,
            holidays=frozenset(holidays_),
            working_days=frozenset(working_days),
            package_years=package_years,
            confirmed_years=confirmed,
            set_days=frozenset(set_days),
            imported_days=frozenset(imported_days),
            names=names,
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

    def is_confirmed(self, year: int) -> bool:
        """Test whether ``year`` follows an official schedule (the package's or an import)."""
        return year in self.package_years or year in self.confirmed_years

    def source(self, day: date) -> CalendarSource:
        """Return where the answer for ``day`` comes from.

        :raises CalendarNotCovered: if ``day`` is outside the calendar.
        """
        self._check(day)
        if day in self.set_days:
            return CalendarSource.OVERRIDE
        if day in self.imported_days:
            return CalendarSource.OFFICIAL
        if day.year in self.package_years:
            return CalendarSource.PACKAGE
        if day.year in self.confirmed_years:
            return CalendarSource.OFFICIAL
        return CalendarSource.PROVISIONAL

    def is_provisional(self, day: date) -> bool:
        """Test whether ``day``'s answer is the fallback's, not yet confirmed by anyone.

        :raises CalendarNotCovered: if ``day`` is outside the calendar.
        """
        return self.source(day) is CalendarSource.PROVISIONAL

    def name(self, day: date) -> str:
        """Return the holiday's name or the override's note for ``day`` ("" if none)."""
        return self.names.get(day, "")
