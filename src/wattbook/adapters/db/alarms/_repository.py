"""Alarms of every kind in one SQL table (both backends)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from wattbook.adapters.db._sql import Worker, upsert
from wattbook.adapters.db._types import UtcDateTime
from wattbook.adapters.db.alarms import _tables as alarms_t
from wattbook.domain.alarms import Alarm, AlarmKind, AlarmScope, UnknownAlarm, kinds_of
from wattbook.domain.values import MeterNumber


def alarm_from_row(row: Any) -> Alarm:
    """Return the alarm a row of the ``alarms`` table holds."""
    meter = row["meter_number"]
    return Alarm(
        id=int(row["id"]),
        kind=AlarmKind(row["kind"]),
        subject=row["subject"],
        meter_number=None if meter is None else MeterNumber(value=meter),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        detail=row["detail"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
    )


def _ended_by(table: sa.Table, at: datetime) -> Any:
    # An alarm never ends before it started, even if a meter's clock says so. The time is bound
    # as the column's type, so that it is stored in UTC whatever zone it carries.
    bound = sa.literal(at, type_=UtcDateTime())
    return sa.case((table.c.started_at > bound, table.c.started_at), else_=bound)


class SqlAlarmRepository:
    """Alarms: at most one of a kind and subject starts at one instant."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _open_id(self, kind: AlarmKind, subject: str) -> int | None:
        a = alarms_t.alarms
        found = (
            self._worker.conn()
            .execute(
                sa.select(a.c.id)
                .where(a.c.kind == kind.value, a.c.subject == subject, a.c.ended_at.is_(None))
                .limit(1)
            )
            .scalar()
        )
        return None if found is None else int(found)

    def _raise(self, kind: AlarmKind, subject: str, detail: str, at: datetime) -> bool:
        a = alarms_t.alarms
        connection = self._worker.conn()
        open_id = self._open_id(kind, subject)
        if open_id is not None:
            connection.execute(a.update().where(a.c.id == open_id).values(detail=detail))
            return False
        Alarm(kind=kind, subject=subject, started_at=at)  # refuses a meter kind without its meter
        connection.execute(
            a.insert().values(
                kind=kind.value, subject=subject, started_at=at, raised_at=at, detail=detail
            )
        )
        return True

    async def raise_alarm(
        self, *, kind: AlarmKind, subject: str, detail: str, at: datetime
    ) -> bool:
        """Open an alarm unless one of this kind and subject is open; return whether it opened."""
        return await self._worker.run(self._raise, kind, subject, detail, at)

    def _end(self, subject: str, kinds: Collection[AlarmKind], at: datetime) -> int:
        """End the subject's open alarms of these kinds; return how many ended."""
        if not kinds:
            return 0
        a = alarms_t.alarms
        ended = self._worker.conn().execute(
            a.update()
            .where(
                a.c.subject == subject,
                a.c.kind.in_(sorted(kind.value for kind in kinds)),
                a.c.ended_at.is_(None),
            )
            .values(ended_at=_ended_by(a, at))
        )
        return int(ended.rowcount)

    async def end_alarm(self, *, kind: AlarmKind, subject: str, at: datetime) -> bool:
        """End the open alarm of this kind and subject, if any; return whether one ended."""
        return bool(await self._worker.run(self._end, subject, (kind,), at))

    def _record(self, alarms: Sequence[Alarm], raised_at: datetime) -> None:
        if not alarms:
            return
        a = alarms_t.alarms
        upsert(
            self._worker.conn(),
            a,
            [
                {
                    "kind": alarm.kind.value,
                    "subject": alarm.subject,
                    "meter_number": None if alarm.meter_number is None else str(alarm.meter_number),
                    "started_at": alarm.started_at,
                    "ended_at": alarm.ended_at,
                    "raised_at": raised_at,
                    "detail": alarm.detail,
                }
                for alarm in alarms
            ],
            keys=("kind", "subject", "started_at"),
            fill_in=("ended_at",),
        )

    async def record(self, alarms: Sequence[Alarm], *, raised_at: datetime) -> None:
        """Store alarms once each (kind, subject, start); fill in an end seen later."""
        await self._worker.run(self._record, alarms, raised_at)

    async def end_open(self, subject: str, kinds: Collection[AlarmKind], *, at: datetime) -> None:
        """End the subject's open alarms of these kinds at ``at`` (never before they started)."""
        await self._worker.run(self._end, subject, kinds, at)

    def _alarms(
        self,
        open_only: bool,
        subject: str | None,
        scope: AlarmScope | None,
        kinds: Collection[AlarmKind] | None,
        limit: int | None,
    ) -> tuple[Alarm, ...]:
        a = alarms_t.alarms
        query = sa.select(a).order_by(a.c.started_at.desc(), a.c.id.desc())
        if open_only:
            query = query.where(a.c.ended_at.is_(None))
        if subject is not None:
            query = query.where(a.c.subject == subject)
        wanted = set(AlarmKind) if kinds is None else set(kinds)
        if scope is not None:
            wanted &= set(kinds_of(scope))
        if wanted != set(AlarmKind):
            query = query.where(a.c.kind.in_(sorted(kind.value for kind in wanted)))
        if limit is not None:
            query = query.limit(limit)
        return tuple(alarm_from_row(row) for row in self._worker.conn().execute(query).mappings())

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
        return await self._worker.run(self._alarms, open_only, subject, scope, kinds, limit)

    def _acknowledge(self, alarm_id: int, by: str, at: datetime) -> Alarm:
        a = alarms_t.alarms
        connection = self._worker.conn()
        connection.execute(
            a.update()
            .where(a.c.id == alarm_id, a.c.acknowledged_at.is_(None))
            .values(acknowledged_at=at, acknowledged_by=by)
        )
        row = connection.execute(sa.select(a).where(a.c.id == alarm_id)).mappings().first()
        if row is None:
            raise UnknownAlarm(f"no alarm {alarm_id}")
        return alarm_from_row(row)

    async def acknowledge(self, alarm_id: int, *, by: str, at: datetime) -> Alarm:
        """Record who acknowledged an alarm (the first acknowledgement stands).

        :raises UnknownAlarm: if no alarm has this id.
        """
        return await self._worker.run(self._acknowledge, alarm_id, by, at)
