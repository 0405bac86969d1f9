"""One alarm model for every kind: a meter's, a reading's and the system's (M5, C2-C5, A1).

Staff see every alarm in one list. An alarm is open from ``started_at`` until ``ended_at``
(None while it lasts); ``subject`` names what it is about: the meter number for meter and
reading alarms, a year, a bus, a debit or a kiosk for system alarms. At most one alarm of a
kind and subject starts at one instant, so a re-delivered cause raises it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from wattbook.domain.values import MeterNumber


class AlarmScope(StrEnum):
    """Where an alarm comes from: a meter's own report, a reading's check, or the system."""

    METER = "METER"
    READING = "READING"
    SYSTEM = "SYSTEM"


class AlarmKind(StrEnum):
    """Every alarm wattbook raises. :attr:`scope` says which family it belongs to."""

    # --- the head-end, from a meter's events, status and silence (subject: meter number)
    OVER_CURRENT_TRIP = "OVER_CURRENT_TRIP"
    METER_COVER_OPENED = "METER_COVER_OPENED"
    TERMINAL_COVER_OPENED = "TERMINAL_COVER_OPENED"
    POWER_DOWN = "POWER_DOWN"
    RELAY_STATE_MISMATCH = "RELAY_STATE_MISMATCH"
    RELAY_NOT_CONFIRMED = "RELAY_NOT_CONFIRMED"
    NO_COMMUNICATION = "NO_COMMUNICATION"
    EVENT_RECORDS_LOST = "EVENT_RECORDS_LOST"
    # --- metering, from a reading's checks (subject: meter number; starts at the meter time)
    REGISTER_BACKWARDS = "REGISTER_BACKWARDS"
    IMPLAUSIBLE_JUMP = "IMPLAUSIBLE_JUMP"
    TOU_MISMATCH = "TOU_MISMATCH"
    LATE_READING_INCONSISTENT = "LATE_READING_INCONSISTENT"
    # --- the system: a rule that could not decide took the safe path
    # From 1 November while next year's official holidays are not entered (subject: the year).
    HOLIDAY_SCHEDULE_UNCONFIRMED = "HOLIDAY_SCHEDULE_UNCONFIRMED"
    # A bus whose serial-to-TCP server (or serial port) cannot be reached (subject: bus name).
    BUS_UNREACHABLE = "BUS_UNREACHABLE"
    # A signed bank callback was refused (subject: the bank's serial): money may be owed.
    BANK_CALLBACK_REFUSED = "BANK_CALLBACK_REFUSED"
    # A debit the bank has not answered in time (subject: the debit id); auto top-up waits.
    BANK_DEBIT_UNANSWERED = "BANK_DEBIT_UNANSWERED"
    # A kiosk's acceptor gave a note back after its session was credited (subject: kiosk id
    # and acceptor sequence): the account got money the campus did not keep.
    KIOSK_NOTE_RETURNED_CREDITED = "KIOSK_NOTE_RETURNED_CREDITED"
    # A kiosk's acceptor reported a fault staff must see (subject: kiosk id and fault code).
    KIOSK_ACCEPTOR_FAULT = "KIOSK_ACCEPTOR_FAULT"
    # A head-end cut off from the broker kept its collections in its local spool (subject:
    # the head-end's name); raised when it reached the broker again (ADR 20).
    HEADEND_SPOOLED = "HEADEND_SPOOLED"
    # PostgreSQL has no partition of a table for next month (subject: table and month): its
    # rows would land in the default partition, kept but slower to read (ADR 21).
    PARTITION_MISSING = "PARTITION_MISSING"

    @property
    def scope(self) -> AlarmScope:
        """Return the family of this kind of alarm."""
        return _SCOPES[self]


_SCOPES: dict[AlarmKind, AlarmScope] = {
    **dict.fromkeys(
        (
            AlarmKind.OVER_CURRENT_TRIP,
            AlarmKind.METER_COVER_OPENED,
            AlarmKind.TERMINAL_COVER_OPENED,
            AlarmKind.POWER_DOWN,
            AlarmKind.RELAY_STATE_MISMATCH,
            AlarmKind.RELAY_NOT_CONFIRMED,
            AlarmKind.NO_COMMUNICATION,
            AlarmKind.EVENT_RECORDS_LOST,
        ),
        AlarmScope.METER,
    ),
    **dict.fromkeys(
        (
            AlarmKind.REGISTER_BACKWARDS,
            AlarmKind.IMPLAUSIBLE_JUMP,
            AlarmKind.TOU_MISMATCH,
            AlarmKind.LATE_READING_INCONSISTENT,
        ),
        AlarmScope.READING,
    ),
    **dict.fromkeys(
        (
            AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED,
            AlarmKind.BUS_UNREACHABLE,
            AlarmKind.BANK_CALLBACK_REFUSED,
            AlarmKind.BANK_DEBIT_UNANSWERED,
            AlarmKind.KIOSK_NOTE_RETURNED_CREDITED,
            AlarmKind.KIOSK_ACCEPTOR_FAULT,
            AlarmKind.HEADEND_SPOOLED,
            AlarmKind.PARTITION_MISSING,
        ),
        AlarmScope.SYSTEM,
    ),
}


def kinds_of(scope: AlarmScope) -> tuple[AlarmKind, ...]:
    """Return the kinds of one family, in declaration order."""
    return tuple(kind for kind in AlarmKind if kind.scope is scope)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    """An alarm with its start, its end (None while it lasts) and its acknowledgement.

    ``meter_number`` is set for meter and reading alarms (then ``subject`` is the same number).
    """

    kind: AlarmKind
    subject: str
    started_at: datetime
    meter_number: MeterNumber | None = None
    detail: str = ""
    ended_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.kind.scope is AlarmScope.SYSTEM:
            if self.meter_number is not None:
                raise ValueError(f"a {self.kind} alarm is about the system, not a meter")
        elif self.meter_number is None or self.subject != str(self.meter_number):
            raise ValueError(f"a {self.kind} alarm names its meter as its subject")
        if not self.subject:
            raise ValueError("an alarm names its subject")
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("an alarm does not end before it starts")

    @classmethod
    def on_meter(
        cls,
        meter: MeterNumber,
        kind: AlarmKind,
        *,
        started_at: datetime,
        detail: str = "",
        ended_at: datetime | None = None,
    ) -> Alarm:
        """Return a new alarm about one meter (a meter or a reading alarm)."""
        return cls(
            kind=kind,
            subject=str(meter),
            meter_number=meter,
            started_at=started_at,
            detail=detail,
            ended_at=ended_at,
        )

    @property
    def is_open(self) -> bool:
        """Test whether the alarm still lasts."""
        return self.ended_at is None


class UnknownAlarm(LookupError):
    """No alarm has this id."""
