"""Virtual Wasion DDZY102 meters on simulated RS-485 buses, served over TCP.

Use :class:`Campus` to run buses of meters (``async with campus.serving() as endpoints``),
:class:`VirtualMeter` to manipulate one meter (open its cover, add a load, press its button),
and the time sources to run on real, accelerated or hand-stepped time.
"""

from wattbook.dlt645.simulator._campus import (
    BusSpec,
    Campus,
    CampusSpec,
    CampusSpecError,
    Endpoint,
    campus_spec_from_toml,
    meter_specs,
    parse_listen,
    parse_meters,
)
from wattbook.dlt645.simulator._clock import (
    SHANGHAI,
    AcceleratedTimeSource,
    ManualTimeSource,
    MeterClock,
    SystemTimeSource,
    TimeSource,
)
from wattbook.dlt645.simulator._device import (
    EVENT_DIS,
    NO_FAULTS,
    Faults,
    MeterDevice,
    Security,
)
from wattbook.dlt645.simulator._load import ConstantLoad, Load, LoadProfile
from wattbook.dlt645.simulator._meter import (
    CloseNotAllowed,
    KeepPowerInForce,
    MeterSpec,
    MeterState,
    MeterStateConflict,
    SimulatorError,
    VirtualMeter,
)
from wattbook.dlt645.simulator._records import (
    BUTTON_OPERATOR,
    METER_OPERATOR,
    EventKind,
    EventLog,
    EventRecord,
    Measurements,
    Registers,
    Settlement,
)
from wattbook.dlt645.simulator._schedule import (
    M1_SCHEDULE,
    Interval,
    Tariff,
    TimeOfUseSchedule,
)
from wattbook.dlt645.simulator._state import StateFileError, load_state, save_state

__all__ = [
    "BUTTON_OPERATOR",
    "EVENT_DIS",
    "M1_SCHEDULE",
    "METER_OPERATOR",
    "NO_FAULTS",
    "SHANGHAI",
    "AcceleratedTimeSource",
    "BusSpec",
    "Campus",
    "CampusSpec",
    "CampusSpecError",
    "CloseNotAllowed",
    "ConstantLoad",
    "Endpoint",
    "EventKind",
    "EventLog",
    "EventRecord",
    "Faults",
    "Interval",
    "KeepPowerInForce",
    "Load",
    "LoadProfile",
    "ManualTimeSource",
    "Measurements",
    "MeterClock",
    "MeterDevice",
    "MeterSpec",
    "MeterState",
    "MeterStateConflict",
    "Registers",
    "Security",
    "Settlement",
    "SimulatorError",
    "StateFileError",
    "SystemTimeSource",
    "Tariff",
    "TimeOfUseSchedule",
    "TimeSource",
    "VirtualMeter",
    "campus_spec_from_toml",
    "load_state",
    "meter_specs",
    "parse_listen",
    "parse_meters",
    "save_state",
]
