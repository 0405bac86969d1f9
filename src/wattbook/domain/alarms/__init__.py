"""Alarms: one model and one list of kinds for everything staff must see."""

from wattbook.domain.alarms._alarm import Alarm, AlarmKind, AlarmScope, UnknownAlarm, kinds_of

__all__ = ["Alarm", "AlarmKind", "AlarmScope", "UnknownAlarm", "kinds_of"]
