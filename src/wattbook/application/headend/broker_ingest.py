"""The core's side of the broker (ADR 20): ingest what the head-ends published, and hand the
due relay commands to the head-ends that drive their buses.

Each ingest worker takes batches from the one shared durable consumer and writes them through
the use cases the in-process head-end calls: every reading of a batch in one
:func:`record_readings` (one transaction), each visit through :func:`record_meter_events`,
each bus's outcomes through :func:`record_communication`, each relay outcome through
:func:`record_relay_done`. A message is acknowledged only after its transaction committed; a
worker killed before that leaves it to be delivered again, and the database makes the second
time harmless (see ``broker_ports``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from wattbook.application import ports
from wattbook.application.headend import broker_ports as bp
from wattbook.application.headend.dispatch_relay_commands import (
    due_relay_commands,
    recheck_relay_command,
    record_relay_done,
)
from wattbook.application.headend.record_communication import record_communication
from wattbook.application.headend.record_meter_events import record_meter_events
from wattbook.application.headend.record_spool_replayed import record_spool_replayed
from wattbook.application.metering.record_readings import record_readings
from wattbook.domain.headend import RelayCommand, RelayCommandStatus

logger = logging.getLogger(__name__)

INGEST_BATCH = 256
FETCH_TIMEOUT_S = 1.0
# A message whose write failed comes back after this (the database may be restarting).
RETRY_AFTER_S = 2.0
ORDER_POLL_S = 1.0
# An order handed to the broker is not handed again for this long: the broker holds it until
# the head-end takes it, and its outcome moves the command on. Past it (an order lost with a
# broker's disk, a head-end gone for good) it is published again, replacing the one before.
ORDER_LEASE = timedelta(minutes=5)


@dataclass(slots=True)
class IngestCounts:
    """What an ingest worker has done since it started."""

    messages: int = 0
    readings: int = 0
    retried: int = 0
    orders: int = 0


async def ingest(
    *,
    uow_factory: Callable[[], ports.UnitOfWork],
    clock: ports.Clock,
    deliveries: Sequence[bp.Delivery[bp.Collected]],
    counts: IngestCounts | None = None,
) -> IngestCounts:
    """Write one batch of deliveries through the core's use cases; acknowledge each once its
    transaction committed, hand it back (to come again) if the write failed."""
    counts = counts if counts is not None else IngestCounts()
    readings = [d for d in deliveries if isinstance(d.item, bp.ReadingsCollected)]
    if readings:
        await _readings(uow_factory, clock, readings, counts)
    for delivery in deliveries:
        item = delivery.item
        write: Callable[[], Awaitable[object]]
        if isinstance(item, bp.ReadingsCollected):
            continue
        if isinstance(item, bp.VisitCollected):
            visit = item

            def write(visit: bp.VisitCollected = visit) -> Awaitable[object]:
                return record_meter_events(
                    uow=uow_factory(), clock=clock, collection=visit.collection
                )
        elif isinstance(item, bp.CommunicationCollected):
            outcomes = item

            def write(outcomes: bp.CommunicationCollected = outcomes) -> Awaitable[object]:
                return record_communication(
                    uow=uow_factory(), bus=outcomes.bus, outcomes=outcomes.outcomes
                )
        elif isinstance(item, bp.RelayDone):
            done = item

            def write(done: bp.RelayDone = done) -> Awaitable[object]:
                return record_relay_done(
                    uow=uow_factory(),
                    clock=clock,
                    command=done.command,
                    outcome=done.outcome,
                    plan=done.plan,
                )
        else:
            notice = item

            def write(notice: bp.SpoolReplayed = notice) -> Awaitable[object]:
                return record_spool_replayed(uow=uow_factory(), notice=notice)

        await _one(delivery, write, counts)
    return counts


async def _one(
    delivery: bp.Delivery[bp.Collected],
    write: Callable[[], Awaitable[object]],
    counts: IngestCounts,
) -> bool:
    try:
        await write()
    except Exception:
        logger.exception(
            "Unable to ingest a %s (delivery %d); it comes again in %g s",
            type(delivery.item).__name__,
            delivery.delivered,
            RETRY_AFTER_S,
        )
        counts.retried += 1
        await delivery.retry(delay_s=RETRY_AFTER_S)
        return False
    await delivery.ack()
    counts.messages += 1
    return True


async def _readings(
    uow_factory: Callable[[], ports.UnitOfWork],
    clock: ports.Clock,
    deliveries: Sequence[bp.Delivery[bp.Collected]],
    counts: IngestCounts,
) -> None:
    batches = [d.item.readings for d in deliveries if isinstance(d.item, bp.ReadingsCollected)]
    together = [reading for batch in batches for reading in batch]
    try:
        await record_readings(uow=uow_factory(), clock=clock, readings=together)
    except Exception:
        logger.exception(
            "Unable to ingest %d readings together; trying each message", len(together)
        )
    else:
        for delivery in deliveries:
            await delivery.ack()
        counts.messages += len(deliveries)
        counts.readings += len(together)
        return
    # One message that cannot be stored must not hold back the others: each on its own. If
    # the first fails too, the database is likely away: every message comes again later.
    for index, (delivery, batch) in enumerate(zip(deliveries, batches, strict=True)):

        def write(batch: tuple[object, ...] = batch) -> Awaitable[object]:
            return record_readings(uow=uow_factory(), clock=clock, readings=batch)  # type: ignore[arg-type]

        if await _one(delivery, write, counts):
            counts.readings += len(batch)
        elif index == 0:
            for rest in deliveries[1:]:
                counts.retried += 1
                await rest.retry(delay_s=RETRY_AFTER_S)
            return


async def publish_due_orders(
    *,
    uow_factory: Callable[[], ports.UnitOfWork],
    clock: ports.Clock,
    orders: bp.RelayOrderPublisher,
    lease: timedelta = ORDER_LEASE,
) -> int:
    """Hand each due relay command to its bus's subject; return how many were published.

    A trip a top-up overtook is cancelled here, as the in-process head-end does just before
    sending (the core owns the balance). The command is leased first (not due again for
    ``lease``), so of two ingest workers that both saw it due, the second finds it leased
    and passes; a worker killed between the lease and the publish leaves the command to be
    published when the lease ends. A meter on no bus waits, as it does in-process.
    """
    published = 0
    for due in await due_relay_commands(uow=uow_factory(), clock=clock):
        if due.bus is None:
            continue
        if not await recheck_relay_command(uow=uow_factory(), clock=clock, command=due.command):
            continue
        if not await _lease(uow_factory(), clock, due.command, lease):
            continue
        await orders.publish_order(bp.RelayOrder(bus=due.bus, command=due.command))
        published += 1
    return published


async def _lease(
    uow: ports.UnitOfWork, clock: ports.Clock, command: RelayCommand, lease: timedelta
) -> bool:
    now = clock.now()
    async with uow:
        state = await uow.headend.relay_command_state(command.id)
        # Still pending at this attempt, and not leased by another worker meanwhile.
        if state != (RelayCommandStatus.PENDING, command.attempts):
            return False
        pending = await uow.headend.due_relay_commands(at=now + _EVER, limit=_ALL)
        if not any(c.id == command.id and c.not_before_at <= now for c in pending):
            return False
        if any(c.meter_number == command.meter_number and c.id < command.id for c in pending):
            # An older command for the meter is still out (leased, or waiting for a retry):
            # this one waits for it, so a close never overtakes its trip on the way.
            return False
        await uow.headend.update_relay_command(
            command.id, status=RelayCommandStatus.PENDING, at=now, not_before_at=now + lease
        )
        await uow.commit()
    return True


# Every pending command, leased or not (the outbox holds few).
_EVER = timedelta(days=36_500)
_ALL = 1_000_000


class IngestWorker:
    """One ingest process: take batches until stopped, and publish due relay orders."""

    def __init__(
        self,
        *,
        source: bp.CollectedSource,
        orders: bp.RelayOrderPublisher,
        uow_factory: Callable[[], ports.UnitOfWork],
        clock: ports.Clock,
        batch: int = INGEST_BATCH,
        order_poll_s: float = ORDER_POLL_S,
    ) -> None:
        self.source = source
        self.orders = orders
        self.uow_factory = uow_factory
        self.clock = clock
        self.batch = batch
        self.order_poll_s = order_poll_s
        self.counts = IngestCounts()

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest and publish orders until ``stop`` is set."""
        orders = asyncio.create_task(self._order_loop(stop))
        try:
            while not stop.is_set():
                try:
                    deliveries = await self.source.fetch_collected(
                        batch=self.batch, timeout_s=FETCH_TIMEOUT_S
                    )
                except bp.BrokerUnavailable as exc:
                    logger.warning("ingest: %s; trying again", exc)
                    await _nap(stop, 1.0)
                    continue
                if deliveries:
                    await ingest(
                        uow_factory=self.uow_factory,
                        clock=self.clock,
                        deliveries=deliveries,
                        counts=self.counts,
                    )
        finally:
            stop.set()
            await orders

    async def _order_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.counts.orders += await publish_due_orders(
                    uow_factory=self.uow_factory, clock=self.clock, orders=self.orders
                )
            except Exception:
                # The outbox is read again on the next round.
                logger.exception("Unable to hand the due relay commands to the broker")
            await _nap(stop, self.order_poll_s)


async def _nap(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
