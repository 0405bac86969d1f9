"""Alarms in storage: one table and one port for every kind (``domain.alarms``).

Alarms are raised from every area: the head-end (a meter's events, status and silence), the
ingest (a reading's checks), and the rules that cannot decide and take the safe path (the
holiday schedule, a bus, the bank, a kiosk). Staff must see them on a screen, not only in a
log, so they all land in one list. An alarm is open from ``started_at`` until ``ended_at``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from wattbook.domain.alarms import Alarm, AlarmKind, AlarmScope, UnknownAlarm


class AlarmReader(Protocol):
    """Read the alarms."""

    async def alarms(
        self,
        *,
        open_only: bool = True,
        subject: str | None = None,
        scope: AlarmScope | None = None,
        kinds: Collection[AlarmKind] | None = None,
        limit: int | None = None,
    ) -> tuple[Alarm, ...]:
        """Return the alarms (the open ones by default), newest first, filtered as asked."""
        ...


class AlarmRepository(AlarmReader, Protocol):
    """Alarms in storage: at most one of a kind and subject starts at one instant."""

    async def raise_alarm(
        self, *, kind: AlarmKind, subject: str, detail: str, at: datetime
    ) -> bool:
        """Open an alarm unless one of this kind and subject is open; return whether it opened.

        An open alarm's detail is brought up to date. For a condition checked again and again
        (a year's schedule, a bus, a debit): a job that checks every hour raises it once.
        """
        ...

    async def end_alarm(self, *, kind: AlarmKind, subject: str, at: datetime) -> bool:
        """End the open alarm of this kind and subject, if any; return whether one ended."""
        ...

    async def record(self, alarms: Sequence[Alarm], *, raised_at: datetime) -> None:
        """Store alarms once each (kind, subject, start); fill in an end seen later.

        For alarms whose start the cause dates (a meter's event record, a failed visit).
        """
        ...

    async def end_open(self, subject: str, kinds: Collection[AlarmKind], *, at: datetime) -> None:
        """End the subject's open alarms of these kinds at ``at`` (never before they started)."""
        ...

    async def acknowledge(self, alarm_id: int, *, by: str, at: datetime) -> Alarm:
        """Record who acknowledged an alarm (the first acknowledgement stands); return it.

        :raises UnknownAlarm: if no alarm has this id.
        """
        ...


__all__ = [
    "Alarm",
    "AlarmKind",
    "AlarmReader",
    "AlarmRepository",
    "AlarmScope",
    "UnknownAlarm",
]
