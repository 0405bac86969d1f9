"""Readings, register baselines and the consumption between them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from wattbook.domain.accounts import MeterInstallation, MeterReplacement
from wattbook.domain.values import MeterNumber, RegisterSet, require_aware


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """The five cumulative registers of one meter at one moment.

    ``meter_time_at`` places the reading in time (the meter adapter attached the zone and keeps
    the clock right, C5); ``received_at`` is when the server got it, which can be much later for
    data the meter stored while unreachable (M6).
    """

    meter_number: MeterNumber
    registers: RegisterSet
    meter_time_at: datetime
    received_at: datetime

    def __post_init__(self) -> None:
        require_aware(self.meter_time_at)
        require_aware(self.received_at)
        if any(value < 0 for value in self.registers.as_tuple()):
            raise ValueError("a cumulative register is never negative")


class BaselineSource(StrEnum):
    """What set a register baseline."""

    INSTALLATION = "INSTALLATION"
    READING = "READING"
    REPLACEMENT = "REPLACEMENT"
    ROLLOVER = "ROLLOVER"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterBaseline:
    """The registers consumption is next measured from: the last accepted reading of a meter."""

    meter_number: MeterNumber
    registers: RegisterSet
    at: datetime
    source: BaselineSource

    def __post_init__(self) -> None:
        require_aware(self.at)


@dataclass(frozen=True, slots=True, kw_only=True)
class Consumption:
    """Energy used between two readings of one meter, register by register.

    ``tou_mismatch_wh`` is total minus the sum of the four period deltas: recorded, not fixed.
    """

    meter_number: MeterNumber
    start_at: datetime
    end_at: datetime
    delta: RegisterSet

    @property
    def tou_mismatch_wh(self) -> int:
        """Return how far the period deltas miss the total delta (0 when they agree)."""
        return self.delta.total_wh - self.delta.tou_sum_wh


def baseline_from_installation(installation: MeterInstallation, /) -> RegisterBaseline:
    """Return the baseline a newly installed meter starts from: its initial reading."""
    return RegisterBaseline(
        meter_number=installation.meter_number,
        registers=installation.initial,
        at=installation.installed_at,
        source=BaselineSource.INSTALLATION,
    )


def baseline_after_replacement(replacement: MeterReplacement, /) -> RegisterBaseline:
    """Return the new meter's baseline after a replacement."""
    installation = replacement.installation
    return RegisterBaseline(
        meter_number=installation.meter_number,
        registers=installation.initial,
        at=installation.installed_at,
        source=BaselineSource.REPLACEMENT,
    )


def final_reading(replacement: MeterReplacement, /, *, received_at: datetime) -> Reading:
    """Return the old meter's final reading, to be assessed (and charged) like any other."""
    return Reading(
        meter_number=replacement.old_meter_number,
        registers=replacement.final,
        meter_time_at=replacement.final_reading_at,
        received_at=received_at,
    )


def rebaseline(
    *, meter_number: MeterNumber, registers: RegisterSet, at: datetime, source: BaselineSource
) -> RegisterBaseline:
    """Return an explicit new baseline (register rollover, or a replacement set by hand).

    Nothing is charged across a rebaseline: whatever happened between the old baseline and
    this one is a matter for an operator's correction, not a guess.
    """
    return RegisterBaseline(meter_number=meter_number, registers=registers, at=at, source=source)
