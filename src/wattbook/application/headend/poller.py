"""One bus's poll loop: visit the meters whose plan is due, carry out relay commands first."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.application.headend.collect_meter import MeterSchedule, collect_meter, missed_visit
from wattbook.application.headend.dispatch_relay_commands import carry_out_relay_command
from wattbook.application.headend.read_now import record_read_outcome
from wattbook.application.headend.record_bus_reachability import (
    record_bus_reachable,
    record_bus_unreachable,
)
from wattbook.domain import metering
from wattbook.domain.headend import ReadRequest, RelayCommand
from wattbook.domain.values import MeterNumber

logger = logging.getLogger(__name__)

BROADCAST_EVERY = timedelta(days=1)
BROADCAST_RETRY = timedelta(minutes=5)
# Readings are handed to the core in batches of at most this many (one transaction each).
READING_BATCH = 200
# ... and no reading waits longer than this for the rest of its sweep: a household that ran out
# of money is charged, and cut, minutes after its meter was read, not after the whole bus.
READING_WAIT = timedelta(minutes=1)
# Longest nap of an idle bus, so a clock change or a new command is never missed for long.
MAX_IDLE_S = 5.0
# How often the line of a bus that is down is dialled again (its meters' visits meanwhile fail
# on their usual schedule without touching it).
REDIAL_EVERY = timedelta(seconds=10)


@dataclasses.dataclass(slots=True)
class BusActivity:
    """What one bus has done since the head-end started, for the operator's status line.

    It outlives the bus's pollers (a bus that is opened again keeps counting).
    """

    reads_ok: int = 0
    reads_failed: int = 0
    last_reading_at: datetime | None = None
    # None until the line is first dialled; then whether it could be.
    reachable: bool | None = None
    error: str = ""


class BusPoller:
    """Poll one bus: one request in flight, relay commands before polls (C1, C4).

    ``sweep`` visits every meter whose plan is due once, in bus order, and hands what it
    collected to the ``sink``; ``run`` sweeps until stopped, napping while nothing is due.
    Relay commands queued with :meth:`submit` go first: between two meter visits in
    ``sweep``, and between two requests when ``run`` works them concurrently (the gateway
    gives relay traffic the bus before waiting polls).

    A line that cannot be opened (the serial-to-TCP server is down or unreachable) raises the
    bus's BUS_UNREACHABLE alarm at the first failed dial, and the alarm ends when the line
    opens again; it is dialled again every ``redial_every``. Meanwhile every visit that falls
    due fails as if the meter were silent, so its no-communication alarm comes on the usual
    schedule (C2) and ends on its next answer.
    """

    def __init__(
        self,
        *,
        bus: hp.BusConfig,
        gateway: hp.MeterGateway,
        sink: hp.CollectionSink,
        clock: ports.Clock,
        uow_factory: Callable[[], ports.UnitOfWork],
        reading_batch: int = READING_BATCH,
        reading_wait: timedelta = READING_WAIT,
        redial_every: timedelta = REDIAL_EVERY,
        activity: BusActivity | None = None,
    ) -> None:
        self.bus = bus
        self.activity = activity if activity is not None else BusActivity()
        self.gateway = gateway
        self.sink = sink
        self.clock = clock
        self.uow_factory = uow_factory
        self.reading_batch = reading_batch
        self.reading_wait = reading_wait
        self.redial_every = redial_every
        self.schedules: dict[MeterNumber, MeterSchedule] = {
            meter.meter_number: MeterSchedule.of(meter) for meter in bus.meters
        }
        self.broadcast_due_at: datetime | None = None
        self.visits = 0
        self.commands_done = 0
        self._commands: asyncio.Queue[RelayCommand] = asyncio.Queue()
        self._queued: set[int] = set()
        self._on_done: dict[int, Callable[[], Awaitable[None]]] = {}
        self._carrying_out = asyncio.Lock()
        # Attempts (command id, attempts before) carried out lately: a broker's order
        # delivered again after its outcome was handed over is not carried out twice.
        self._commands_done: collections.deque[tuple[int, int]] = collections.deque(maxlen=1024)
        self._reads: asyncio.Queue[ReadRequest] = asyncio.Queue()
        self._reads_queued: set[int] = set()
        # Requests served lately: the dispatcher may have read one as pending just before its
        # outcome was stored, and must not have the meter read twice.
        self._reads_done: collections.deque[int] = collections.deque(maxlen=256)
        self.reads_served = 0
        # Set when a read-now request arrives, to wake an idle bus at once.
        self._wake = asyncio.Event()
        self._readings: list[metering.Reading] = []
        self._outcomes: list[hp.CommunicationOutcome] = []
        # The line: None until first dialled, then whether it is open; why and since when not.
        self.line_up: bool | None = None
        self.line_error = ""
        self.line_down_at: datetime | None = None
        self.redial_at: datetime | None = None
        # Whether the stored BUS_UNREACHABLE alarm is open (None: not known yet).
        self._alarm_open: bool | None = None

    # ------------------------------------------------------------------ relay commands

    def submit(
        self, command: RelayCommand, *, on_done: Callable[[], Awaitable[None]] | None = None
    ) -> bool:
        """Queue a due relay command for this bus; return False if it is queued already, or
        if this attempt of it was carried out lately.

        ``on_done`` is awaited once its outcome has been handed to the sink (a broker's
        order is acknowledged then).
        """
        if command.id in self._queued or self.carried_out(command):
            return False
        self._queued.add(command.id)
        if on_done is not None:
            self._on_done[command.id] = on_done
        self._commands.put_nowait(command)
        return True

    def carried_out(self, command: RelayCommand) -> bool:
        """Test whether this attempt of the command was carried out and handed over lately."""
        return (command.id, command.attempts) in self._commands_done

    async def carry_out_commands(self) -> int:
        """Carry out every queued relay command now; return how many were handled."""
        done = 0
        while not self._commands.empty():
            await self._carry_out(self._commands.get_nowait())
            done += 1
        return done

    async def _carry_out(self, command: RelayCommand) -> None:
        # One command at a time, in the order taken from the queue: the command loop and a
        # sweep both take from it, and a trip and its close must not cross on the bus.
        async with self._carrying_out:
            await self._carry_out_now(command)

    async def _carry_out_now(self, command: RelayCommand) -> None:
        on_done = self._on_done.pop(command.id, None)
        try:
            wanted = await self.sink.recheck_relay_command(command)
            if wanted:
                outcome = await carry_out_relay_command(gateway=self.gateway, command=command)
                schedule = self.schedules.get(command.meter_number)
                plan = schedule.plan if schedule is not None else hp.PollPlan()
                await self.sink.record_relay_outcome(self.bus.name, command, outcome, plan)
            self._commands_done.append((command.id, command.attempts))
            self.commands_done += 1
            if on_done is not None:
                await on_done()
        finally:
            self._queued.discard(command.id)

    # ------------------------------------------------------------------ read-now requests

    def submit_read(self, request: ReadRequest) -> bool:
        """Queue a read-now request for this bus; return False if it is queued already.

        It is served in the bus's sweep, before the meters whose plan is due (one request in
        flight on the bus: a read-now visit is a visit like the others, only earlier).
        """
        if request.id in self._reads_queued or request.id in self._reads_done:
            return False
        self._reads_queued.add(request.id)
        self._reads.put_nowait(request)
        self._wake.set()
        return True

    async def serve_reads(self) -> int:
        """Serve every queued read-now request now; return how many were served."""
        served = 0
        while not self._reads.empty():
            request = self._reads.get_nowait()
            try:
                await self._serve_read(request)
            finally:
                self._reads_done.append(request.id)
                self._reads_queued.discard(request.id)
            served += 1
        return served

    async def _serve_read(self, request: ReadRequest) -> None:
        schedule = self.schedules.get(request.meter_number)
        if schedule is None:
            error = f"meter {request.meter_number} is not on bus {self.bus.name} any more"
            await self._hand_over(
                lambda: record_read_outcome(
                    uow=self.uow_factory(),
                    clock=self.clock,
                    request=request,
                    collection=None,
                    error=error,
                ),
                f"the outcome of read request {request.id}",
            )
            return
        await self._check_line()
        # Energy and status are due now, whatever the plan said; the rest keeps its times.
        forced = dataclasses.replace(schedule, energy_due_at=None, status_due_at=None)
        if self.line_up:
            collection = await self._visit(forced)
        else:
            collection = self._miss(forced)
        await self.flush()  # the reading reaches the core (and the meter page) at once
        self.reads_served += 1
        await self._hand_over(
            lambda: record_read_outcome(
                uow=self.uow_factory(), clock=self.clock, request=request, collection=collection
            ),
            f"the outcome of read request {request.id}",
        )

    # ------------------------------------------------------------------ polling

    def next_due_at(self) -> datetime:
        """Return when the next meter (or the bus's time broadcast) is due."""
        now = self.clock.now()
        times = [schedule.due_at(now) for schedule in self.schedules.values()]
        if self.broadcast_due_at is not None:
            times.append(self.broadcast_due_at)
        elif self.line_up is not False:
            # The first broadcast is due now, but only on a line that may be up: a bus down
            # since start-up waits for its redial instead of spinning the event loop.
            times.append(now)
        if self.line_up is False and self.redial_at is not None:
            times.append(self.redial_at)
        return min(times)

    async def sweep(self, stop: asyncio.Event | None = None) -> int:
        """Visit every meter whose plan is due once; hand over what was collected.

        Once ``stop`` is set the sweep visits no more meters (a sweep of a long bus takes
        seconds; stopping must not wait for it) and hands over what it has. Return how many
        meters were visited.
        """
        visited = 0
        await self._check_line()
        if self.line_up:
            await self._broadcast_if_due()
        for meter in list(self.schedules):
            if stop is not None and stop.is_set():
                break
            if not self._commands.empty():
                await self.carry_out_commands()
            if not self._reads.empty():
                await self.serve_reads()
            schedule = self.schedules[meter]
            now = self.clock.now()
            if schedule.due_at(now) > now:
                continue
            if self.line_up:
                await self._visit(schedule)
            else:
                self._miss(schedule)
            visited += 1
            if len(self._readings) >= self.reading_batch or (
                self._readings
                and self.clock.now() - self._readings[0].received_at >= self.reading_wait
            ):
                await self.flush()
        await self.carry_out_commands()
        await self.serve_reads()
        await self._record_line()
        await self.flush()
        self.visits += visited
        return visited

    async def _broadcast_if_due(self) -> None:
        now = self.clock.now()
        if self.broadcast_due_at is not None and self.broadcast_due_at > now:
            return
        try:
            await self.gateway.broadcast_time()
        except hp.MeterUnreachable as exc:
            logger.warning("bus %s: time broadcast failed: %s", self.bus.name, exc)
            # Tried again later, not at once: a failing broadcast must not spin the loop.
            self.broadcast_due_at = now + BROADCAST_RETRY
            return
        self.broadcast_due_at = now + BROADCAST_EVERY

    # ------------------------------------------------------------------ the line

    async def _check_line(self) -> None:
        """Dial the line if it has not been yet, or if it is down and due to be dialled."""
        now = self.clock.now()
        if self.line_up or (
            self.line_up is False and self.redial_at is not None and self.redial_at > now
        ):
            return
        try:
            await self.gateway.connect()
        except hp.BusUnreachable as exc:
            self._line_down(exc.detail, now)
            return
        if self.line_up is False:
            logger.info("bus %s can be reached again", self.bus.name)
        self.line_up = True
        self.line_down_at = None
        self.activity.reachable, self.activity.error = True, ""

    def _line_down(self, error: str, at: datetime) -> None:
        if self.line_up is not False:
            logger.warning("bus %s cannot be reached: %s", self.bus.name, error)
            self.line_down_at = at
        self.line_up = False
        self.line_error = error
        self.redial_at = at + self.redial_every
        self.activity.reachable, self.activity.error = False, error

    async def _record_line(self) -> None:
        # The stored alarm follows the line; a write that fails is tried again next sweep.
        if self.line_up is None:
            return
        wanted = not self.line_up
        if self._alarm_open is wanted:
            return
        if wanted:
            at = self.line_down_at or self.clock.now()
            detail = self.line_error

            async def write() -> None:
                await record_bus_unreachable(
                    uow=self.uow_factory(), bus=self.bus.name, detail=detail, at=at
                )
        else:
            now = self.clock.now()

            async def write() -> None:
                await record_bus_reachable(uow=self.uow_factory(), bus=self.bus.name, at=now)

        if await self._hand_over(write, "the bus alarm"):
            self._alarm_open = wanted

    def _miss(self, schedule: MeterSchedule) -> hp.MeterCollection:
        collection, following = missed_visit(
            schedule=schedule, bus=self.bus.name, error=self.line_error, now=self.clock.now()
        )
        self.schedules[schedule.meter_number] = following
        self._count(schedule, collection)
        return collection

    def _count(self, schedule: MeterSchedule, collection: hp.MeterCollection) -> None:
        if collection.succeeded:
            self.activity.reads_ok += 1
        else:
            self.activity.reads_failed += 1
        if collection.reading is not None:
            self.activity.last_reading_at = collection.visited_at
        self._outcomes.append(
            hp.CommunicationOutcome(
                meter_number=schedule.meter_number,
                at=collection.visited_at,
                succeeded=collection.succeeded,
                error=collection.error,
                no_communication_after=schedule.plan.no_communication_after,
            )
        )

    # ------------------------------------------------------------------ visits

    async def _visit(self, schedule: MeterSchedule) -> hp.MeterCollection:
        collection, following = await collect_meter(
            gateway=self.gateway, schedule=schedule, clock=self.clock
        )
        self.schedules[schedule.meter_number] = following
        self._count(schedule, collection)
        if collection.bus_failed:
            # The rest of this sweep's visits fail without dialling again (see _miss).
            self._line_down(collection.error, collection.visited_at)
        if collection.reading is not None:
            self._readings.append(collection.reading)
        if collection.event_counts and dict(collection.event_counts) == dict(schedule.event_counts):
            # Unchanged counters need no write; the visit's other data still does.
            collection = dataclasses.replace(collection, event_counts=())
        if _has_data(collection):
            await self._hand_over(
                lambda: self.sink.record_meter_events(collection),
                f"events of meter {schedule.meter_number}",
                on_failure=lambda: self._forget_counts(schedule),
            )
        return collection

    def _forget_counts(self, before: MeterSchedule) -> None:
        # The core did not store the events: read them again on the next visit.
        current = self.schedules[before.meter_number]
        self.schedules[before.meter_number] = dataclasses.replace(
            current, event_counts=before.event_counts, status_due_at=None
        )

    async def flush(self) -> None:
        """Hand the readings and communication outcomes gathered so far to the core."""
        if self._readings:
            readings, self._readings = self._readings, []
            if not await self._hand_over(
                lambda: self.sink.record_readings(readings), f"{len(readings)} readings"
            ):
                self._readings[:0] = readings  # kept for the next flush: nothing is lost
        if self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            if not await self._hand_over(
                lambda: self.sink.record_communication(self.bus.name, outcomes),
                "communication outcomes",
            ):
                self._outcomes[:0] = outcomes

    async def _hand_over(
        self,
        call: Callable[[], Awaitable[object]],
        what: str,
        on_failure: Callable[[], None] | None = None,
    ) -> bool:
        # The one place the head-end swallows an unexpected error: a core that fails (a
        # database restart) must not stop collection; the data is kept and handed over again.
        try:
            await call()
        except Exception:
            logger.exception("Unable to hand %s of bus %s to the core", what, self.bus.name)
            if on_failure is not None:
                on_failure()
            return False
        return True

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep until ``stop`` is set, carrying out relay commands as they arrive."""
        commands = asyncio.create_task(self._command_loop(stop))
        try:
            while not stop.is_set():
                await self.sweep(stop)
                wait_s = (self.next_due_at() - self.clock.now()).total_seconds()
                if wait_s > 0 and self._reads.empty():
                    await self._nap(stop, min(wait_s, MAX_IDLE_S))
        finally:
            commands.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await commands
            await self.flush()

    async def _nap(self, stop: asyncio.Event, timeout: float) -> None:
        # Until stopped, the time is up, or a read-now request arrives.
        self._wake.clear()
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _command_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            command = await self._commands.get()
            await self._carry_out(command)


def _has_data(collection: hp.MeterCollection) -> bool:
    return bool(
        collection.latest
        or collection.events
        or collection.event_counts
        or collection.lost
        or collection.settlement
        or collection.clock
    )
