"""Poll plans on a fake bus: what is read when, gaps in event records, silent meters."""

from __future__ import annotations

import datetime as dt

from tests.fakes import FakeClock, FakeMeter, FakeMeterGateway

from wattbook.application.headend import ports as hp
from wattbook.application.headend.collect_meter import MeterSchedule, collect_meter
from wattbook.domain.headend import MeterEventKind
from wattbook.domain.values import SHANGHAI, MeterNumber

METER = MeterNumber(value="051600000001")
START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=SHANGHAI)
COVER = MeterEventKind.METER_COVER_OPENED


def cover_event(minute: int) -> hp.MeterEvent:
    at = START + dt.timedelta(minutes=minute)
    return hp.MeterEvent(
        meter_number=METER, kind=COVER, occurred_at=at, ended_at=at + dt.timedelta(seconds=30)
    )


class TestCollectMeter:
    async def test_reads_only_the_energy_block_when_only_energy_is_due(self) -> None:
        clock = FakeClock(START)
        gateway = FakeMeterGateway(clock, {METER: FakeMeter()})
        plan = hp.PollPlan(status_every=dt.timedelta(hours=1))
        _, schedule = await collect_meter(
            gateway=gateway, schedule=MeterSchedule(meter_number=METER, plan=plan), clock=clock
        )
        clock.advance(dt.timedelta(minutes=15))
        gateway.requests = 0

        collection, _ = await collect_meter(gateway=gateway, schedule=schedule, clock=clock)

        assert collection.reading is not None
        assert collection.latest is None
        assert gateway.requests == 1

    async def test_files_new_records_and_counts_the_ones_the_meter_lost(self) -> None:
        clock = FakeClock(START)
        meter = FakeMeter()
        gateway = FakeMeterGateway(clock, {METER: meter})
        _, schedule = await collect_meter(
            gateway=gateway, schedule=MeterSchedule(meter_number=METER), clock=clock
        )
        for minute in range(13):
            meter.record(cover_event(minute))
        clock.advance(dt.timedelta(minutes=5))

        collection, following = await collect_meter(gateway=gateway, schedule=schedule, clock=clock)

        assert len(collection.events) == 10
        assert collection.events[0].occurred_at == START + dt.timedelta(minutes=12)
        assert collection.lost == ((COVER, 3),)
        assert dict(following.event_counts)[COVER] == 13

    async def test_first_contact_files_history_without_a_gap(self) -> None:
        clock = FakeClock(START)
        meter = FakeMeter()
        for minute in range(12):
            meter.record(cover_event(minute))
        gateway = FakeMeterGateway(clock, {METER: meter})

        collection, _ = await collect_meter(
            gateway=gateway, schedule=MeterSchedule(meter_number=METER), clock=clock
        )

        assert (len(collection.events), collection.lost) == (10, ())

    async def test_a_silent_meter_ends_the_visit_and_backs_off(self) -> None:
        clock = FakeClock(START)
        gateway = FakeMeterGateway(clock, {METER: FakeMeter(silent=True)})
        schedule = MeterSchedule(meter_number=METER)

        first, schedule = await collect_meter(gateway=gateway, schedule=schedule, clock=clock)
        clock.advance(dt.timedelta(minutes=5))
        _, schedule = await collect_meter(gateway=gateway, schedule=schedule, clock=clock)

        assert (first.succeeded, gateway.requests) == (False, 2)
        assert schedule.failures == 2
        assert schedule.due_at(clock.now()) == clock.now() + dt.timedelta(minutes=10)

    async def test_sets_a_clock_that_drifted_past_the_limit(self) -> None:
        clock = FakeClock(START)
        gateway = FakeMeterGateway(clock, {METER: FakeMeter(drift=dt.timedelta(minutes=3))})

        collection, _ = await collect_meter(
            gateway=gateway, schedule=MeterSchedule(meter_number=METER), clock=clock
        )

        assert collection.clock is not None
        assert (collection.clock.drift, collection.clock.corrected) == (
            dt.timedelta(minutes=3),
            True,
        )
        assert gateway.clock_sets == [METER]
