"""Read now on the fakes: staff ask, requests coalesce and expire, the poller serves them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tests.fakes import FakeMeter, FakeMeterGateway
from tests.unit.application.world import World, flat, meter_of

from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus
from wattbook.application.headend.read_now import (
    MeterOnNoBus,
    due_read_requests,
    meter_read_requests,
    record_read_outcome,
    request_meter_read,
)
from wattbook.application.headend.runtime import Headend, InProcessCore
from wattbook.domain.headend import (
    READ_REQUEST_EXPIRES_AFTER,
    MeterStatus,
    ReadRequestStatus,
    read_request_expired,
)
from wattbook.domain.values import MeterNumber


async def on_a_bus(world: World) -> MeterNumber:
    account = await world.household(1)
    meter = meter_of(account)
    await configure_bus(
        uow=world.uow(),
        bus=hp.BusConfig(
            name="b1", url="tcp://127.0.0.1:7001", meters=(hp.BusMeter(meter_number=meter),)
        ),
    )
    return meter


async def ask(world: World, meter: MeterNumber, who: str = "eng1") -> tuple[int, bool]:
    asked = await request_meter_read(
        uow=world.uow(), clock=world.clock, meter=meter, requested_by=who
    )
    return asked.request_id, asked.coalesced


def headend_over(world: World, gateway: FakeMeterGateway, meter: MeterNumber) -> Headend:
    @contextlib.asynccontextmanager
    async def factory(_bus: hp.BusConfig) -> AsyncIterator[hp.MeterGateway]:
        yield gateway

    return Headend(
        buses=[
            hp.BusConfig(
                name="b1", url="tcp://127.0.0.1:7001", meters=(hp.BusMeter(meter_number=meter),)
            )
        ],
        gateway_factory=factory,
        sink=InProcessCore(uow_factory=world.db, clock=world.clock),
        uow_factory=world.db,
        clock=world.clock,
    )


class TestExpiryRule:
    def test_a_pending_request_expires_after_the_limit_and_not_before(self) -> None:
        world = World()
        at = world.clock.now()
        assert not read_request_expired(at, at + READ_REQUEST_EXPIRES_AFTER - timedelta(seconds=1))
        assert read_request_expired(at, at + READ_REQUEST_EXPIRES_AFTER)


class TestRequestMeterRead:
    async def test_a_request_is_stored_pending_with_who_asked(self) -> None:
        world = World()
        meter = await on_a_bus(world)

        request_id, coalesced = await ask(world, meter)

        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)
        assert (stored.id, stored.status, stored.requested_by) == (
            request_id,
            ReadRequestStatus.PENDING,
            "eng1",
        )
        assert not coalesced

    async def test_asking_again_while_one_waits_joins_it(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        first, _ = await ask(world, meter)
        world.clock.advance(timedelta(minutes=1))

        second, coalesced = await ask(world, meter, who="admin")

        assert (second, coalesced) == (first, True)
        assert len(await meter_read_requests(uow=world.uow(), meter=meter)) == 1

    async def test_a_stale_request_is_marked_expired_and_a_new_one_made(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        first, _ = await ask(world, meter)
        world.clock.advance(READ_REQUEST_EXPIRES_AFTER)

        second, coalesced = await ask(world, meter)

        newest, oldest = await meter_read_requests(uow=world.uow(), meter=meter)
        assert (second != first, coalesced) == (True, False)
        assert (newest.status, oldest.status) == (
            ReadRequestStatus.PENDING,
            ReadRequestStatus.EXPIRED,
        )
        assert oldest.done_at == world.clock.now()

    async def test_a_meter_on_no_bus_is_refused_and_nothing_stored(self) -> None:
        world = World()
        account = await world.household(1)

        with pytest.raises(MeterOnNoBus):
            await ask(world, meter_of(account))

        assert world.db.tables.read_requests == []

    async def test_a_blank_name_is_refused(self) -> None:
        world = World()
        meter = await on_a_bus(world)

        with pytest.raises(ValueError, match="who asked"):
            await ask(world, meter, who="  ")

        assert world.db.tables.read_requests == []

    async def test_pending_shows_expired_once_past_the_limit_even_if_not_yet_marked(
        self,
    ) -> None:
        world = World()
        meter = await on_a_bus(world)
        await ask(world, meter)
        world.clock.advance(READ_REQUEST_EXPIRES_AFTER)

        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)

        assert stored.status is ReadRequestStatus.PENDING
        assert stored.status_at(world.clock.now()) is ReadRequestStatus.EXPIRED


class TestDueReadRequests:
    async def test_returns_pending_requests_with_their_bus_and_expires_stale_ones(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        stale, _ = await ask(world, meter)
        world.clock.advance(READ_REQUEST_EXPIRES_AFTER + timedelta(minutes=1))
        fresh, _ = await ask(world, meter)

        due = await due_read_requests(uow=world.uow(), clock=world.clock)

        assert [(d.request.id, d.bus) for d in due] == [(fresh, "b1")]
        statuses = {r.id: r.status for r in world.db.tables.read_requests}
        assert statuses == {stale: ReadRequestStatus.EXPIRED, fresh: ReadRequestStatus.PENDING}


class TestRecordReadOutcome:
    async def test_no_visit_is_a_failure_with_its_reason(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        await ask(world, meter)
        (due,) = await due_read_requests(uow=world.uow(), clock=world.clock)

        status = await record_read_outcome(
            uow=world.uow(), clock=world.clock, request=due.request, collection=None, error="gone"
        )

        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)
        assert (status, stored.status, stored.error) == (
            ReadRequestStatus.FAILED,
            ReadRequestStatus.FAILED,
            "gone",
        )

    async def test_an_expired_request_stays_expired(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        await ask(world, meter)
        (due,) = await due_read_requests(uow=world.uow(), clock=world.clock)
        world.clock.advance(READ_REQUEST_EXPIRES_AFTER)
        await due_read_requests(uow=world.uow(), clock=world.clock)

        status = await record_read_outcome(
            uow=world.uow(), clock=world.clock, request=due.request, collection=None, error="x"
        )

        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)
        assert status is stored.status is ReadRequestStatus.EXPIRED


class TestPollerServesReads:
    async def test_a_request_is_served_before_the_schedule_with_the_values_read(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        fake = FakeMeter(
            registers=flat(1_234),
            status=MeterStatus(relay_open=True, relay_command_open=True, keep_power=False),
        )
        gateway = FakeMeterGateway(world.clock, {meter: fake})
        headend = headend_over(world, gateway, meter)
        async with headend.opened() as pollers:
            await headend.sweep()  # the first visit: nothing is due for 5 minutes now
            world.clock.advance(timedelta(minutes=1))
            fake.registers = flat(2_000)
            await ask(world, meter)
            gateway.requests = 0

            visits = await headend.sweep()

            assert visits == 0  # the regular schedule had nothing due
            assert gateway.requests > 0
            assert pollers["b1"].reads_served == 1
        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)
        assert stored.status is ReadRequestStatus.DONE
        assert stored.done_at == world.clock.now()
        assert stored.values is not None
        assert (stored.values.total_wh, stored.values.relay_open) == (2_000, True)
        assert stored.values.voltage_mv is not None
        # The reading reached the core as any other, at once.
        stored_readings = [r for r, _ in world.db.tables.readings.values()]
        assert [r.registers.total_wh for r in stored_readings] == [1_234, 2_000]

    async def test_a_silent_meter_fails_the_request_with_the_reason(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        gateway = FakeMeterGateway(world.clock, {meter: FakeMeter(silent=True)})
        headend = headend_over(world, gateway, meter)
        await ask(world, meter)
        async with headend.opened():
            await headend.sweep()

        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)
        assert (stored.status, stored.error) == (ReadRequestStatus.FAILED, "NoResponse")
        assert stored.values is None

    async def test_a_bus_that_is_down_fails_the_request_without_a_read(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        gateway = FakeMeterGateway(world.clock, {meter: FakeMeter()})
        gateway.line_down = "connection refused"
        headend = headend_over(world, gateway, meter)
        await ask(world, meter)
        async with headend.opened():
            await headend.sweep()

        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)
        assert (stored.status, stored.error) == (ReadRequestStatus.FAILED, "connection refused")

    async def test_a_request_is_queued_once_and_served_once(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        gateway = FakeMeterGateway(world.clock, {meter: FakeMeter()})
        headend = headend_over(world, gateway, meter)
        await ask(world, meter)
        async with headend.opened() as pollers:
            assert await headend.dispatch_reads() == 1
            assert await headend.dispatch_reads() == 0
            await pollers["b1"].serve_reads()
            (due,) = world.db.tables.read_requests
            # The dispatcher saw it pending just before its outcome was stored.
            assert not pollers["b1"].submit_read(due)
            assert pollers["b1"].reads_served == 1

    async def test_a_request_for_a_meter_on_another_bus_waits_for_its_head_end(self) -> None:
        world = World()
        meter = await on_a_bus(world)
        await ask(world, meter)
        other = MeterNumber(value="999999999999")
        headend = headend_over(world, FakeMeterGateway(world.clock, {}), other)
        headend.buses = (
            hp.BusConfig(
                name="b2", url="tcp://127.0.0.1:7002", meters=(hp.BusMeter(meter_number=other),)
            ),
        )
        async with headend.opened():
            assert await headend.dispatch_reads() == 0

        (stored,) = await meter_read_requests(uow=world.uow(), meter=meter)
        assert stored.status is ReadRequestStatus.PENDING
