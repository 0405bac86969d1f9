"""Metering: readings, baselines, consumption from cumulative registers, and metering alarms."""

from wattbook.domain.metering._assessment import (
    AlarmKind,
    BatchAssessment,
    MeteringAlarm,
    MeterMismatch,
    PlausibilityLimits,
    ReadingAssessment,
    ReadingOutcome,
    accept_held_reading,
    assess_reading,
    assess_readings,
)
from wattbook.domain.metering._reading import (
    BaselineSource,
    Consumption,
    Reading,
    RegisterBaseline,
    baseline_after_replacement,
    baseline_from_installation,
    final_reading,
    rebaseline,
)

__all__ = [
    "AlarmKind",
    "BaselineSource",
    "BatchAssessment",
    "Consumption",
    "MeterMismatch",
    "MeteringAlarm",
    "PlausibilityLimits",
    "Reading",
    "ReadingAssessment",
    "ReadingOutcome",
    "RegisterBaseline",
    "accept_held_reading",
    "assess_reading",
    "assess_readings",
    "baseline_after_replacement",
    "baseline_from_installation",
    "final_reading",
    "rebaseline",
]
