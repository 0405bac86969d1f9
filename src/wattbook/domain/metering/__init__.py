"""Metering: readings, baselines, consumption from cumulative registers, and metering alarms."""

from wattbook.domain.metering._apportion import (
    MonthlyUsage,
    apportion,
    attributed_at,
    by_month,
    month_starts,
    since_opening,
)
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
    "MonthlyUsage",
    "PlausibilityLimits",
    "Reading",
    "ReadingAssessment",
    "ReadingOutcome",
    "RegisterBaseline",
    "accept_held_reading",
    "apportion",
    "assess_reading",
    "assess_readings",
    "attributed_at",
    "baseline_after_replacement",
    "baseline_from_installation",
    "by_month",
    "final_reading",
    "month_starts",
    "rebaseline",
    "since_opening",
]
