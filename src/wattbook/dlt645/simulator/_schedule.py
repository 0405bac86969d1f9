"""The time-of-use schedule a virtual meter switches its tariff registers by (M1)."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import enum

_DAY_S = 86_400


class Tariff(enum.IntEnum):
    """The four time-of-use tariffs, numbered as the meter's registers 1-4."""

    SHARP = 1
    PEAK = 2
    FLAT = 3
    VALLEY = 4


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """One wall-clock interval ``[start, end)`` of a tariff; ``end`` 00:00 means midnight."""

    start: dt.time
    end: dt.time
    tariff: Tariff


def _seconds(value: dt.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


class TimeOfUseSchedule:
    """A day split into tariff intervals that cover 24 h with no gap and no overlap."""

    def __init__(self, *, intervals: tuple[Interval, ...]) -> None:
        """Build the schedule.

        :raises ValueError: if the intervals leave a gap or overlap anywhere in the day.
        """
        covered = [False] * (_DAY_S // 60)
        starts: list[tuple[int, Tariff]] = []
        for interval in intervals:
            start, end = _seconds(interval.start), _seconds(interval.end)
            if start % 60 or end % 60:
                raise ValueError("intervals start and end on whole minutes")
            minutes = list(range(start // 60, (end // 60) or (_DAY_S // 60)))
            if end and end <= start:  # wraps past midnight, e.g. valley 23:00-07:00
                minutes = list(range(start // 60, _DAY_S // 60)) + list(range(end // 60))
            for minute in minutes:
                if covered[minute]:
                    raise ValueError(f"intervals overlap at minute {minute} of the day")
                covered[minute] = True
            starts.append((start, interval.tariff))
            if end and end <= start:
                starts.append((0, interval.tariff))
        if not all(covered):
            raise ValueError(f"intervals leave minute {covered.index(False)} of the day uncovered")
        starts.sort()
        self._intervals = intervals
        self._starts = tuple(s for s, _ in starts)
        self._starts_us = tuple(s * 1_000_000 for s in self._starts)
        self._tariffs = tuple(t for _, t in starts)

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """Return the intervals the schedule was built from."""
        return self._intervals

    def tariff_at(self, meter_at: dt.datetime) -> Tariff:
        """Return the tariff in force at a meter-local time."""
        second = _seconds(meter_at.time())
        return self._tariffs[bisect.bisect_right(self._starts, second) - 1]

    def next_switch_after(self, meter_at: dt.datetime) -> dt.datetime:
        """Return the first interval start strictly after a meter-local time."""
        midnight = meter_at.replace(hour=0, minute=0, second=0, microsecond=0)
        offset_us = (meter_at - midnight) // dt.timedelta(microseconds=1)
        index = bisect.bisect_right(self._starts_us, offset_us)
        if index < len(self._starts):
            return midnight + dt.timedelta(seconds=self._starts[index])
        return midnight + dt.timedelta(days=1, seconds=self._starts[0])


def _t(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


M1_SCHEDULE = TimeOfUseSchedule(
    intervals=(
        Interval(start=_t("23:00"), end=_t("07:00"), tariff=Tariff.VALLEY),
        Interval(start=_t("07:00"), end=_t("08:30"), tariff=Tariff.FLAT),
        Interval(start=_t("08:30"), end=_t("10:30"), tariff=Tariff.PEAK),
        Interval(start=_t("10:30"), end=_t("11:30"), tariff=Tariff.SHARP),
        Interval(start=_t("11:30"), end=_t("18:00"), tariff=Tariff.FLAT),
        Interval(start=_t("18:00"), end=_t("19:00"), tariff=Tariff.PEAK),
        Interval(start=_t("19:00"), end=_t("21:00"), tariff=Tariff.SHARP),
        Interval(start=_t("21:00"), end=_t("23:00"), tariff=Tariff.PEAK),
    )
)
"""The campus schedule of requirement M1."""
