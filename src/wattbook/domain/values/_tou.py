"""Time-of-use periods and the local wall-clock schedule that assigns them (M1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum

from wattbook.domain.values._localtime import to_local

_DAY_US = 24 * 3600 * 1_000_000


class TimeOfUse(StrEnum):
    """A time-of-use period; the meter keeps one register for each (registers 1-4)."""

    SHARP = "SHARP"
    PEAK = "PEAK"
    FLAT = "FLAT"
    VALLEY = "VALLEY"


class InvalidSchedule(ValueError):
    """Raise when time-of-use intervals leave a gap, overlap, or are not plain wall-clock times."""


def _microsecond_of_day(wall_clock: time) -> int:
    return (
        (wall_clock.hour * 60 + wall_clock.minute) * 60 + wall_clock.second
    ) * 1_000_000 + wall_clock.microsecond


@dataclass(frozen=True, slots=True, kw_only=True)
class TouInterval:
    """A local wall-clock interval ``[start, end)`` of one period.

    ``end`` at or before ``start`` wraps past midnight (23:00-07:00); ``end`` 00:00 means
    midnight; ``start == end`` covers the whole day.
    """

    start: time
    end: time
    period: TimeOfUse

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise InvalidSchedule("time-of-use intervals are local wall-clock times, not zoned")
        if not isinstance(self.period, TimeOfUse):
            raise InvalidSchedule(f"not a time-of-use period: {self.period!r}")

    def segments(self) -> tuple[tuple[int, int], ...]:
        """Return the interval as microsecond-of-day ranges ``[from, to)`` within one day."""
        start_us = _microsecond_of_day(self.start)
        end_us = _microsecond_of_day(self.end)
        if end_us > start_us:
            return ((start_us, end_us),)
        head = ((start_us, _DAY_US),)
        return head + (((0, end_us),) if end_us > 0 else ())


@dataclass(frozen=True, slots=True, kw_only=True)
class TouSchedule:
    """A day's time-of-use intervals, covering 24 hours with no gap and no overlap."""

    intervals: tuple[TouInterval, ...]

    def __post_init__(self) -> None:
        segments = sorted(
            (start, end, interval.period)
            for interval in self.intervals
            for start, end in interval.segments()
        )
        reached = 0
        for start, end, _period in segments:
            if start > reached:
                raise InvalidSchedule(f"gap in the schedule at {_format_us(reached)}")
            if start < reached:
                raise InvalidSchedule(f"overlap in the schedule at {_format_us(start)}")
            reached = end
        if reached != _DAY_US:
            raise InvalidSchedule(f"gap in the schedule at {_format_us(reached)}")

    def period_at(self, at: datetime) -> TimeOfUse:
        """Return the period in force at the aware instant ``at``, by Shanghai wall clock.

        :raises NaiveDatetime: if ``at`` is naive.
        """
        us = _microsecond_of_day(to_local(at).time())
        for interval in self.intervals:
            for start, end in interval.segments():
                if start <= us < end:
                    return interval.period
        raise AssertionError("unreachable: a validated schedule covers the whole day")


def _format_us(us: int) -> str:
    minutes = us // 60_000_000
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _interval(start: str, end: str, period: TimeOfUse) -> TouInterval:
    return TouInterval(start=time.fromisoformat(start), end=time.fromisoformat(end), period=period)


# M1, as the manual prints it.
DEFAULT_TOU_SCHEDULE = TouSchedule(
    intervals=(
        _interval("10:30", "11:30", TimeOfUse.SHARP),
        _interval("19:00", "21:00", TimeOfUse.SHARP),
        _interval("08:30", "10:30", TimeOfUse.PEAK),
        _interval("18:00", "19:00", TimeOfUse.PEAK),
        _interval("21:00", "23:00", TimeOfUse.PEAK),
        _interval("07:00", "08:30", TimeOfUse.FLAT),
        _interval("11:30", "18:00", TimeOfUse.FLAT),
        _interval("23:00", "07:00", TimeOfUse.VALLEY),
    )
)
