"""A head-end's spool handed over (ADR 20): one HEADEND_SPOOLED alarm, its detail kept current."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.application.world import World

from wattbook.application.headend import broker_ports as bp
from wattbook.application.headend.record_spool_replayed import record_spool_replayed
from wattbook.domain.alarms import AlarmKind


def _notice(world: World, *, spooled: int = 120, refused: int = 0) -> bp.SpoolReplayed:
    first_at = world.clock.now()
    return bp.SpoolReplayed(
        headend="he-1",
        first_at=first_at,
        last_at=first_at + timedelta(minutes=30),
        replayed_at=first_at + timedelta(minutes=31),
        spooled=spooled,
        refused=refused,
    )


class TestRecordSpoolReplayed:
    async def test_opens_one_alarm_from_when_the_head_end_began_spooling(self) -> None:
        world = World()
        notice = _notice(world)

        opened = await record_spool_replayed(uow=world.uow(), notice=notice)

        (alarm,) = world.db.tables.alarms
        assert opened
        assert (alarm.kind, alarm.subject, alarm.started_at, alarm.ended_at) == (
            AlarmKind.HEADEND_SPOOLED,
            "he-1",
            notice.first_at,
            None,
        )
        assert "120 messages" in alarm.detail
        assert "could not be spooled" not in alarm.detail

    async def test_a_second_notice_keeps_one_open_alarm_with_the_new_detail(self) -> None:
        world = World()
        await record_spool_replayed(uow=world.uow(), notice=_notice(world))
        world.clock.advance(timedelta(hours=2))

        opened = await record_spool_replayed(uow=world.uow(), notice=_notice(world, spooled=45))

        (alarm,) = world.db.tables.alarms
        assert not opened
        assert alarm.ended_at is None
        assert "45 messages" in alarm.detail
        assert "120 messages" not in alarm.detail

    async def test_the_messages_the_full_spool_refused_are_in_the_detail(self) -> None:
        world = World()

        await record_spool_replayed(uow=world.uow(), notice=_notice(world, refused=7))

        (alarm,) = world.db.tables.alarms
        assert "7 could not be spooled (the spool was full)" in alarm.detail
