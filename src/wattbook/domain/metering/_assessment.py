"""Assessing readings against the baseline: accept, ignore, alarm or hold for review."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from wattbook.domain.alarms import AlarmKind
from wattbook.domain.metering._reading import (
    BaselineSource,
    Consumption,
    Reading,
    RegisterBaseline,
)
from wattbook.domain.values import MeterNumber

_US_PER_HOUR = 3600 * 1_000_000

# The meter shows each register in steps of 0.01 kWh.
REGISTER_STEP_WH = 10
# Total, sharp, peak, flat and valley: the registers a time-of-use check compares.
REGISTERS_COMPARED = 5
# How far the period registers may honestly miss the total over an interval. Each register is
# cut to a whole step (truncated or rounded) at both ends, so each of the five deltas is off its
# true value by less than one step, and the mismatch (total minus the four periods, zero when
# exact) by less than five. Every delta is a whole number of steps, so the mismatch is too:
# four steps (40 Wh) is the worst that steps alone can make; five is a real mismatch. (A meter
# whose total is exactly the sum of its periods inside stays within three steps; four allows
# for one that keeps the total as an accumulator of its own.)
TOU_MISMATCH_TOLERANCE_WH = (REGISTERS_COMPARED - 1) * REGISTER_STEP_WH


class MeterMismatch(ValueError):
    """Raise when a reading is assessed against another meter's baseline."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlausibilityLimits:
    """How much energy a meter can plausibly register in a given time, and mismatch tolerance.

    The default is the DDZY102's 60 A maximum at 230 V with a 50 % margin, plus a slack of two
    register steps (the meter resolves 10 Wh) so a short interval is not flagged for rounding.
    A time-of-use mismatch up to ``tou_mismatch_tolerance_wh`` (by default what the register
    steps alone can make, :data:`TOU_MISMATCH_TOLERANCE_WH`) raises no alarm.
    """

    max_current_ma: int = 60_000
    nominal_voltage_mv: int = 230_000
    margin_percent: int = 150
    slack_wh: int = 20
    tou_mismatch_tolerance_wh: int = TOU_MISMATCH_TOLERANCE_WH

    def max_wh(self, elapsed: timedelta) -> int:
        """Return the most energy (Wh) plausible in ``elapsed`` time."""
        elapsed_us = max(elapsed // timedelta(microseconds=1), 0)
        # mA x mV = µW (1e-6 W); x hours -> µWh; / 1e6 -> Wh.
        numerator = self.max_current_ma * self.nominal_voltage_mv * elapsed_us * self.margin_percent
        denominator = 1_000_000 * _US_PER_HOUR * 100
        return -(-numerator // denominator) + self.slack_wh


class ReadingOutcome(StrEnum):
    """What became of an assessed reading."""

    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    LATE = "LATE"
    BACKWARDS = "BACKWARDS"
    IMPLAUSIBLE = "IMPLAUSIBLE"


_EVENT_NAMES = {
    AlarmKind.REGISTER_BACKWARDS: "metering.register.went-backwards",
    AlarmKind.IMPLAUSIBLE_JUMP: "metering.reading.held-for-review",
    AlarmKind.TOU_MISMATCH: "metering.register.tou-mismatch",
    AlarmKind.LATE_READING_INCONSISTENT: "metering.reading.late-inconsistent",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MeteringAlarm:
    """An alarm about one meter's reading at a meter time."""

    kind: AlarmKind
    meter_number: MeterNumber
    at: datetime
    detail: str

    @property
    def event_name(self) -> str:
        """Return the dotted event name, e.g. ``metering.register.went-backwards``."""
        return _EVENT_NAMES[self.kind]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingAssessment:
    """The outcome for one reading: consumption to charge (if accepted), new baseline, alarms."""

    outcome: ReadingOutcome
    reading: Reading
    consumption: Consumption | None
    baseline: RegisterBaseline
    alarms: tuple[MeteringAlarm, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchAssessment:
    """The assessments of a batch in meter-time order, and the baseline after the batch."""

    assessments: tuple[ReadingAssessment, ...]
    baseline: RegisterBaseline

    @property
    def consumptions(self) -> tuple[Consumption, ...]:
        """Return the consumption of every accepted reading, in order."""
        return tuple(a.consumption for a in self.assessments if a.consumption is not None)


def _accept(
    *, baseline: RegisterBaseline, reading: Reading, limits: PlausibilityLimits
) -> ReadingAssessment:
    consumption = Consumption(
        meter_number=reading.meter_number,
        start_at=baseline.at,
        end_at=reading.meter_time_at,
        delta=reading.registers.minus(baseline.registers),
    )
    alarms: tuple[MeteringAlarm, ...] = ()
    if abs(consumption.tou_mismatch_wh) > limits.tou_mismatch_tolerance_wh:
        alarms = (
            MeteringAlarm(
                kind=AlarmKind.TOU_MISMATCH,
                meter_number=reading.meter_number,
                at=reading.meter_time_at,
                detail=(
                    f"period registers moved {consumption.delta.tou_sum_wh} Wh, "
                    f"total moved {consumption.delta.total_wh} Wh"
                ),
            ),
        )
    return ReadingAssessment(
        outcome=ReadingOutcome.ACCEPTED,
        reading=reading,
        consumption=consumption,
        baseline=RegisterBaseline(
            meter_number=reading.meter_number,
            registers=reading.registers,
            at=reading.meter_time_at,
            source=BaselineSource.READING,
        ),
        alarms=alarms,
    )


def _late(*, baseline: RegisterBaseline, reading: Reading) -> ReadingAssessment:
    # A reading older than the baseline charges nothing: the interval it falls in has been
    # charged already, and re-splitting it would re-price the past. It is only checked.
    alarms: tuple[MeteringAlarm, ...] = ()
    if any(
        older > newer
        for older, newer in zip(
            reading.registers.as_tuple(), baseline.registers.as_tuple(), strict=True
        )
    ):
        alarms = (
            MeteringAlarm(
                kind=AlarmKind.LATE_READING_INCONSISTENT,
                meter_number=reading.meter_number,
                at=reading.meter_time_at,
                detail=f"an earlier reading is above the baseline of {baseline.at.isoformat()}",
            ),
        )
    return ReadingAssessment(
        outcome=ReadingOutcome.LATE,
        reading=reading,
        consumption=None,
        baseline=baseline,
        alarms=alarms,
    )


def _check_meter(baseline: RegisterBaseline, reading: Reading) -> None:
    if reading.meter_number != baseline.meter_number:
        raise MeterMismatch(
            f"reading of meter {reading.meter_number} against the baseline of "
            f"meter {baseline.meter_number}"
        )


def assess_reading(
    *, baseline: RegisterBaseline, reading: Reading, limits: PlausibilityLimits
) -> ReadingAssessment:
    """Return what to do with ``reading`` given the meter's current ``baseline``.

    - same meter time and same registers: DUPLICATE, nothing to charge;
    - older than the baseline: LATE, nothing to charge (an inconsistent one raises an alarm);
    - any register lower than the baseline: BACKWARDS, an alarm, nothing credited, baseline
      unchanged (a rollover or replacement is an explicit rebaseline);
    - more energy than the limits allow in the elapsed time: IMPLAUSIBLE, an alarm, held for
      review with the baseline unchanged (``accept_held_reading`` releases it);
    - otherwise ACCEPTED: the consumption since the baseline, which becomes the reading.

    :raises MeterMismatch: if the reading is of another meter.
    """
    _check_meter(baseline, reading)
    if reading.meter_time_at == baseline.at and reading.registers == baseline.registers:
        return ReadingAssessment(
            outcome=ReadingOutcome.DUPLICATE, reading=reading, consumption=None, baseline=baseline
        )
    if reading.meter_time_at < baseline.at:
        return _late(baseline=baseline, reading=reading)
    if reading.registers.any_below(baseline.registers):
        alarm = MeteringAlarm(
            kind=AlarmKind.REGISTER_BACKWARDS,
            meter_number=reading.meter_number,
            at=reading.meter_time_at,
            detail=(
                f"registers {reading.registers.as_tuple()} below baseline "
                f"{baseline.registers.as_tuple()} of {baseline.at.isoformat()}"
            ),
        )
        return ReadingAssessment(
            outcome=ReadingOutcome.BACKWARDS,
            reading=reading,
            consumption=None,
            baseline=baseline,
            alarms=(alarm,),
        )
    jump_wh = reading.registers.total_wh - baseline.registers.total_wh
    allowed_wh = limits.max_wh(reading.meter_time_at - baseline.at)
    if jump_wh > allowed_wh:
        alarm = MeteringAlarm(
            kind=AlarmKind.IMPLAUSIBLE_JUMP,
            meter_number=reading.meter_number,
            at=reading.meter_time_at,
            detail=(
                f"{jump_wh} Wh since {baseline.at.isoformat()}, at most {allowed_wh} Wh plausible"
            ),
        )
        return ReadingAssessment(
            outcome=ReadingOutcome.IMPLAUSIBLE,
            reading=reading,
            consumption=None,
            baseline=baseline,
            alarms=(alarm,),
        )
    return _accept(baseline=baseline, reading=reading, limits=limits)


def assess_readings(
    *, baseline: RegisterBaseline, readings: Iterable[Reading], limits: PlausibilityLimits
) -> BatchAssessment:
    """Return the assessments of a batch, taken in meter-time order, and the final baseline.

    :raises MeterMismatch: if a reading is of another meter.
    """
    ordered = sorted(readings, key=lambda r: (r.meter_time_at, r.received_at))
    assessments = []
    for reading in ordered:
        assessment = assess_reading(baseline=baseline, reading=reading, limits=limits)
        assessments.append(assessment)
        baseline = assessment.baseline
    return BatchAssessment(assessments=tuple(assessments), baseline=baseline)


def accept_held_reading(
    *, baseline: RegisterBaseline, reading: Reading, limits: PlausibilityLimits
) -> ReadingAssessment:
    """Return the assessment of a held (IMPLAUSIBLE) reading an operator has approved.

    Plausibility is waived; everything else still holds. If later readings have moved the
    baseline past it meanwhile, it is LATE: their consumption already covered its energy.

    :raises MeterMismatch: if the reading is of another meter.
    """
    # No register reaches 2**62 Wh, so this slack waives the plausibility check alone.
    waived = replace(limits, slack_wh=2**62)
    return assess_reading(baseline=baseline, reading=reading, limits=waived)
