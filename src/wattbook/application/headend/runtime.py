"""The head-end process: one poller per bus, relay commands and read-now requests routed to
them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta

from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.application.headend.broker_ports import BrokerUnavailable, RelayOrderSource
from wattbook.application.headend.dispatch_relay_commands import (
    due_relay_commands,
    recheck_relay_command,
    record_relay_outcome,
    relay_order_current,
)
from wattbook.application.headend.poller import REDIAL_EVERY, BusActivity, BusPoller
from wattbook.application.headend.read_now import due_read_requests
from wattbook.application.headend.record_bus_reachability import record_bus_unreachable
from wattbook.application.headend.record_communication import record_communication
from wattbook.application.headend.record_meter_events import record_meter_events
from wattbook.application.metering.record_readings import record_readings
from wattbook.domain import metering
from wattbook.domain.headend import RelayCommand

logger = logging.getLogger(__name__)

COMMAND_POLL_S = 1.0
REOPEN_AFTER_S = 10.0


class InProcessCore:
    """The collection sink that calls the core's use cases in this process.

    The same :class:`CollectionSink` port is what a broker carries when the head-end runs
    apart from the core.
    """

    def __init__(self, *, uow_factory: Callable[[], ports.UnitOfWork], clock: ports.Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def record_readings(self, readings: Sequence[metering.Reading]) -> None:
        """Store and charge a batch of readings (the core's ``record_readings``)."""
        await record_readings(uow=self._uow_factory(), clock=self._clock, readings=readings)

    async def record_meter_events(self, collection: hp.MeterCollection) -> None:
        """Store one visit's events, status, settlement and clock check; raise alarms."""
        await record_meter_events(uow=self._uow_factory(), clock=self._clock, collection=collection)

    async def record_communication(
        self, bus: str, outcomes: Sequence[hp.CommunicationOutcome]
    ) -> None:
        """Count successes and failures; raise and clear no-communication alarms."""
        await record_communication(uow=self._uow_factory(), bus=bus, outcomes=outcomes)

    async def recheck_relay_command(self, command: RelayCommand) -> bool:
        """Cancel a trip a top-up overtook (the core's ``recheck_relay_command``)."""
        return await recheck_relay_command(
            uow=self._uow_factory(), clock=self._clock, command=command
        )

    async def record_relay_outcome(
        self, bus: str, command: RelayCommand, outcome: hp.RelayOutcome, plan: hp.PollPlan
    ) -> None:
        """Mark the command confirmed, due again, or failed (``record_relay_outcome``)."""
        await record_relay_outcome(
            uow=self._uow_factory(), clock=self._clock, command=command, outcome=outcome, plan=plan
        )


class Headend:
    """Collect from every bus and control every relay.

    ``buses`` come from the database (``load_buses``); each is opened through
    ``gateway_factory`` and polled by its own task. A dispatcher looks in the relay-command
    outbox every ``command_poll_s`` and hands each due command to its meter's bus. A bus whose
    line is down is dialled again every ``redial_every`` (see :class:`BusPoller`).
    """

    def __init__(
        self,
        *,
        buses: Sequence[hp.BusConfig],
        gateway_factory: hp.MeterGatewayFactory,
        sink: hp.CollectionSink,
        uow_factory: Callable[[], ports.UnitOfWork],
        clock: ports.Clock,
        command_poll_s: float = COMMAND_POLL_S,
        redial_every: timedelta = REDIAL_EVERY,
        orders: RelayOrderSource | None = None,
    ) -> None:
        self.buses = tuple(buses)
        # With a broker, relay orders come from it (per bus) instead of the outbox.
        self.orders = orders
        self.gateway_factory = gateway_factory
        self.sink = sink
        self.uow_factory = uow_factory
        self.clock = clock
        self.command_poll_s = command_poll_s
        self.redial_every = redial_every
        self.pollers: dict[str, BusPoller] = {}
        self.activity: dict[str, BusActivity] = {bus.name: BusActivity() for bus in self.buses}

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[dict[str, BusPoller]]:
        """Open every bus and build its poller (for tests and one-shot sweeps).

        A bus whose line is down still gets its poller: its sweeps raise the alarms.

        :raises BusUnreachable: if a bus's URL names no line that could be opened.
        """
        async with contextlib.AsyncExitStack() as stack:
            for bus in self.buses:
                gateway = await stack.enter_async_context(self.gateway_factory(bus))
                self.pollers[bus.name] = self._poller(bus, gateway)
            try:
                yield self.pollers
            finally:
                self.pollers.clear()

    def _poller(self, bus: hp.BusConfig, gateway: hp.MeterGateway) -> BusPoller:
        return BusPoller(
            bus=bus,
            gateway=gateway,
            sink=self.sink,
            clock=self.clock,
            uow_factory=self.uow_factory,
            redial_every=self.redial_every,
            activity=self.activity.setdefault(bus.name, BusActivity()),
        )

    def bus_activity(self) -> tuple[tuple[str, BusActivity], ...]:
        """Return a copy of what each bus has done so far, in bus order."""
        return tuple(
            (name, dataclasses.replace(activity)) for name, activity in self.activity.items()
        )

    async def dispatch_commands(self) -> int:
        """Hand the due relay commands to their buses' pollers; return how many were queued."""
        queued = 0
        for due in await due_relay_commands(uow=self.uow_factory(), clock=self.clock):
            poller = self.pollers.get(due.bus) if due.bus is not None else None
            if poller is None:
                continue  # a meter on no bus this process drives: another head-end's shard
            queued += poller.submit(due.command)
        return queued

    async def dispatch_reads(self) -> int:
        """Hand the pending read-now requests to their buses' pollers; return how many.

        Stale requests are marked expired on the way. A request for a meter on a bus this
        process does not drive waits for the head-end that does (or expires).
        """
        queued = 0
        for due in await due_read_requests(uow=self.uow_factory(), clock=self.clock):
            poller = self.pollers.get(due.bus) if due.bus is not None else None
            if poller is not None:
                queued += poller.submit_read(due.request)
        return queued

    async def sweep(self) -> int:
        """Dispatch due commands and read requests, then sweep every bus once, in parallel;
        return the visits."""
        await self.dispatch_commands()
        await self.dispatch_reads()
        visits = await asyncio.gather(*(poller.sweep() for poller in self.pollers.values()))
        return sum(visits)

    async def take_orders(self, bus: str, *, timeout_s: float) -> int:
        """Hand the relay orders the broker holds for ``bus`` to its poller; return how many.

        An order is acknowledged once its outcome is handed over (published, or spooled), so
        a head-end killed before that gets it again when it restarts. An order redelivered
        while the poller still has it, or after it was carried out, is only acknowledged.
        """
        if self.orders is None:
            return 0
        poller = self.pollers.get(bus)
        if poller is None:
            return 0
        queued = 0
        for delivery in await self.orders.fetch_orders(bus, batch=16, timeout_s=timeout_s):
            command = delivery.item.command
            if delivery.delivered > 1 and not await self._still_current(command):
                # Delivered again (a head-end killed before acknowledging it): its outcome is
                # recorded, so it is not carried out twice. The database decides; while it
                # cannot, the order waits (the safe path), as any order would for the core.
                await delivery.ack()
                continue
            if poller.submit(command, on_done=delivery.ack):
                queued += 1
            elif poller.carried_out(command):
                await delivery.ack()
        return queued

    async def _still_current(self, command: RelayCommand) -> bool:
        return await relay_order_current(uow=self.uow_factory(), command=command)

    async def _order_loop(self, bus: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if bus not in self.pollers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.command_poll_s)
                continue
            try:
                await self.take_orders(bus, timeout_s=self.command_poll_s)
            except BrokerUnavailable as exc:
                logger.warning("relay orders of bus %s wait: %s", bus, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.command_poll_s)
            except Exception:
                # The broker is away: its orders wait there for us.
                logger.exception("Unable to take the relay orders of bus %s", bus)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.command_poll_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every bus and the command dispatcher until ``stop`` is set."""
        tasks = [asyncio.create_task(self._run_bus(bus, stop)) for bus in self.buses]
        if self.orders is not None:
            tasks += [asyncio.create_task(self._order_loop(b.name, stop)) for b in self.buses]
        try:
            while not stop.is_set():
                try:
                    if self.orders is None:
                        await self.dispatch_commands()
                except Exception:
                    # The outbox is read again on the next round; collection goes on.
                    logger.exception("Unable to read the relay-command outbox")
                try:
                    await self.dispatch_reads()
                except Exception:
                    logger.exception("Unable to read the read-now requests")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.command_poll_s)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_bus(self, bus: hp.BusConfig, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.gateway_factory(bus) as gateway:
                    poller = self._poller(bus, gateway)
                    self.pollers[bus.name] = poller
                    try:
                        await poller.run(stop)
                    finally:
                        self.pollers.pop(bus.name, None)
            except hp.MeterUnreachable as exc:
                logger.warning("bus %s cannot be opened: %s", bus.name, exc)
                await self._bus_down(bus, str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=REOPEN_AFTER_S)

    async def _bus_down(self, bus: hp.BusConfig, error: str) -> None:
        # A bus whose URL names no line that could be opened (a line that is merely down gives
        # a gateway, and its poller raises the alarms): every meter on it is unheard (C2).
        now = self.clock.now()
        activity = self.activity.setdefault(bus.name, BusActivity())
        activity.reachable, activity.error = False, error
        activity.reads_failed += len(bus.meters)
        outcomes = [
            hp.CommunicationOutcome(
                meter_number=meter.meter_number,
                at=now,
                succeeded=False,
                error=error,
                no_communication_after=meter.plan.no_communication_after,
            )
            for meter in bus.meters
        ]
        try:
            await self.sink.record_communication(bus.name, outcomes)
        except Exception:
            logger.exception("Unable to hand over the failed visits of bus %s", bus.name)
        try:
            await record_bus_unreachable(uow=self.uow_factory(), bus=bus.name, detail=error, at=now)
        except Exception:
            logger.exception("Unable to record that bus %s is down", bus.name)
