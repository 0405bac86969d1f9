"""Alarms about the system rather than one meter: the holiday schedule, a whole bus.

Meter alarms live with the head-end (``headend.ports.MeterAlarm``). These are the alarms a rule
raises when it cannot decide and takes the safe path: staff must see them on a screen, not only
in a log. An alarm is open from ``started_at`` until ``ended_at``; raising an alarm that is
already open changes nothing, so a job that checks every hour raises it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class SystemAlarmKind(StrEnum):
    """What a system alarm is about; ``subject`` names the thing (a year, a bus)."""

    # From 1 November while next year's official holidays are not entered (subject: the year).
    HOLIDAY_SCHEDULE_UNCONFIRMED = "HOLIDAY_SCHEDULE_UNCONFIRMED"
    # A bus whose serial-to-TCP server (or serial port) cannot be reached (subject: bus name).
    BUS_UNREACHABLE = "BUS_UNREACHABLE"
    # A signed bank callback was refused: it contradicts its debit, is dated outside the window,
    # names an unknown debit or another amount (subject: the bank's serial). Money may be owed
    # either way, so staff must look, and the bank is told 4xx.
    BANK_CALLBACK_REFUSED = "BANK_CALLBACK_REFUSED"
    # A debit the bank has not answered within payments.DEBIT_ANSWER_DUE (subject: the debit
    # id). Its account gets no new debit meanwhile, so auto top-up is stopped for it: say so.
    BANK_DEBIT_UNANSWERED = "BANK_DEBIT_UNANSWERED"
    # A kiosk's acceptor gave a note back after its session was credited (subject: kiosk id
    # and acceptor sequence): the account got money the campus did not keep. Staff settle it.
    KIOSK_NOTE_RETURNED_CREDITED = "KIOSK_NOTE_RETURNED_CREDITED"
    # A kiosk's acceptor reported what staff must see (subject: kiosk id and fault code):
    # events lost unread, a note stacked without approval, a reset, a jam, fraud.
    KIOSK_ACCEPTOR_FAULT = "KIOSK_ACCEPTOR_FAULT"


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemAlarm:
    """A system alarm with its start, its end (None while it lasts) and acknowledgement."""

    kind: SystemAlarmKind
    subject: str
    started_at: datetime
    detail: str = ""
    ended_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    id: int | None = None


class UnknownSystemAlarm(LookupError):
    """No system alarm has this id."""


class SystemAlarmRepository(Protocol):
    """System alarms in storage."""

    async def raise_alarm(
        self, *, kind: SystemAlarmKind, subject: str, detail: str, at: datetime
    ) -> bool:
        """Open an alarm unless one of this kind and subject is open; return whether it opened.

        An open alarm's detail is brought up to date.
        """
        ...

    async def end_alarm(self, *, kind: SystemAlarmKind, subject: str, at: datetime) -> bool:
        """End the open alarm of this kind and subject, if any; return whether one ended."""
        ...

    async def alarms(self, *, open_only: bool = True) -> tuple[SystemAlarm, ...]:
        """Return the alarms (the open ones by default), newest first."""
        ...

    async def acknowledge(self, alarm_id: int, *, by: str, at: datetime) -> SystemAlarm:
        """Record who acknowledged an alarm.

        :raises UnknownSystemAlarm: if no alarm has this id.
        """
        ...


__all__ = [
    "SystemAlarm",
    "SystemAlarmKind",
    "SystemAlarmRepository",
    "UnknownSystemAlarm",
]
