"""System alarms in SQL (both backends)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from wattbook.adapters.db._sql import Worker
from wattbook.adapters.db.alarms import _tables as alarms_t
from wattbook.application import alarm_ports as ap


def _from_row(row: Any) -> ap.SystemAlarm:
    return ap.SystemAlarm(
        id=int(row["id"]),
        kind=ap.SystemAlarmKind(row["kind"]),
        subject=row["subject"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        detail=row["detail"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
    )


class SqlSystemAlarmRepository:
    """System alarms: at most one open per kind and subject."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _open_id(self, kind: ap.SystemAlarmKind, subject: str) -> int | None:
        a = alarms_t.system_alarms
        found = (
            self._worker.conn()
            .execute(
                sa.select(a.c.id).where(
                    a.c.kind == kind.value, a.c.subject == subject, a.c.ended_at.is_(None)
                )
            )
            .scalar()
        )
        return None if found is None else int(found)

    def _raise(self, kind: ap.SystemAlarmKind, subject: str, detail: str, at: datetime) -> bool:
        a = alarms_t.system_alarms
        connection = self._worker.conn()
        open_id = self._open_id(kind, subject)
        if open_id is not None:
            connection.execute(a.update().where(a.c.id == open_id).values(detail=detail))
            return False
        connection.execute(
            a.insert().values(kind=kind.value, subject=subject, started_at=at, detail=detail)
        )
        return True

    async def raise_alarm(
        self, *, kind: ap.SystemAlarmKind, subject: str, detail: str, at: datetime
    ) -> bool:
        """Open an alarm unless one of this kind and subject is open; return whether it opened."""
        return await self._worker.run(self._raise, kind, subject, detail, at)

    def _end(self, kind: ap.SystemAlarmKind, subject: str, at: datetime) -> bool:
        a = alarms_t.system_alarms
        ended = self._worker.conn().execute(
            a.update()
            .where(a.c.kind == kind.value, a.c.subject == subject, a.c.ended_at.is_(None))
            .values(ended_at=sa.case((a.c.started_at > at, a.c.started_at), else_=at))
        )
        return bool(ended.rowcount)

    async def end_alarm(self, *, kind: ap.SystemAlarmKind, subject: str, at: datetime) -> bool:
        """End the open alarm of this kind and subject, if any; return whether one ended."""
        return await self._worker.run(self._end, kind, subject, at)

    def _alarms(self, open_only: bool) -> tuple[ap.SystemAlarm, ...]:
        a = alarms_t.system_alarms
        query = sa.select(a).order_by(a.c.started_at.desc(), a.c.id.desc())
        if open_only:
            query = query.where(a.c.ended_at.is_(None))
        return tuple(_from_row(row) for row in self._worker.conn().execute(query).mappings())

    async def alarms(self, *, open_only: bool = True) -> tuple[ap.SystemAlarm, ...]:
        """Return the alarms (the open ones by default), newest first."""
        return await self._worker.run(self._alarms, open_only)

    def _acknowledge(self, alarm_id: int, by: str, at: datetime) -> ap.SystemAlarm:
        a = alarms_t.system_alarms
        connection = self._worker.conn()
        connection.execute(
            a.update()
            .where(a.c.id == alarm_id, a.c.acknowledged_at.is_(None))
            .values(acknowledged_at=at, acknowledged_by=by)
        )
        row = connection.execute(sa.select(a).where(a.c.id == alarm_id)).mappings().first()
        if row is None:
            raise ap.UnknownSystemAlarm(f"no system alarm {alarm_id}")
        return _from_row(row)

    async def acknowledge(self, alarm_id: int, *, by: str, at: datetime) -> ap.SystemAlarm:
        """Record who acknowledged an alarm (the first acknowledgement stands).

        :raises UnknownSystemAlarm: if no alarm has this id.
        """
        return await self._worker.run(self._acknowledge, alarm_id, by, at)
