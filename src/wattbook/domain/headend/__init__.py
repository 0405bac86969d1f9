"""The head-end's ideas: meter events, relay commands, their reasons, statuses and confirmation."""

from wattbook.domain.headend._relay import (
    MeterEventKind,
    MeterStatus,
    RelayCommand,
    RelayCommandStatus,
    RelayOperation,
    RelayReason,
)

__all__ = [
    "MeterEventKind",
    "MeterStatus",
    "RelayCommand",
    "RelayCommandStatus",
    "RelayOperation",
    "RelayReason",
]
