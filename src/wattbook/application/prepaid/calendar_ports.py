"""The holiday calendar in storage: the centre's days, who changed them, the confirmed years."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from wattbook.domain.values import CalendarOverride, WorkingCalendar

# Years the calendar accepts changes for: the package's first year up to the lunar tables' end.
FIRST_YEAR = 2004
LAST_YEAR = 2099


class InvalidCalendarChange(ValueError):
    """A calendar change that cannot be made (no author, a year out of range...)."""


class InvalidHolidaySchedule(ValueError):
    """A holiday schedule file with bad rows; ``problems`` are (line number, message)."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "; ".join(
                f"line {line}: {message}" if line else message for line, message in self.problems
            )
        )


class CalendarChangeSource(StrEnum):
    """How a calendar day was changed: one day by hand, or an official schedule imported."""

    SET = "SET"
    IMPORT = "IMPORT"


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarChange:
    """One change of one day; ``working_*`` None where the day had (has) no override."""

    day: date
    working_before: bool | None
    working_after: bool | None
    note: str
    changed_by: str
    changed_at: datetime
    source: CalendarChangeSource


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmedYear:
    """A year whose official holiday schedule the centre imported."""

    year: int
    confirmed_by: str
    confirmed_at: datetime
    note: str = ""


class CalendarRepository(Protocol):
    """The centre's calendar days, their history and the confirmed years."""

    async def set_day(
        self, *, day: date, working: bool, note: str, by: str, at: datetime
    ) -> CalendarChange | None:
        """Set one day's override; return the change recorded (None if nothing changed)."""
        ...

    async def import_year(
        self,
        *,
        year: int,
        days: Sequence[CalendarOverride],
        note: str,
        by: str,
        at: datetime,
    ) -> tuple[CalendarChange, ...]:
        """Replace the year's overrides with ``days``, confirm the year; return the changes."""
        ...

    async def year(self, year: int) -> WorkingCalendar:
        """Return the whole year's calendar, with where each answer comes from."""
        ...

    async def confirmed_years(self) -> tuple[ConfirmedYear, ...]:
        """Return the confirmed years, oldest first."""
        ...

    async def changes(self, *, year: int | None = None) -> tuple[CalendarChange, ...]:
        """Return the history of changes (of one year, or all), oldest first."""
        ...


__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "CalendarChange",
    "CalendarChangeSource",
    "CalendarRepository",
    "ConfirmedYear",
    "InvalidCalendarChange",
    "InvalidHolidaySchedule",
]
