"""Values a virtual meter keeps and shows: registers, settlements, measurements, event records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from wattbook.dlt645.simulator._schedule import Tariff

METER_OPERATOR = 0xFFFFFFFF
"""Operator code the meter writes into records of things it did by itself (over-current)."""

BUTTON_OPERATOR = 0xFFFFFFFE
"""Operator code of a close done by the resident pressing the meter's button."""

RECORDS_KEPT = 10
PROGRAMMED_DIS_KEPT = 10
"""How many written data identifiers one programming record holds (the 2007 record's slots)."""
SETTLEMENTS_KEPT = 12


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Registers:
    """The five energy registers of the meter, in Wh (the meter shows them in 0.01 kWh)."""

    total_wh: int
    sharp_wh: int
    peak_wh: int
    flat_wh: int
    valley_wh: int

    def of(self, tariff: Tariff) -> int:
        """Return the register of one tariff, in Wh."""
        return (self.sharp_wh, self.peak_wh, self.flat_wh, self.valley_wh)[tariff - 1]

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """Return (total, sharp, peak, flat, valley) in Wh."""
        return (self.total_wh, self.sharp_wh, self.peak_wh, self.flat_wh, self.valley_wh)

    @classmethod
    def from_tuple(cls, values: tuple[int, ...] | list[int]) -> Registers:
        """Return registers from (total, sharp, peak, flat, valley) in Wh.

        :raises ValueError: unless exactly five values are given.
        """
        total, sharp, peak, flat, valley = values
        return cls(total_wh=total, sharp_wh=sharp, peak_wh=peak, flat_wh=flat, valley_wh=valley)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """The registers frozen at a settlement instant (meter-local time)."""

    frozen_at: dt.datetime
    registers: Registers


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Measurements:
    """Instantaneous values in integer milli-units, each exact in its DL/T 645 format."""

    voltage_mv: int
    current_ma: int
    active_power_mw: int
    power_factor_permille: int
    frequency_chz: int


class EventKind(enum.Enum):
    """The kinds of event a virtual meter records."""

    COVER_OPEN = "cover-open"
    TERMINAL_COVER_OPEN = "terminal-cover-open"
    POWER_DOWN = "power-down"
    OVER_CURRENT = "over-current"
    RELAY_TRIP = "relay-trip"
    RELAY_CLOSE = "relay-close"
    CLOCK_CHANGE = "clock-change"
    PROGRAMMING = "programming"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """One stored event, times on the meter clock.

    For a clock change ``started_at`` is the time before and ``ended_at`` the time after.
    ``ended_at`` is None while the event lasts (cover still open, power still down).
    ``energy_before_wh``/``energy_after_wh`` are the forward active total at start and end.
    ``data_ids`` are the data identifiers a programming record's session wrote, in order (at
    most :data:`PROGRAMMED_DIS_KEPT`); other kinds leave it empty.
    """

    kind: EventKind
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    operator_code: int = 0
    energy_before_wh: int = 0
    energy_after_wh: int | None = None
    data_ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EventLog:
    """How often an event happened and its last records, most recent first."""

    kind: EventKind
    count: int
    records: tuple[EventRecord, ...]
