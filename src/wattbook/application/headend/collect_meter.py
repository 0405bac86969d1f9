"""Visit one meter on its bus and read what its poll plan says is due (C1, C3, C5, M2, M6).

No database here: the visit talks to the meter gateway only and returns a
:class:`~wattbook.application.headend.ports.MeterCollection` for the core to store, plus the
meter's schedule for the next visit. One request is in flight at a time (the gateway's bus).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, time
from typing import TypeVar

from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.domain import metering
from wattbook.domain.headend import MeterEventKind
from wattbook.domain.values import BillingMonth, MeterNumber, local_datetime, to_local

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Events that last (cover open, power down): their record is read again until it has an end.
LASTING_EVENTS = frozenset(
    {
        MeterEventKind.METER_COVER_OPENED,
        MeterEventKind.TERMINAL_COVER_OPENED,
        MeterEventKind.POWER_DOWN,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterSchedule:
    """What the head-end remembers of one meter between visits.

    ``event_counts`` are the counters last seen (a kind absent: never seen, so the records
    the meter holds are read without a gap alarm); the ``*_due_at`` times are when each part
    of the plan is due next (None: now); ``settled_month`` is the last month whose settlement
    was read; ``lasting`` are the kinds whose latest record has no end yet; ``failures``
    counts the visits in a row that ended unheard.
    """

    meter_number: MeterNumber
    plan: hp.PollPlan = dataclasses.field(default_factory=hp.PollPlan)
    event_counts: tuple[tuple[MeterEventKind, int], ...] = ()
    energy_due_at: datetime | None = None
    status_due_at: datetime | None = None
    clock_due_at: datetime | None = None
    settled_month: str | None = None
    lasting: frozenset[MeterEventKind] = frozenset()
    failures: int = 0

    @classmethod
    def of(cls, meter: hp.BusMeter) -> MeterSchedule:
        """Return the first schedule of a meter configured on a bus: everything due now."""
        return cls(
            meter_number=meter.meter_number, plan=meter.plan, event_counts=meter.event_counts
        )

    def due_at(self, now: datetime) -> datetime:
        """Return when the next part of the plan is due (``now`` or earlier if overdue)."""
        energy, status, clock = self.energy_due_at, self.status_due_at, self.clock_due_at
        if energy is None or status is None or clock is None:
            return now
        # A settlement is read on the first energy visit after it is frozen: no visit of its own.
        return min(energy, status, clock)


def _settlement_due(schedule: MeterSchedule, now: datetime) -> str | None:
    """Return the month whose settlement is due to be read, or None.

    The meter freezes its registers on the plan's settlement day and hour; the freeze closes
    the billing month before it (a freeze on 1 March at 00:00 closes February).
    """
    plan = schedule.plan
    local = to_local(now)
    month = BillingMonth(year=local.year, month=local.month)
    frozen_at = local_datetime(
        month.first_date.replace(day=plan.settlement_day), time(plan.settlement_hour)
    )
    if now < frozen_at:
        month = month.previous()
    closed = str(month.previous())
    return None if schedule.settled_month == closed else closed


@dataclass(slots=True)
class _Visit:
    """The collection of a visit in progress (mutable while the visit runs)."""

    reading: metering.Reading | None = None
    latest: hp.LatestValues | None = None
    counts: dict[MeterEventKind, int] = dataclasses.field(default_factory=dict)
    events: list[hp.MeterEvent] = dataclasses.field(default_factory=list)
    lost: dict[MeterEventKind, int] = dataclasses.field(default_factory=dict)
    settlement: hp.Settlement | None = None
    clock: hp.ClockCheck | None = None
    refusals: list[str] = dataclasses.field(default_factory=list)


async def collect_meter(
    *, gateway: hp.MeterGateway, schedule: MeterSchedule, clock: ports.Clock
) -> tuple[hp.MeterCollection, MeterSchedule]:
    """Read what is due from one meter; return what was collected and the next schedule.

    A silent or garbled meter ends the visit at once (the rest of the bus must not wait on
    it); what was read before stays collected, and what was not stays due. A refusal of one
    item (an item this meter model lacks) is noted and the visit goes on.
    """
    now = clock.now()
    plan = schedule.plan
    visit = _Visit()
    next_schedule = schedule
    error = ""
    bus_failed = False
    energy_due = schedule.energy_due_at is None or schedule.energy_due_at <= now
    try:
        if energy_due:
            visit.reading = await _refusable(visit, gateway.read_registers(schedule.meter_number))
            next_schedule = dataclasses.replace(
                next_schedule, energy_due_at=now + plan.energy_every
            )
        if schedule.status_due_at is None or schedule.status_due_at <= now:
            lasting = await _read_status_and_events(gateway, schedule, visit, now)
            next_schedule = dataclasses.replace(
                next_schedule,
                status_due_at=now + plan.status_every,
                event_counts=tuple(sorted({**dict(schedule.event_counts), **visit.counts}.items())),
                lasting=lasting,
            )
        month = _settlement_due(schedule, now) if energy_due else None
        if month is not None:
            registers = await _refusable(
                visit, gateway.read_settlement(schedule.meter_number, months_back=1)
            )
            if registers is not None:
                visit.settlement = hp.Settlement(
                    meter_number=schedule.meter_number,
                    month=month,
                    registers=registers,
                    read_at=now,
                )
            next_schedule = dataclasses.replace(next_schedule, settled_month=month)
        if schedule.clock_due_at is None or schedule.clock_due_at <= now:
            visit.clock = await _check_clock(gateway, schedule, visit)
            next_schedule = dataclasses.replace(next_schedule, clock_due_at=now + plan.clock_every)
    except hp.MeterUnreachable as exc:
        error = exc.detail
        bus_failed = isinstance(exc, hp.BusUnreachable)
        next_schedule = _back_off(next_schedule, now)
    else:
        if next_schedule.failures:
            next_schedule = dataclasses.replace(next_schedule, failures=0)
    collection = hp.MeterCollection(
        meter_number=schedule.meter_number,
        bus=gateway.bus,
        visited_at=now,
        succeeded=not error,
        error=error or "; ".join(visit.refusals),
        reading=visit.reading,
        latest=visit.latest,
        event_counts=tuple(sorted(visit.counts.items())),
        events=tuple(visit.events),
        lost=tuple(sorted(visit.lost.items())),
        settlement=visit.settlement,
        clock=visit.clock,
        bus_failed=bus_failed,
    )
    return collection, next_schedule


def missed_visit(
    *, schedule: MeterSchedule, bus: str, error: str, now: datetime
) -> tuple[hp.MeterCollection, MeterSchedule]:
    """Return a visit that failed because the bus is down, and the next (backed-off) schedule.

    The meter is counted as unheard exactly as if the visit had been made and found it
    silent (C2), without dialling a line already known to be down once per meter.
    """
    collection = hp.MeterCollection(
        meter_number=schedule.meter_number,
        bus=bus,
        visited_at=now,
        succeeded=False,
        error=error,
        bus_failed=True,
    )
    return collection, _back_off(schedule, now)


def _back_off(schedule: MeterSchedule, now: datetime) -> MeterSchedule:
    """Return the schedule of a meter that fell silent: its next visit waits longer each time.

    A silent meter costs the bus a full timeout per attempt, so it is tried after one status
    interval, then two, four ... but never less often than its energy is due.
    """
    failures = schedule.failures + 1
    plan = schedule.plan
    wait = min(plan.status_every * 2 ** min(failures - 1, 16), plan.energy_every)
    retry_at = now + wait

    def later(at: datetime | None) -> datetime:
        return retry_at if at is None or at < retry_at else at

    return dataclasses.replace(
        schedule,
        failures=failures,
        energy_due_at=later(schedule.energy_due_at),
        status_due_at=later(schedule.status_due_at),
        clock_due_at=later(schedule.clock_due_at),
    )


async def _refusable(visit: _Visit, read: Awaitable[T]) -> T | None:
    """Await a read; a refusal is noted and gives None."""
    try:
        return await read
    except hp.MeterRefused as exc:
        visit.refusals.append(exc.detail)
        return None


async def _read_status_and_events(
    gateway: hp.MeterGateway, schedule: MeterSchedule, visit: _Visit, now: datetime
) -> frozenset[MeterEventKind]:
    meter = schedule.meter_number
    status = await _refusable(visit, gateway.read_status(meter))
    values = await _refusable(visit, gateway.read_instant_values(meter))
    if status is not None:
        visit.latest = hp.LatestValues(
            meter_number=meter, read_at=now, status=status, values=values
        )
    known = dict(schedule.event_counts)
    lasting = set(schedule.lasting)
    for kind in MeterEventKind:
        count = await _refusable(visit, gateway.read_event_count(meter, kind))
        if count is None:
            continue
        previous = known.get(kind)
        moved = count if previous is None or count < previous else count - previous
        to_read = min(moved, hp.RECORDS_KEPT)
        # A counter that moved by more than the meter keeps has lost records; on first
        # contact (or after a meter clear) the counter is history, not a loss.
        if previous is not None and count >= previous and moved > hp.RECORDS_KEPT:
            visit.lost[kind] = moved - hp.RECORDS_KEPT
        if kind in lasting and to_read == 0:
            to_read = 1  # look again for the end of an event still in progress
        newest: hp.MeterEvent | None = None
        for index in range(1, to_read + 1):
            event = await _refusable(visit, gateway.read_event(meter, kind, index=index))
            if event is None:
                continue
            newest = newest or event
            visit.events.append(event)
        if kind in LASTING_EVENTS:
            if newest is not None and newest.ended_at is None:
                lasting.add(kind)
            elif newest is not None or to_read == 0:
                lasting.discard(kind)
        # Counted only once its records are in: a visit cut short reads them again.
        visit.counts[kind] = count
    return frozenset(lasting)


async def _check_clock(
    gateway: hp.MeterGateway, schedule: MeterSchedule, visit: _Visit
) -> hp.ClockCheck | None:
    check = await _refusable(visit, gateway.read_clock(schedule.meter_number))
    if check is None:
        return None
    if abs(check.drift) <= schedule.plan.drift_limit:
        return check
    # Beyond what the daily broadcast may correct (meters accept a few minutes a day).
    corrected = await _refusable(visit, _set(gateway, schedule.meter_number))
    return dataclasses.replace(check, corrected=corrected is not None)


async def _set(gateway: hp.MeterGateway, meter: MeterNumber) -> bool:
    await gateway.set_clock(meter)
    return True
