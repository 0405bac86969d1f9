"""Meters and buses (A1, A3, C2, C4, C5): health at a glance; read now, trip, close and
keep-power with a reason through the head-end's queues (the web never talks on a bus), and
emergency power-back."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application.headend import dispatch_relay_commands, list_alarms, read_now
from wattbook.application.headend import ports as hp
from wattbook.application.prepaid import keep_power
from wattbook.domain import headend, staff
from wattbook.domain.values import MeterNumber, Period, local_date
from wattbook.interfaces.web import _context
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, refusals, render

router = APIRouter(prefix="/console/meters")
P = staff.Permission
# The success rate is over the last week.
HEALTH_WINDOW = timedelta(days=7)
# An emergency power-back keeps the power on for a day unless the operator says otherwise.
POWER_BACK_HOURS = 24
MAX_KEEP_POWER_HOURS = 24 * 31
# The meter page shows this many of the meter's last read-now requests.
READS_SHOWN = 3
RELAY_ORDERS = {
    "TRIP": headend.RelayOperation.TRIP,
    "CLOSE": headend.RelayOperation.CLOSE,
}


@router.get("")
async def overview(
    request: Request, acting: Annotated[Acting, Depends(Guard(P.VIEW))], bus: str = ""
) -> Response:
    """List every installed meter by bus with its last reading, success, relay and clock."""
    runtime = _context.runtime(request)
    since = runtime.storage.clock.now() - HEALTH_WINDOW
    since_day = local_date(since)
    async with runtime.storage.reader_factory() as uow:
        meters = await uow.headend.meter_overview(since=since)
        buses = await uow.headend.buses()
        health = []
        for config in buses:
            days = [
                d
                for d in await uow.headend.communication_days(bus=config.name)
                if d.meter_number is None and d.day >= since_day
            ]
            health.append(
                (
                    config,
                    sum(d.attempts for d in days),
                    sum(d.successes for d in days),
                )
            )
    if bus:
        meters = tuple(m for m in meters if m.bus == bus)
    return render(
        request,
        "console/meters.html",
        acting=acting,
        meters=meters,
        buses=buses,
        bus=bus,
        health=health,
    )


async def _meter(request: Request, meter: str) -> hp.MeterOverview:
    runtime = _context.runtime(request)
    number = MeterNumber(value=meter)
    async with runtime.storage.reader_factory() as uow:
        found = await uow.headend.meter_overview(
            since=runtime.storage.clock.now() - HEALTH_WINDOW, meter=number
        )
    if not found:
        raise LookupError(f"no meter {meter} is installed")
    return found[0]


@router.get("/{meter}")
async def meter_page(
    request: Request, meter: str, acting: Annotated[Acting, Depends(Guard(P.VIEW))]
) -> Response:
    """Show one meter, its alarms and its event history, and the orders an engineer gives."""
    runtime = _context.runtime(request)
    try:
        found = await _meter(request, meter)
        alarms = await list_alarms.list_alarms(
            uow=runtime.storage.reader_factory(),
            open_only=False,
            subject=str(found.meter_number),
            limit=50,
        )
        reads = await read_now.meter_read_requests(
            uow=runtime.storage.reader_factory(), meter=found.meter_number, limit=READS_SHOWN
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/meters")
    now = runtime.storage.clock.now()
    return render(
        request,
        "console/meter.html",
        acting=acting,
        meter=found,
        alarms=alarms,
        power_back_hours=POWER_BACK_HOURS,
        # The refresh link differs from the page's own address, so following it reloads.
        shown_at=int(now.timestamp()),
        reads=[
            {
                "request": r,
                "status": r.status_at(now).value,
                "age_min": max(0, int((now - r.requested_at).total_seconds() // 60)),
            }
            for r in reads
        ],
    )


@router.post("/{meter}/read")
async def read_meter(
    request: Request,
    meter: str,
    acting: Annotated[Acting, Depends(Guard(P.READ_METER, audit="headend.read.requested"))],
) -> Response:
    """Ask the head-end that owns the meter's bus to read it now (a request it serves before
    its schedule; one asked while another waits joins it). The outcome shows on the page."""
    back = f"/console/meters/{meter}"
    try:
        found = await _meter(request, meter)
        await read_now.request_meter_read(
            uow=acting.uow(target=str(found.meter_number), after="read requested"),
            clock=_context.runtime(request).storage.clock,
            meter=found.meter_number,
            requested_by=acting.login,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back=back)
    return RedirectResponse(back + "#read-now", status_code=303)


@router.post("/{meter}/relay")
async def relay(
    request: Request,
    meter: str,
    acting: Annotated[Acting, Depends(Guard(P.OPERATE_RELAY, audit="headend.relay.ordered"))],
    operation: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Queue a trip or a close with its reason; the head-end sends it and reads it back."""
    back = f"/console/meters/{meter}"
    try:
        found = await _meter(request, meter)
        order = RELAY_ORDERS.get(operation)
        if order is None:
            raise ValueError(f"an operator orders TRIP or CLOSE, not {operation!r}")
        await dispatch_relay_commands.order_relay(
            uow=acting.uow(
                target=str(found.meter_number), after=f"relay={order}", detail=reason.strip()
            ),
            clock=_context.runtime(request).storage.clock,
            meter=found.meter_number,
            operation=order,
            ordered_by=acting.login,
            reason=reason,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back=back)
    return RedirectResponse(back, status_code=303)


async def _keep_power(
    request: Request, meter: str, acting: Acting, *, hours: str, reason: str, kind: str
) -> Response:
    back = f"/console/meters/{meter}"
    runtime = _context.runtime(request)
    try:
        found = await _meter(request, meter)
        span = int(hours)
        if not 1 <= span <= MAX_KEEP_POWER_HOURS:
            raise ValueError(f"keep-power lasts 1 to {MAX_KEEP_POWER_HOURS} hours, not {span}")
        now = runtime.storage.clock.now()
        await keep_power.order_keep_power(
            uow=acting.uow(
                target=str(found.account_number),
                after=f"{kind} until {now + timedelta(hours=span):%Y-%m-%dT%H:%MZ}",
                detail=reason.strip(),
            ),
            clock=runtime.storage.clock,
            number=found.account_number,
            period=Period(start_at=now, end_at=now + timedelta(hours=span)),
            ordered_by=acting.login,
            reason=reason.strip(),
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back=back)
    return RedirectResponse(back, status_code=303)


@router.post("/{meter}/keep-power")
async def order_keep_power(
    request: Request,
    meter: str,
    acting: Annotated[Acting, Depends(Guard(P.KEEP_POWER, audit="prepaid.keep-power.ordered"))],
    hours: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Order keep-power for a number of hours with its reason (no cut for lack of money)."""
    return await _keep_power(request, meter, acting, hours=hours, reason=reason, kind="keep-power")


@router.post("/{meter}/power-back")
async def power_back(
    request: Request,
    meter: str,
    acting: Annotated[Acting, Depends(Guard(P.KEEP_POWER, audit="prepaid.power-back.ordered"))],
    reason: Annotated[str, Form()] = "",
    hours: Annotated[str, Form()] = str(POWER_BACK_HOURS),
) -> Response:
    """The 24-hour line's emergency power-back (A3): keep-power now, which closes a tripped
    relay through the outbox; who did it and why are recorded."""
    return await _keep_power(request, meter, acting, hours=hours, reason=reason, kind="power-back")
