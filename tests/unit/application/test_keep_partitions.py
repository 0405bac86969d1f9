"""Partitions made ahead (ADR 21) on a fake keeper: alarms per table while next month's is
missing, ended once it exists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import FakePartitionKeeper
from tests.unit.application.world import World

from wattbook.application.keep_partitions import keep_partitions
from wattbook.domain.alarms import Alarm, AlarmKind
from wattbook.domain.values import BillingMonth

# World's clock stands in June 2025.
JUNE = BillingMonth(year=2025, month=6)
JULY = JUNE.next()


async def _open_alarms(world: World) -> tuple[Alarm, ...]:
    async with world.uow() as uow:
        return await uow.alarms.alarms(open_only=True, kinds=(AlarmKind.PARTITION_MISSING,))


class TestKeepPartitions:
    async def test_makes_this_month_and_the_next_three(self) -> None:
        world = World()
        keeper = FakePartitionKeeper()

        check = await keep_partitions(keeper=keeper, uow=world.uow(), clock=world.clock)

        months = [JUNE, JULY, JULY.next(), JULY.next().next()]
        assert keeper.partitions == {(t, m) for t in ("readings", "ledger_entries") for m in months}
        assert "readings_2025_09" in check.upkeep.created
        assert (check.next_month, check.missing) == (JULY, ())
        assert world.db.tables.alarms == []

    async def test_each_table_missing_next_month_raises_an_alarm_with_the_reason(self) -> None:
        world = World()
        keeper = FakePartitionKeeper()
        keeper.refuse("readings", JULY, "overlaps readings_hand_made")
        keeper.refuse("ledger_entries", JULY, "permission denied")

        check = await keep_partitions(keeper=keeper, uow=world.uow(), clock=world.clock)

        assert check.missing == ("readings", "ledger_entries")
        alarms = {alarm.subject: alarm for alarm in await _open_alarms(world)}
        assert sorted(alarms) == ["ledger_entries 2025-07", "readings 2025-07"]
        assert "(overlaps readings_hand_made)" in alarms["readings 2025-07"].detail
        assert "(permission denied)" in alarms["ledger_entries 2025-07"].detail
        assert alarms["readings 2025-07"].started_at == world.clock.now()

    async def test_a_refusal_after_next_month_raises_no_alarm(self) -> None:
        world = World()
        keeper = FakePartitionKeeper()
        keeper.refuse("readings", JULY.next(), "disk full")

        check = await keep_partitions(keeper=keeper, uow=world.uow(), clock=world.clock)

        assert [refused.month for refused in check.upkeep.refused] == [JULY.next()]
        assert await _open_alarms(world) == ()

    async def test_run_again_it_keeps_one_alarm_and_ends_it_once_the_partition_exists(
        self,
    ) -> None:
        world = World()
        keeper = FakePartitionKeeper()
        keeper.refuse("readings", JULY, "overlaps readings_hand_made")
        await keep_partitions(keeper=keeper, uow=world.uow(), clock=world.clock)
        await keep_partitions(keeper=keeper, uow=world.uow(), clock=world.clock)
        assert len(world.db.tables.alarms) == 1
        keeper.allow("readings", JULY)
        world.clock.advance(timedelta(hours=1))

        check = await keep_partitions(keeper=keeper, uow=world.uow(), clock=world.clock)

        (alarm,) = world.db.tables.alarms
        assert check.missing == ()
        assert check.upkeep.created == ("readings_2025_07",)
        assert alarm.ended_at == world.clock.now()
        assert await _open_alarms(world) == ()

    async def test_fewer_than_one_month_ahead_is_refused_and_nothing_made(self) -> None:
        world = World()
        keeper = FakePartitionKeeper()

        with pytest.raises(ValueError, match="months_ahead"):
            await keep_partitions(keeper=keeper, uow=world.uow(), clock=world.clock, months_ahead=0)

        assert keeper.partitions == set()
        assert world.db.tables.alarms == []
