"""The head-end's ideas: meter events, relay commands, their reasons, statuses and confirmation."""

from wattbook.domain.headend._read_request import (
    READ_REQUEST_EXPIRES_AFTER,
    ReadRequest,
    ReadRequestStatus,
    ReadValues,
    read_request_expired,
)
from wattbook.domain.headend._relay import (
    MeterEventKind,
    MeterStatus,
    RelayCommand,
    RelayCommandStatus,
    RelayOperation,
    RelayReason,
)

__all__ = [
    "READ_REQUEST_EXPIRES_AFTER",
    "MeterEventKind",
    "MeterStatus",
    "ReadRequest",
    "ReadRequestStatus",
    "ReadValues",
    "RelayCommand",
    "RelayCommandStatus",
    "RelayOperation",
    "RelayReason",
    "read_request_expired",
]
