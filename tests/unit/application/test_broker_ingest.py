"""The broker's application side on the fakes: ingest, relay outcomes once, orders in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tests.unit.application.world import World, meter_of

from wattbook.application.headend import broker_ports as bp
from wattbook.application.headend import ports as hp
from wattbook.application.headend.broker_ingest import ingest, publish_due_orders
from wattbook.application.headend.broker_sink import BrokerSink
from wattbook.application.headend.configure_bus import configure_bus
from wattbook.application.headend.dispatch_relay_commands import (
    order_relay,
    record_relay_done,
    relay_order_current,
)
from wattbook.domain.headend import RelayCommandStatus, RelayOperation
from wattbook.domain.values import AccountNumber


@dataclass
class Delivery:
    """A message as a broker hands it out, remembering how it was answered."""

    item: bp.Collected
    delivered: int = 1
    answer: str = ""
    delays: list[float] = field(default_factory=list)

    async def ack(self) -> None:
        self.answer = "ack"

    async def retry(self, *, delay_s: float) -> None:
        self.answer = "retry"
        self.delays.append(delay_s)


class Orders:
    """A relay-order publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[bp.RelayOrder] = []

    async def publish_order(self, order: bp.RelayOrder) -> None:
        self.published.append(order)


class Publisher:
    headend = "h1"

    def __init__(self) -> None:
        self.items: list[bp.Collected] = []

    async def publish(self, item: bp.Collected) -> None:
        self.items.append(item)


async def on_a_bus(world: World, account: AccountNumber) -> None:
    await configure_bus(
        uow=world.uow(),
        bus=hp.BusConfig(
            name="bus-1",
            url="tcp://127.0.0.1:9",
            meters=(hp.BusMeter(meter_number=meter_of(account)),),
        ),
    )


async def test_a_reading_delivered_in_two_messages_is_charged_once() -> None:
    world = World()
    account = await world.household(1, opening_fen=10_000)
    world.clock.advance(timedelta(hours=1))
    reading = world.reading(account, wh=3_000)
    first = Delivery(bp.ReadingsCollected(headend="h1", readings=(reading,)))
    again = Delivery(bp.ReadingsCollected(headend="h1", readings=(reading,)), delivered=2)

    await ingest(uow_factory=world.uow, clock=world.clock, deliveries=[first])
    balance = world.balance_fen(account)
    counts = await ingest(uow_factory=world.uow, clock=world.clock, deliveries=[again, again])

    assert balance < 10_000
    assert world.balance_fen(account) == balance
    assert (first.answer, again.answer) == ("ack", "ack")
    assert counts.readings == 2


async def test_a_relay_outcome_is_recorded_once() -> None:
    world = World()
    account = await world.household(1)
    await on_a_bus(world, account)
    command_id = await order_relay(
        uow=world.uow(),
        clock=world.clock,
        meter=meter_of(account),
        operation=RelayOperation.TRIP,
        ordered_by="engineer",
        reason="test",
    )
    orders = Orders()
    await publish_due_orders(uow_factory=world.uow, clock=world.clock, orders=orders)
    (order,) = orders.published
    assert order.command.id == command_id
    assert await relay_order_current(uow=world.uow(), command=order.command)
    done = hp.RelayOutcome(confirmed=True)

    first = await record_relay_done(
        uow=world.uow(), clock=world.clock, command=order.command, outcome=done, plan=hp.PollPlan()
    )
    second = await record_relay_done(
        uow=world.uow(), clock=world.clock, command=order.command, outcome=done, plan=hp.PollPlan()
    )

    assert first is RelayCommandStatus.CONFIRMED
    assert second is None
    assert not await relay_order_current(uow=world.uow(), command=order.command)
    assert world.relay() == [(str(account), "TRIP", "CONFIRMED")]


async def test_an_order_is_published_once_and_a_close_waits_for_its_trip() -> None:
    world = World()
    account = await world.household(1)
    await on_a_bus(world, account)
    for operation in (RelayOperation.TRIP, RelayOperation.CLOSE):
        await order_relay(
            uow=world.uow(),
            clock=world.clock,
            meter=meter_of(account),
            operation=operation,
            ordered_by="engineer",
            reason="test",
        )
    orders = Orders()

    await publish_due_orders(uow_factory=world.uow, clock=world.clock, orders=orders)
    await publish_due_orders(uow_factory=world.uow, clock=world.clock, orders=orders)

    # The trip is leased: not published again; the close waits while the trip is out.
    assert [o.command.operation for o in orders.published] == [RelayOperation.TRIP]
    trip = orders.published[0].command
    await record_relay_done(
        uow=world.uow(),
        clock=world.clock,
        command=trip,
        outcome=hp.RelayOutcome(confirmed=True),
        plan=hp.PollPlan(),
    )
    await publish_due_orders(uow_factory=world.uow, clock=world.clock, orders=orders)
    assert [o.command.operation for o in orders.published] == [
        RelayOperation.TRIP,
        RelayOperation.CLOSE,
    ]


async def test_a_spool_notice_raises_the_alarm_staff_see() -> None:
    world = World()
    at = world.clock.now()
    notice = bp.SpoolReplayed(
        headend="site-a", first_at=at, last_at=at, replayed_at=at, spooled=12, refused=1
    )
    delivery = Delivery(notice)

    await ingest(uow_factory=world.uow, clock=world.clock, deliveries=[delivery])

    async with world.uow() as uow:
        (alarm,) = await uow.alarms.alarms(subject="site-a")
    assert alarm.kind.value == "HEADEND_SPOOLED"
    assert "12 messages" in alarm.detail
    assert "could not be spooled" in alarm.detail
    assert delivery.answer == "ack"


async def test_a_write_that_fails_hands_the_message_back() -> None:
    world = World()
    await world.household(1)
    outcome = hp.CommunicationOutcome(
        meter_number=meter_of(await world.household(2)), at=world.clock.now(), succeeded=True
    )
    delivery = Delivery(bp.CommunicationCollected(headend="h1", bus="b1", outcomes=(outcome,)))

    def broken():  # type: ignore[no-untyped-def]
        raise ConnectionError("the database is away")

    counts = await ingest(uow_factory=broken, clock=world.clock, deliveries=[delivery])

    assert delivery.answer == "retry"
    assert counts.retried == 1


async def test_the_broker_sink_publishes_what_the_head_end_hands_it() -> None:
    world = World()
    account = await world.household(1)
    publisher = Publisher()
    sink = BrokerSink(publisher)
    reading = world.reading(account, wh=10)

    await sink.record_readings([reading])
    await sink.record_communication("b1", [])

    assert publisher.items == [
        bp.ReadingsCollected(headend="h1", readings=(reading,)),
        bp.CommunicationCollected(headend="h1", bus="b1", outcomes=()),
    ]
