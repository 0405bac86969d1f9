"""Time for virtual meters: the world's time source and each meter's own drifting clock.

Two clocks exist, as in the field. The *time source* is the true time of the simulated world
(real time, accelerated time for demos, or a hand-stepped time for tests); loads follow it. The
*meter clock* is what the meter believes: it starts from the true local time plus an offset, runs
``drift_ppm`` parts per million fast or slow, and can be set over the bus. Time-of-use switching
and event time stamps follow the meter clock, exactly as on a real meter.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_MICROS = 1_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros(delta: dt.timedelta) -> int:
    """Return a timedelta as an exact integer number of microseconds."""
    return (delta.days * 86_400 + delta.seconds) * _MICROS + delta.microseconds


def epoch_micros(at: dt.datetime) -> int:
    """Return an aware datetime as exact microseconds since 1970-01-01 UTC."""
    return micros(at - _EPOCH)


class TimeSource(Protocol):
    """Give the true time of the simulated world."""

    def now(self) -> dt.datetime:
        """Return the current true time (aware)."""
        ...


class SystemTimeSource:
    """Give the real time of this machine."""

    def now(self) -> dt.datetime:
        """Return the machine's current time in UTC."""
        return dt.datetime.now(dt.UTC)


class AcceleratedTimeSource:
    """Give a time that runs ``speed`` times faster than real time, from ``start_at``.

    A demo at speed 60 lives through an hour a minute, so time-of-use switching and month-end
    freezes can be watched without waiting. A monotonic counter drives it, so changing the
    machine's clock does not make the simulated world jump.
    """

    def __init__(
        self, *, speed: int, start_at: dt.datetime | None = None, held: bool = False
    ) -> None:
        if speed < 1:
            raise ValueError(f"speed must be a positive integer, not {speed}")
        if start_at is not None and start_at.tzinfo is None:
            raise ValueError("start_at must be aware")
        self._speed = speed
        self._start_at = start_at or dt.datetime.now(dt.UTC)
        # A held source stays at ``start_at`` until ``release``: the demo sets its campus up
        # at the world's first instant, however long that takes.
        self._start_ns: int | None = None if held else time.monotonic_ns()

    def release(self) -> None:
        """Let a held source's time run from now on (nothing to do if it runs already)."""
        if self._start_ns is None:
            self._start_ns = time.monotonic_ns()

    @property
    def speed(self) -> int:
        """Return how many simulated seconds pass per real second."""
        return self._speed

    def now(self) -> dt.datetime:
        """Return the accelerated current time."""
        if self._start_ns is None:
            return self._start_at
        elapsed_us = (time.monotonic_ns() - self._start_ns) // 1000 * self._speed
        return self._start_at + dt.timedelta(microseconds=elapsed_us)


class ManualTimeSource:
    """Give a time that moves only when told to: for tests and scripted scenarios."""

    def __init__(self, *, start_at: dt.datetime) -> None:
        if start_at.tzinfo is None:
            raise ValueError("start_at must be aware")
        self._now = start_at
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """Return the current manual time."""
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move time forward by ``delta`` and return the new time.

        :raises ValueError: if ``delta`` is negative (the world's time never runs backwards).
        """
        if delta < dt.timedelta(0):
            raise ValueError("time cannot move backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, at: dt.datetime) -> None:
        """Move time forward to ``at``.

        :raises ValueError: if ``at`` is naive or earlier than the current time.
        """
        if at.tzinfo is None:
            raise ValueError("at must be aware")
        with self._lock:
            if at < self._now:
                raise ValueError("time cannot move backwards")
            self._now = at


class MeterClock:
    """The clock inside one meter: meter-local naive time that may drift against true time.

    The clock is an affine map from true time: ``meter = anchor_meter + (true - anchor_true) *
    (1 + drift_ppm / 1e6)``, computed in integer microseconds, and re-anchored whenever it is set.
    """

    def __init__(
        self,
        *,
        anchor_true_at: dt.datetime,
        anchor_meter_at: dt.datetime,
        drift_ppm: int = 0,
    ) -> None:
        if anchor_true_at.tzinfo is None or anchor_meter_at.tzinfo is not None:
            raise ValueError("true time is aware, meter time is naive meter-local time")
        if not -100_000 < drift_ppm < 100_000:
            raise ValueError(f"drift of {drift_ppm} ppm is not a clock")
        self._anchor_true_at = anchor_true_at
        self._anchor_meter_at = anchor_meter_at
        self._drift_ppm = drift_ppm

    @classmethod
    def synchronised(
        cls,
        *,
        true_at: dt.datetime,
        zone: dt.tzinfo = SHANGHAI,
        drift_ppm: int = 0,
        offset: dt.timedelta = dt.timedelta(0),
    ) -> MeterClock:
        """Return a clock showing the local time of ``zone`` at ``true_at``, plus ``offset``."""
        local = true_at.astimezone(zone).replace(tzinfo=None)
        return cls(anchor_true_at=true_at, anchor_meter_at=local + offset, drift_ppm=drift_ppm)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MeterClock):
            return NotImplemented
        return (self.anchor, self._drift_ppm) == (other.anchor, other._drift_ppm)

    __hash__ = None  # type: ignore[assignment]  # mutable: set() re-anchors it

    @property
    def drift_ppm(self) -> int:
        """Return how many parts per million the clock runs fast (negative: slow)."""
        return self._drift_ppm

    @property
    def anchor(self) -> tuple[dt.datetime, dt.datetime]:
        """Return the (true, meter) pair the clock was last set at."""
        return self._anchor_true_at, self._anchor_meter_at

    def at(self, true_at: dt.datetime) -> dt.datetime:
        """Return the meter's time when the true time is ``true_at``."""
        elapsed = micros(true_at - self._anchor_true_at)
        shown = elapsed * (_MICROS + self._drift_ppm) // _MICROS
        return self._anchor_meter_at + dt.timedelta(microseconds=shown)

    def true_time_of(self, meter_at: dt.datetime) -> dt.datetime:
        """Return the first true time at which the meter shows ``meter_at`` or later."""
        shown = micros(meter_at - self._anchor_meter_at)
        # Ceiling division: the meter must have reached meter_at at the returned instant.
        elapsed = -(-shown * _MICROS // (_MICROS + self._drift_ppm))
        return self._anchor_true_at + dt.timedelta(microseconds=elapsed)

    def set(self, *, true_at: dt.datetime, meter_at: dt.datetime) -> None:
        """Set the meter clock to show ``meter_at`` at true time ``true_at``.

        :raises ValueError: if ``meter_at`` is aware (meters keep naive local wall time).
        """
        if meter_at.tzinfo is not None:
            raise ValueError("meter time is naive meter-local time")
        self._anchor_true_at = true_at
        self._anchor_meter_at = meter_at
