"""Readings, the prepaid policy, relay commands, meter events, alarms and the head-end."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tests.fakes import FakeMeter, FakeMeterGateway
from tests.fakes.top_up import top_up
from tests.functional.household import local
from tests.unit.application.world import World, flat, meter_of

from wattbook.application import alarm_ports
from wattbook.application.headend import ports as hp
from wattbook.application.headend.acknowledge_alarm import acknowledge_alarm
from wattbook.application.headend.configure_bus import configure_bus, load_buses
from wattbook.application.headend.dispatch_relay_commands import (
    InvalidOperatorOrder,
    RelayOutcome,
    carry_out_relay_command,
    due_relay_commands,
    order_relay,
    recheck_relay_command,
    record_relay_outcome,
)
from wattbook.application.headend.list_alarms import list_alarms
from wattbook.application.headend.record_bus_reachability import (
    record_bus_reachable,
    record_bus_unreachable,
)
from wattbook.application.headend.record_communication import record_communication
from wattbook.application.headend.record_meter_events import record_meter_events
from wattbook.application.headend.runtime import Headend, InProcessCore
from wattbook.application.metering.record_readings import record_readings
from wattbook.application.prepaid.apply_prepaid_policy import apply_prepaid_policy
from wattbook.domain import metering
from wattbook.domain.alarms import Alarm, AlarmKind, UnknownAlarm
from wattbook.domain.headend import MeterEventKind, MeterStatus, RelayCommandStatus, RelayOperation
from wattbook.domain.values import AccountNumber, MeterNumber, Money

ACCEPTED = metering.ReadingOutcome.ACCEPTED


async def in_arrears(world: World) -> AccountNumber:
    """Open a household with 15 yuan and let it use 40 kWh (21.13 yuan) over 4 hours."""
    account = await world.household(1, opening_fen=1_500)
    await world.use(account, 40_000, over=timedelta(hours=4))
    assert world.balance_fen(account) == 1_500 - 2_113
    return account


class TestRecordReadings:
    async def test_charges_the_energy_and_stores_the_reading(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=10_000)

        report = await world.use(account, 3_000)

        assert report.count(ACCEPTED) == 1
        assert [e.amount.fen for e in report.entries] == [-158]  # 3 kWh at 0.5283
        assert world.balance_fen(account) == 10_000 - 158
        assert len(world.db.tables.readings) == 1
        assert world.db.tables.usage_daily[(account, world.clock.now().date())][0] == 3_000

    async def test_a_re_delivered_reading_charges_nothing(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=10_000)
        world.clock.advance(timedelta(hours=1))
        reading = world.reading(account, wh=3_000)
        await record_readings(uow=world.uow(), clock=world.clock, readings=[reading])

        again = await record_readings(uow=world.uow(), clock=world.clock, readings=[reading])

        assert again.entries == ()
        assert again.count(metering.ReadingOutcome.DUPLICATE) == 1
        assert world.balance_fen(account) == 10_000 - 158

    async def test_the_one_by_one_path_charges_what_the_set_based_path_does(self) -> None:
        plain, reference = World(), World()
        for world in (plain, reference):
            account = await world.household(1, opening_fen=10_000)
            world.clock.advance(timedelta(hours=1))
        readings = [plain.reading(account, wh=4_321)]

        await record_readings(uow=plain.uow(), clock=plain.clock, readings=readings)
        await record_readings(
            uow=reference.uow(), clock=reference.clock, readings=readings, set_based=False
        )

        assert plain.db.journal() == reference.db.journal()
        assert plain.db.tables.charges == reference.db.tables.charges
        assert plain.db.tables.usage_daily == reference.db.tables.usage_daily

    async def test_a_meter_on_no_account_is_reported_and_not_stored(self) -> None:
        world = World()
        stray = MeterNumber(value="051699999999")

        report = await record_readings(
            uow=world.uow(),
            clock=world.clock,
            readings=[
                metering.Reading(
                    meter_number=stray,
                    registers=flat(5),
                    meter_time_at=world.clock.now(),
                    received_at=world.clock.now(),
                )
            ],
        )

        assert report.unknown_meters == (stray,)
        assert world.db.tables.readings == {}

    async def test_running_low_texts_once_and_a_warning_cut_queues_trip_and_close(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=1_500)

        await world.use(account, 10_000)  # 9.72 yuan: less than 20 kWh, more than 5
        await world.use(account, 1_000)  # 9.19 yuan: still low, texted already
        await world.use(account, 13_000)  # 2.32 yuan: less than 5 kWh

        assert world.sms_kinds() == ["LOW_BALANCE"]
        assert [(action, status) for _a, action, status in world.relay()] == [
            ("TRIP", "PENDING"),
            ("CLOSE", "PENDING"),
        ]


class TestApplyPrepaidPolicy:
    async def test_a_held_cut_is_queued_once_its_day_comes(self) -> None:
        # Saturday 14 June 2025 is a day off: the arrears trip waits for Monday 08:00.
        world = World(at=local(2025, 6, 14, 10))
        await in_arrears(world)
        assert world.relay() == []

        world.clock.set(local(2025, 6, 16, 8, 1))
        commands = await apply_prepaid_policy(uow=world.uow(), clock=world.clock)

        assert [type(c).__name__ for c in commands if type(c).__name__ != "SendSms"] == [
            "TripRelay"
        ]
        assert [(action, status) for _a, action, status in world.relay()] == [("TRIP", "PENDING")]

    async def test_nothing_due_decides_nothing(self) -> None:
        world = World()
        await world.household(1, opening_fen=100_000)

        commands = await apply_prepaid_policy(uow=world.uow(), clock=world.clock)

        assert commands == ()
        assert world.relay() == []


class TestRelayCommands:
    async def test_a_top_up_before_the_trip_leaves_cancels_it(self) -> None:
        world = World()
        account = await in_arrears(world)  # below zero on a working day: trip queued
        (due,) = await due_relay_commands(uow=world.uow(), clock=world.clock)
        await top_up(
            uow=world.uow(),
            clock=world.clock,
            number=account,
            amount=Money(fen=5_000),
            reference="T",
        )

        wanted = await recheck_relay_command(
            uow=world.uow(), clock=world.clock, command=due.command
        )

        assert not wanted
        assert ("TRIP", "CANCELLED") in [(a, s) for _n, a, s in world.relay()]

    async def test_a_confirmed_arrears_trip_texts_the_resident_once(self) -> None:
        world = World()
        account = await in_arrears(world)
        (due,) = await due_relay_commands(uow=world.uow(), clock=world.clock)
        gateway = FakeMeterGateway(world.clock, {meter_of(account): FakeMeter()})

        outcome = await carry_out_relay_command(gateway=gateway, command=due.command)
        status = await record_relay_outcome(
            uow=world.uow(),
            clock=world.clock,
            command=due.command,
            outcome=outcome,
            plan=hp.PollPlan(),
        )

        assert outcome.confirmed
        assert status is RelayCommandStatus.CONFIRMED
        assert world.sms_kinds()[-1] == "CUT_OFF"
        assert world.db.tables.accounts[account].relay.value == "OPEN"

    async def test_an_unconfirmed_command_fails_after_the_last_attempt_with_an_alarm(self) -> None:
        world = World()
        account = await in_arrears(world)
        (due,) = await due_relay_commands(uow=world.uow(), clock=world.clock)
        silent = FakeMeterGateway(world.clock, {meter_of(account): FakeMeter(silent=True)})
        outcome = await carry_out_relay_command(gateway=silent, command=due.command)

        status = await record_relay_outcome(
            uow=world.uow(),
            clock=world.clock,
            command=due.command,
            outcome=outcome,
            plan=hp.PollPlan(relay_attempts=1),
        )

        assert outcome == RelayOutcome(confirmed=False, error="NoResponse")
        assert status is RelayCommandStatus.FAILED
        alarms = world.db.tables.alarms
        assert [a.kind for a in alarms] == [AlarmKind.RELAY_NOT_CONFIRMED]

    async def test_an_operator_order_records_who_and_why(self) -> None:
        world = World()
        account = await world.household(1)

        command_id = await order_relay(
            uow=world.uow(),
            clock=world.clock,
            meter=meter_of(account),
            operation=RelayOperation.TRIP,
            ordered_by="值班员 7",
            reason="线路检修",
        )

        (row,) = world.db.relay_commands()
        assert (row.id, row.reason, row.ordered_by, row.note) == (
            command_id,
            "OPERATOR",
            "值班员 7",
            "线路检修",
        )

    async def test_an_operator_order_without_a_name_is_refused(self) -> None:
        world = World()
        account = await world.household(1)

        with pytest.raises(InvalidOperatorOrder):
            await order_relay(
                uow=world.uow(),
                clock=world.clock,
                meter=meter_of(account),
                operation=RelayOperation.TRIP,
                ordered_by=" ",
                reason="线路检修",
            )

        assert world.db.relay_commands() == ()


class TestRecordMeterEvents:
    async def test_a_cover_opening_is_stored_once_and_raises_one_alarm(self) -> None:
        world = World()
        meter = MeterNumber(value="051600000001")
        event = hp.MeterEvent(
            meter_number=meter,
            kind=MeterEventKind.METER_COVER_OPENED,
            occurred_at=world.clock.now(),
        )
        collection = hp.MeterCollection(
            meter_number=meter,
            bus="bus-1",
            visited_at=world.clock.now(),
            succeeded=True,
            events=(event,),
            event_counts=((MeterEventKind.METER_COVER_OPENED, 1),),
        )

        await record_meter_events(uow=world.uow(), clock=world.clock, collection=collection)
        await record_meter_events(uow=world.uow(), clock=world.clock, collection=collection)

        assert len(world.db.tables.events) == 1
        assert [a.kind for a in world.db.tables.alarms] == [AlarmKind.METER_COVER_OPENED]

    async def test_a_relay_unlike_its_command_raises_a_mismatch_alarm(self) -> None:
        world = World()
        meter = MeterNumber(value="051600000001")
        status = MeterStatus(relay_open=True, relay_command_open=False, keep_power=False)

        await record_meter_events(
            uow=world.uow(),
            clock=world.clock,
            collection=hp.MeterCollection(
                meter_number=meter,
                bus="bus-1",
                visited_at=world.clock.now(),
                succeeded=True,
                latest=hp.LatestValues(
                    meter_number=meter, read_at=world.clock.now(), status=status
                ),
            ),
        )

        assert [a.kind for a in world.db.tables.alarms] == [AlarmKind.RELAY_STATE_MISMATCH]
        assert world.db.tables.latest[meter].status == status


class TestAlarms:
    async def test_the_third_silent_visit_raises_no_communication_and_an_answer_ends_it(
        self,
    ) -> None:
        world = World()
        meter = MeterNumber(value="051600000001")

        def visit(succeeded: bool) -> hp.CommunicationOutcome:
            world.clock.advance(timedelta(minutes=15))
            return hp.CommunicationOutcome(
                meter_number=meter, at=world.clock.now(), succeeded=succeeded, error="x"
            )

        raised = await record_communication(
            uow=world.uow(), bus="bus-1", outcomes=[visit(False), visit(False), visit(False)]
        )
        await record_communication(uow=world.uow(), bus="bus-1", outcomes=[visit(True)])

        assert [a.kind for a in raised] == [AlarmKind.NO_COMMUNICATION]
        (alarm,) = world.db.tables.alarms
        assert alarm.ended_at == world.clock.now()
        days = world.db.tables.communication_days
        assert days[("bus-1", "", world.clock.now().date())] == [4, 1]

    async def test_an_acknowledgement_records_who_and_the_first_one_stands(self) -> None:
        world = World()
        meter = MeterNumber(value="051600000001")
        async with world.uow() as uow:
            await uow.alarms.record(
                [Alarm.on_meter(meter, AlarmKind.POWER_DOWN, started_at=world.clock.now())],
                raised_at=world.clock.now(),
            )
            await uow.commit()

        first = await acknowledge_alarm(
            uow=world.uow(), clock=world.clock, alarm_id=1, by="值班员 7"
        )
        again = await acknowledge_alarm(uow=world.uow(), clock=world.clock, alarm_id=1, by="别人")
        alarms = await list_alarms(uow=world.uow())

        assert first.acknowledged_by == again.acknowledged_by == "值班员 7"
        assert [a.id for a in alarms] == [1]

    async def test_an_acknowledgement_of_no_alarm_or_by_nobody_is_refused(self) -> None:
        world = World()

        with pytest.raises(UnknownAlarm):
            await acknowledge_alarm(uow=world.uow(), clock=world.clock, alarm_id=7, by="值班员 7")
        with pytest.raises(ValueError, match="who"):
            await acknowledge_alarm(uow=world.uow(), clock=world.clock, alarm_id=7, by=" ")

    async def test_a_bus_alarm_opens_once_and_ends_when_the_bus_answers(self) -> None:
        world = World()
        at = world.clock.now()

        opened = [
            await record_bus_unreachable(uow=world.uow(), bus="bus-1", detail="refused", at=at),
            await record_bus_unreachable(uow=world.uow(), bus="bus-1", detail="timeout", at=at),
        ]
        ended = await record_bus_reachable(uow=world.uow(), bus="bus-1", at=at)
        not_open = await record_bus_reachable(uow=world.uow(), bus="bus-1", at=at)

        assert opened == [True, False]
        assert (ended, not_open) == (True, False)
        (alarm,) = world.db.tables.alarms
        assert (alarm.kind, alarm.detail) == (
            alarm_ports.AlarmKind.BUS_UNREACHABLE,
            "timeout",
        )


class TestBuses:
    async def test_a_meter_moves_to_the_bus_that_lists_it(self) -> None:
        world = World()
        meter = MeterNumber(value="051600000001")
        on_bus = (hp.BusMeter(meter_number=meter),)

        await configure_bus(
            uow=world.uow(), bus=hp.BusConfig(name="b1", url="tcp://127.0.0.1:7001", meters=on_bus)
        )
        await configure_bus(
            uow=world.uow(), bus=hp.BusConfig(name="b2", url="tcp://127.0.0.1:7002", meters=on_bus)
        )
        buses = await load_buses(uow=world.uow())

        assert [(b.name, [str(m.meter_number) for m in b.meters]) for b in buses] == [
            ("b1", []),
            ("b2", ["051600000001"]),
        ]

    async def test_a_bad_bus_url_is_refused_before_anything_is_stored(self) -> None:
        world = World()

        with pytest.raises(ValueError, match="tcp://HOST:PORT"):
            await configure_bus(uow=world.uow(), bus=hp.BusConfig(name="b1", url="http://x"))

        assert await load_buses(uow=world.uow()) == ()


class TestHeadend:
    async def test_a_sweep_reads_every_meter_and_charges_the_readings(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=10_000)
        meter = FakeMeter()
        gateway = FakeMeterGateway(world.clock, {meter_of(account): meter})
        bus = hp.BusConfig(
            name="b1",
            url="tcp://127.0.0.1:7001",
            meters=(hp.BusMeter(meter_number=meter_of(account)),),
        )

        @contextlib.asynccontextmanager
        async def factory(_bus: hp.BusConfig) -> AsyncIterator[hp.MeterGateway]:
            yield gateway

        headend = Headend(
            buses=[bus],
            gateway_factory=factory,
            sink=InProcessCore(uow_factory=world.db, clock=world.clock),
            uow_factory=world.db,
            clock=world.clock,
        )
        async with headend.opened() as pollers:
            await headend.sweep()
            meter.registers = flat(2_000)
            world.clock.advance(timedelta(minutes=15))
            visits = await headend.sweep()
            await pollers["b1"].flush()

        assert visits == 1
        assert world.balance_fen(account) == 10_000 - 106
        assert world.db.tables.communication_days[("b1", "", world.clock.now().date())][1] == 2
