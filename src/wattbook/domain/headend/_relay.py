"""Relay commands: what is asked of a meter, why, where it stands, and how it is confirmed.

A relay command is never taken as done because the meter said "OK": the head-end reads run
status word 3 back and :meth:`MeterStatus.confirms` decides (C4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from wattbook.domain.values import AccountNumber, MeterNumber


class MeterEventKind(StrEnum):
    """The kinds of event the head-end collects from a meter's event records (M5, M6)."""

    METER_COVER_OPENED = "METER_COVER_OPENED"
    TERMINAL_COVER_OPENED = "TERMINAL_COVER_OPENED"
    POWER_DOWN = "POWER_DOWN"
    OVER_CURRENT = "OVER_CURRENT"
    RELAY_TRIPPED = "RELAY_TRIPPED"
    RELAY_CLOSED = "RELAY_CLOSED"


class RelayOperation(StrEnum):
    """What a relay command asks of a meter (1CH: 1AH, 1CH, 3AH, 3BH)."""

    TRIP = "TRIP"
    CLOSE = "CLOSE"
    KEEP_POWER_ON = "KEEP_POWER_ON"
    KEEP_POWER_OFF = "KEEP_POWER_OFF"


class RelayReason(StrEnum):
    """Why a relay command was queued: one of the prepaid rules' reasons, or an operator.

    The prepaid rules' ``TripReason`` and ``CloseReason`` are each a part of this list (a test
    holds them so); an operator's order (A1) records who gave it and why beside the command.
    """

    WARNING_CUT = "WARNING_CUT"
    ARREARS = "ARREARS"
    WARNING_CUT_ENDED = "WARNING_CUT_ENDED"
    ARREARS_CLEARED = "ARREARS_CLEARED"
    KEEP_POWER = "KEEP_POWER"
    OPERATOR = "OPERATOR"


class RelayCommandStatus(StrEnum):
    """Where a relay command stands (the outbox's status column)."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterStatus:
    """Run status word 3 as the head-end needs it (relay bit 4, command bit 6, keep-power 12)."""

    relay_open: bool
    relay_command_open: bool
    keep_power: bool

    def confirms(self, operation: RelayOperation) -> bool:
        """Test whether this status shows ``operation`` carried out."""
        match operation:
            case RelayOperation.TRIP:
                return self.relay_open
            case RelayOperation.CLOSE:
                return not self.relay_open
            case RelayOperation.KEEP_POWER_ON:
                return self.keep_power
            case RelayOperation.KEEP_POWER_OFF:
                return not self.keep_power


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayCommand:
    """A relay command from the outbox, with its attempts so far."""

    id: int
    account_number: AccountNumber
    meter_number: MeterNumber
    operation: RelayOperation
    reason: RelayReason
    not_before_at: datetime
    attempts: int = 0
    # An operator's order (reason OPERATOR): who gave it and why, whole (A1, A4).
    ordered_by: str | None = None
    note: str | None = None
