"""Counter opening hours (P1): shifts on working days, or an administrator's opening order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from wattbook.domain.payments._errors import CounterClosed
from wattbook.domain.values import Period, WorkingCalendar, local_date, require_aware, to_local

_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class CounterShift:
    """One stretch of local wall-clock time on a weekday (0 = Monday) when the counter is open.

    On an adjusted working day (调休, usually a Saturday) the counter keeps the hours of
    ``CounterHours.adjusted_weekday`` (Monday by default), the weekday whose timetable that
    day follows in practice.
    """

    weekday: int
    opens_at: time
    closes_at: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0-6, not {self.weekday}")
        if self.closes_at <= self.opens_at:
            raise ValueError(f"a shift closes after it opens: {self.opens_at}-{self.closes_at}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterHours:
    """The counter's working hours: shifts on working days (school hours, manual 3.2)."""

    shifts: tuple[CounterShift, ...]
    adjusted_weekday: int = 0

    def __str__(self) -> str:
        parts = [
            f"{_WEEKDAY_NAMES[s.weekday]} {s.opens_at:%H:%M}-{s.closes_at:%H:%M}"
            for s in sorted(self.shifts)
        ]
        return ", ".join(parts)


# The manual says "school working hours"; these are the usual Chinese campus office hours.
DEFAULT_COUNTER_HOURS = CounterHours(
    shifts=tuple(
        CounterShift(weekday=day, opens_at=opens, closes_at=closes)
        for day in range(5)
        for opens, closes in ((time(8, 0), time(12, 0)), (time(14, 30), time(17, 30)))
    )
)


def counter_open(
    *,
    at: datetime,
    hours: CounterHours,
    calendar: WorkingCalendar,
    openings: tuple[Period, ...] = (),
) -> bool:
    """Test whether the counter takes payments at ``at``.

    It is open during a shift on a working day (statutory holidays are closed, adjusted
    working days open), or whenever an administrator's opening order covers ``at``.

    """
    require_aware(at)
    if any(period.contains(at) for period in openings):
        return True
    day = local_date(at)
    if not calendar.is_working_day(day):
        return False
    weekday = day.weekday()
    if weekday >= 5:
        weekday = hours.adjusted_weekday
    wall = to_local(at).time()
    return any(s.weekday == weekday and s.opens_at <= wall < s.closes_at for s in hours.shifts)


def require_counter_open(
    *,
    at: datetime,
    hours: CounterHours,
    calendar: WorkingCalendar,
    openings: tuple[Period, ...] = (),
) -> None:
    """Refuse a counter payment outside working hours unless an administrator opened it.

    :raises CounterClosed: if the counter is closed at ``at``.
    """
    if not counter_open(at=at, hours=hours, calendar=calendar, openings=openings):
        raise CounterClosed(
            f"the counter is closed at {to_local(at):%Y-%m-%d %H:%M}; working hours on"
            f" working days: {hours}"
        )
