"""Read now (issue 12): staff ask, the head-end that owns the meter's bus serves the request.

The web process never talks on a bus: :func:`request_meter_read` only stores a request (one
pending request per meter: asking again while one waits gives the same request back). The
head-end finds the work with :func:`due_read_requests`, reads the meter before its schedule,
and stores the outcome with :func:`record_read_outcome`. A request nobody serves is marked
expired after ``READ_REQUEST_EXPIRES_AFTER`` (the domain's one rule) and the console says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattbook.application import ports, read_ports
from wattbook.application.headend import ports as hp
from wattbook.domain.headend import (
    READ_REQUEST_EXPIRES_AFTER,
    ReadRequest,
    ReadRequestStatus,
    ReadValues,
)
from wattbook.domain.values import OPERATOR_NAME_MAX, MeterNumber


class MeterOnNoBus(LookupError):
    """Raise when a read is asked of a meter that hangs on no bus (nobody could read it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAsked:
    """The request that will be served, and whether it was one already pending."""

    request_id: int
    coalesced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DueRead:
    """A pending read-now request and the bus its meter hangs on (None: on no bus now)."""

    request: ReadRequest
    bus: str | None


async def request_meter_read(
    *, uow: ports.UnitOfWork, clock: ports.Clock, meter: MeterNumber, requested_by: str
) -> ReadAsked:
    """Ask the head-end to read ``meter`` now; a request still pending for it is reused.

    :raises ValueError: if ``requested_by`` is blank or longer than ``OPERATOR_NAME_MAX``.
    :raises MeterOnNoBus: if the meter hangs on no bus.
    """
    who = requested_by.strip()
    if not who or len(who) > OPERATOR_NAME_MAX:
        raise ValueError(f"a read request names who asked (1 to {OPERATOR_NAME_MAX} characters)")
    now = clock.now()
    async with uow:
        if meter not in await uow.headend.bus_of((meter,)):
            raise MeterOnNoBus(f"meter {meter} hangs on no bus: no head-end can read it")
        await uow.headend.expire_read_requests(
            requested_before=now - READ_REQUEST_EXPIRES_AFTER, at=now
        )
        pending = await uow.headend.read_requests(meter=meter, pending_only=True, limit=1)
        if pending:
            await uow.commit()  # the expiries, if any
            return ReadAsked(request_id=pending[0].id, coalesced=True)
        request_id = await uow.headend.add_read_request(meter, requested_by=who, at=now)
        await uow.commit()
    return ReadAsked(request_id=request_id, coalesced=False)


async def due_read_requests(
    *, uow: ports.UnitOfWork, clock: ports.Clock, limit: int = 100
) -> tuple[DueRead, ...]:
    """Expire the stale requests; return the pending ones, oldest first, each with its bus."""
    now = clock.now()
    async with uow:
        await uow.headend.expire_read_requests(
            requested_before=now - READ_REQUEST_EXPIRES_AFTER, at=now
        )
        requests = await uow.headend.read_requests(pending_only=True, limit=limit)
        buses = await uow.headend.bus_of({r.meter_number for r in requests})
        await uow.commit()
    return tuple(DueRead(request=r, bus=buses.get(r.meter_number)) for r in requests)


def read_values(collection: hp.MeterCollection) -> ReadValues | None:
    """Return what a visit read that staff asked for: energy, relay, power; None if nothing."""
    reading, latest = collection.reading, collection.latest
    if reading is None and latest is None:
        return None
    values = latest.values if latest is not None else None
    return ReadValues(
        read_at=collection.visited_at,
        total_wh=reading.registers.total_wh if reading is not None else None,
        relay_open=latest.status.relay_open if latest is not None else None,
        active_power_mw=values.active_power_mw if values is not None else None,
        voltage_mv=values.voltage_mv if values is not None else None,
        current_ma=values.current_ma if values is not None else None,
    )


async def record_read_outcome(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    request: ReadRequest,
    collection: hp.MeterCollection | None,
    error: str = "",
) -> ReadRequestStatus:
    """Store how a served request ended: done with the values read, or failed and why.

    ``collection`` is the visit made for it (None: no visit could be made, ``error`` says
    why). A visit that got nothing at all is a failure. A request that expired meanwhile
    stays expired (its reading still went to the core with the visit).
    """
    values = read_values(collection) if collection is not None else None
    status = ReadRequestStatus.FAILED
    if collection is None:
        error = error or "the meter could not be visited"
    elif not collection.succeeded:
        error = collection.error or "the meter did not answer"
    elif values is None:
        error = collection.error or "the meter refused every read"
    else:
        status, error = ReadRequestStatus.DONE, collection.error  # refusals of single items
    async with uow:
        stored = await uow.headend.finish_read_request(
            request.id, status=status, at=clock.now(), error=error, values=values
        )
        await uow.commit()
    return status if stored else ReadRequestStatus.EXPIRED


async def meter_read_requests(
    *, uow: read_ports.ReadOnlyUnitOfWork, meter: MeterNumber, limit: int = 5
) -> tuple[ReadRequest, ...]:
    """Return the meter's last read-now requests, newest first (for the console)."""
    async with uow:
        return await uow.headend.read_requests(meter=meter, limit=limit)
