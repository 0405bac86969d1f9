"""The holiday calendar's days, history and confirmed years in SQL (both backends)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from wattbook.adapters.db._sql import Worker
from wattbook.adapters.db.prepaid import _tables as prepaid_t
from wattbook.adapters.db.prepaid._repository import load_calendar
from wattbook.application.prepaid import calendar_ports as cp
from wattbook.domain.values import CalendarOverride, WorkingCalendar


def _change(row: Any) -> cp.CalendarChange:
    return cp.CalendarChange(
        day=row["day"],
        working_before=row["working_before"],
        working_after=row["working_after"],
        note=row["note"],
        changed_by=row["changed_by"],
        changed_at=row["changed_at"],
        source=cp.CalendarChangeSource(row["source"]),
    )


class SqlCalendarRepository:
    """Overrides (the current state), calendar_changes (history), calendar_years."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _record(self, changes: Sequence[cp.CalendarChange]) -> None:
        if changes:
            self._worker.conn().execute(
                prepaid_t.calendar_changes.insert(),
                [
                    {
                        "day": change.day,
                        "working_before": change.working_before,
                        "working_after": change.working_after,
                        "note": change.note,
                        "changed_by": change.changed_by,
                        "changed_at": change.changed_at,
                        "source": change.source.value,
                    }
                    for change in changes
                ],
            )

    def _set_day(
        self, day: date, working: bool, note: str, by: str, at: datetime
    ) -> cp.CalendarChange | None:
        c = prepaid_t.calendar_overrides
        connection = self._worker.conn()
        before = connection.execute(sa.select(c).where(c.c.day == day)).mappings().first()
        if before is not None and (before["working"], before["note"]) == (working, note):
            return None
        values = {
            "working": working,
            "note": note,
            "origin": cp.CalendarChangeSource.SET.value,
            "changed_by": by,
            "changed_at": at,
        }
        if before is None:
            connection.execute(c.insert().values(day=day, **values))
        else:
            connection.execute(c.update().where(c.c.day == day).values(**values))
        change = cp.CalendarChange(
            day=day,
            working_before=None if before is None else before["working"],
            working_after=working,
            note=note,
            changed_by=by,
            changed_at=at,
            source=cp.CalendarChangeSource.SET,
        )
        self._record([change])
        return change

    async def set_day(
        self, *, day: date, working: bool, note: str, by: str, at: datetime
    ) -> cp.CalendarChange | None:
        """Set one day's override; return the change recorded (None if nothing changed)."""
        return await self._worker.run(self._set_day, day, working, note, by, at)

    def _import_year(
        self, year: int, days: Sequence[CalendarOverride], note: str, by: str, at: datetime
    ) -> tuple[cp.CalendarChange, ...]:
        c, y = prepaid_t.calendar_overrides, prepaid_t.calendar_years
        connection = self._worker.conn()
        whole_year = c.c.day.between(date(year, 1, 1), date(year, 12, 31))
        before = {
            row["day"]: (row["working"], row["note"])
            for row in connection.execute(sa.select(c).where(whole_year)).mappings()
        }
        after = {override.day: (override.working, override.note) for override in days}
        source = cp.CalendarChangeSource.IMPORT
        changes = tuple(
            cp.CalendarChange(
                day=day,
                working_before=None if day not in before else before[day][0],
                working_after=None if day not in after else after[day][0],
                note=after[day][1] if day in after else before[day][1],
                changed_by=by,
                changed_at=at,
                source=source,
            )
            for day in sorted(before.keys() | after.keys())
            if before.get(day) != after.get(day)
        )
        connection.execute(c.delete().where(whole_year))
        if after:
            connection.execute(
                c.insert(),
                [
                    {
                        "day": day,
                        "working": working,
                        "note": day_note,
                        "origin": source.value,
                        "changed_by": by,
                        "changed_at": at,
                    }
                    for day, (working, day_note) in sorted(after.items())
                ],
            )
        self._record(changes)
        confirmed = {"confirmed_by": by, "confirmed_at": at, "note": note}
        updated = connection.execute(y.update().where(y.c.year == year).values(**confirmed))
        if not updated.rowcount:
            connection.execute(y.insert().values(year=year, **confirmed))
        return changes

    async def import_year(
        self,
        *,
        year: int,
        days: Sequence[CalendarOverride],
        note: str,
        by: str,
        at: datetime,
    ) -> tuple[cp.CalendarChange, ...]:
        """Replace the year's overrides with ``days``, confirm the year; return the changes."""
        return await self._worker.run(self._import_year, year, tuple(days), note, by, at)

    def _year(self, year: int) -> WorkingCalendar:
        return load_calendar(self._worker.conn(), date(year, 1, 1), date(year, 12, 31))

    async def year(self, year: int) -> WorkingCalendar:
        """Return the whole year's calendar, with where each answer comes from."""
        return await self._worker.run(self._year, year)

    def _confirmed_years(self) -> tuple[cp.ConfirmedYear, ...]:
        y = prepaid_t.calendar_years
        return tuple(
            cp.ConfirmedYear(
                year=int(row["year"]),
                confirmed_by=row["confirmed_by"],
                confirmed_at=row["confirmed_at"],
                note=row["note"],
            )
            for row in self._worker.conn().execute(sa.select(y).order_by(y.c.year)).mappings()
        )

    async def confirmed_years(self) -> tuple[cp.ConfirmedYear, ...]:
        """Return the confirmed years, oldest first."""
        return await self._worker.run(self._confirmed_years)

    def _changes(self, year: int | None) -> tuple[cp.CalendarChange, ...]:
        h = prepaid_t.calendar_changes
        query = sa.select(h).order_by(h.c.id)
        if year is not None:
            query = query.where(h.c.day.between(date(year, 1, 1), date(year, 12, 31)))
        return tuple(_change(row) for row in self._worker.conn().execute(query).mappings())

    async def changes(self, *, year: int | None = None) -> tuple[cp.CalendarChange, ...]:
        """Return the history of changes (of one year, or all), oldest first."""
        return await self._worker.run(self._changes, year)
