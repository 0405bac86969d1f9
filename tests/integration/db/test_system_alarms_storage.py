"""System alarms in storage: one open alarm per kind and subject, ended and acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.domain.alarms import AlarmKind, UnknownAlarm

AT = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
HOLIDAYS = AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED


class TestSystemAlarms:
    async def test_raising_an_open_alarm_again_keeps_one_and_updates_its_detail(
        self, engine: Engine
    ) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            first = await uow.alarms.raise_alarm(kind=HOLIDAYS, subject="2027", detail="a", at=AT)
            again = await uow.alarms.raise_alarm(
                kind=HOLIDAYS, subject="2027", detail="b", at=AT + timedelta(hours=1)
            )
            await uow.commit()
        async with db.SqlUnitOfWork(engine) as uow:
            alarms = await uow.alarms.alarms()

        assert (first, again) == (True, False)
        assert [(a.subject, a.detail, a.started_at) for a in alarms] == [("2027", "b", AT)]

    async def test_an_ended_alarm_is_closed_and_a_new_one_can_open(self, engine: Engine) -> None:
        later = AT + timedelta(days=3)
        async with db.SqlUnitOfWork(engine) as uow:
            await uow.alarms.raise_alarm(kind=HOLIDAYS, subject="2027", detail="a", at=AT)
            ended = await uow.alarms.end_alarm(kind=HOLIDAYS, subject="2027", at=later)
            nothing = await uow.alarms.end_alarm(kind=HOLIDAYS, subject="2027", at=later)
            reopened = await uow.alarms.raise_alarm(
                kind=HOLIDAYS, subject="2027", detail="c", at=later + timedelta(days=1)
            )
            open_now = await uow.alarms.alarms()
            every = await uow.alarms.alarms(open_only=False)
            await uow.commit()

        assert (ended, nothing, reopened) == (True, False, True)
        assert [a.detail for a in open_now] == ["c"]
        assert [(a.detail, a.ended_at) for a in every] == [("c", None), ("a", later)]

    async def test_acknowledging_records_who_first(self, engine: Engine) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            await uow.alarms.raise_alarm(
                kind=AlarmKind.BUS_UNREACHABLE, subject="bus-1", detail="x", at=AT
            )
            (alarm,) = await uow.alarms.alarms()
            assert alarm.id is not None
            acknowledged = await uow.alarms.acknowledge(alarm.id, by="王工", at=AT)
            again = await uow.alarms.acknowledge(alarm.id, by="李工", at=AT + timedelta(1))
            with pytest.raises(UnknownAlarm):
                await uow.alarms.acknowledge(alarm.id + 100, by="王工", at=AT)

        assert (acknowledged.acknowledged_by, again.acknowledged_by) == ("王工", "王工")
