"""The prepaid rules (B4-B7, A3): a pure state machine returning commands and the new state."""

from wattbook.domain.prepaid._rules import (
    CancelScheduledClose,
    CloseReason,
    CloseRelay,
    Command,
    CutHold,
    HolidayRule,
    PrepaidDecision,
    PrepaidSettings,
    RelayState,
    RuleState,
    SendSms,
    SmsKind,
    TripReason,
    TripRelay,
    evaluate,
    next_cut_allowed_at,
)

__all__ = [
    "CancelScheduledClose",
    "CloseReason",
    "CloseRelay",
    "Command",
    "CutHold",
    "HolidayRule",
    "PrepaidDecision",
    "PrepaidSettings",
    "RelayState",
    "RuleState",
    "SendSms",
    "SmsKind",
    "TripReason",
    "TripRelay",
    "evaluate",
    "next_cut_allowed_at",
]
