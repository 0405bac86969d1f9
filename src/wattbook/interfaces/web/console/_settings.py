"""Settings (B2, B4-B7, Policy): the price from a date, the thresholds and reclose delay from a
date, the holiday calendar imported from the State Council's schedule. Every change is audited
and read by the rules on their next decision: no restart."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application.billing import set_tariff
from wattbook.application.payments import counter, set_counter_hours
from wattbook.application.prepaid import import_holiday_schedule, set_prepaid_settings
from wattbook.domain import billing, staff
from wattbook.domain.values import Energy, Period, Price, local_date
from wattbook.interfaces.web import _context
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, refusals, render

router = APIRouter(prefix="/console/settings")
P = staff.Permission
ITEM = "RESIDENTIAL_LIGHTING"
MAX_SCHEDULE_BYTES = 64 * 1024


@router.get("")
async def settings_page(
    request: Request, acting: Annotated[Acting, Depends(Guard(P.CHANGE_SETTINGS))]
) -> Response:
    """Show the price history, the policy in force, and the calendar years confirmed."""
    runtime = _context.runtime(request)
    today = local_date(runtime.storage.clock.now())
    async with runtime.storage.reader_factory() as uow:
        tariffs = await uow.tariffs.history()
        years = await uow.calendar.confirmed_years()
    async with runtime.storage.uow_factory() as writer:
        policy = await writer.prepaid.settings(on=today)
        hours = await writer.payments.counter_hours(on=today)
    shifts = "\n".join(
        f"{s.weekday + 1} {s.opens_at:%H:%M}-{s.closes_at:%H:%M}" for s in hours.shifts
    )
    return render(
        request,
        "console/settings.html",
        acting=acting,
        tariffs=tariffs.tariffs,
        policy=policy,
        years=years,
        today=today,
        shifts=shifts,
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"not a date (YYYY-MM-DD): {text!r}") from error


@router.post("/price")
async def change_price(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.CHANGE_SETTINGS, audit="billing.tariff.changed"))],
    price: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
) -> Response:
    """Put a new price per kWh in force from a date (B2); charges already made keep theirs."""
    runtime = _context.runtime(request)
    try:
        start = _date(effective_from)
        if start <= local_date(runtime.storage.clock.now()):
            raise ValueError("a new price starts tomorrow or later: the past is never re-priced")
        try:
            yuan_per_kwh = Decimal(price.strip())
        except InvalidOperation as error:
            raise ValueError(f"not a price in yuan per kWh: {price!r}") from error
        async with runtime.storage.reader_factory() as reader:
            current = (await reader.tariffs.history()).tariffs
        before = ", ".join(
            f"{t.effective_from}: {t.components[0].price.yuan_per_kwh}" for t in current
        )
        tariff = billing.Tariff(
            item=ITEM,
            effective_from=start,
            effective_to=None,
            components=(billing.PriceComponent(price=Price(yuan_per_kwh=yuan_per_kwh)),),
        )
        await set_tariff.set_tariff(
            uow=acting.uow(
                target="tariff", before=before, after=f"{start}: {yuan_per_kwh} yuan/kWh"
            ),
            tariff=tariff,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/settings")
    return RedirectResponse("/console/settings", status_code=303)


@router.post("/policy")
async def change_policy(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.CHANGE_SETTINGS, audit="prepaid.settings.changed"))],
    effective_from: Annotated[str, Form()] = "",
    low_balance_kwh: Annotated[str, Form()] = "",
    warning_cut_kwh: Annotated[str, Form()] = "",
    reclose_delay_minutes: Annotated[str, Form()] = "",
) -> Response:
    """Change the low-balance and warning-cut thresholds and the reclose delay from a date."""
    runtime = _context.runtime(request)
    try:
        start = _date(effective_from)
        low = Energy.from_kwh(low_balance_kwh.strip())
        warning = Energy.from_kwh(warning_cut_kwh.strip())
        delay = timedelta(minutes=int(reclose_delay_minutes.strip()))
        after = f"from={start}; low_kwh={low.kwh}; warning_kwh={warning.kwh}; reclose={delay}"
        await set_prepaid_settings.set_prepaid_settings(
            uow=acting.uow(target="prepaid-policy", after=after),
            clock=runtime.storage.clock,
            effective_from=start,
            low_balance_energy=low,
            warning_cut_energy=warning,
            reclose_delay=delay,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/settings")
    return RedirectResponse("/console/settings", status_code=303)


@router.post("/counter-hours")
async def change_counter_hours(
    request: Request,
    acting: Annotated[
        Acting, Depends(Guard(P.CHANGE_SETTINGS, audit="payments.counter-hours.changed"))
    ],
    hours: Annotated[str, Form()] = "",
    effective_from: Annotated[str, Form()] = "",
) -> Response:
    """Change the counter's weekly hours from a date (one shift a line, 1 = Monday)."""
    runtime = _context.runtime(request)
    try:
        start = _date(effective_from)
        parsed = set_counter_hours.parse_counter_hours(hours)
        async with runtime.storage.uow_factory() as reader:
            current = await reader.payments.counter_hours(on=start)
        await set_counter_hours.set_counter_hours(
            uow=acting.uow(
                target="counter-hours",
                before=str(current),
                after=f"from {start}: {parsed}",
            ),
            clock=runtime.storage.clock,
            effective_from=start,
            hours=parsed,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/settings")
    return RedirectResponse("/console/settings", status_code=303)


# An administrator opens the counter outside its hours for at most a day at a time.
MAX_OPENING_HOURS = 24


@router.post("/counter-opening")
async def open_counter(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.CHANGE_SETTINGS, audit="payments.counter.opened"))],
    hours: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Open the counter now, outside its working hours, for some hours, with the reason (P1)."""
    runtime = _context.runtime(request)
    try:
        span = int(hours)
        if not 1 <= span <= MAX_OPENING_HOURS:
            raise ValueError(f"an opening lasts 1 to {MAX_OPENING_HOURS} hours, not {span}")
        now = runtime.storage.clock.now()
        period = Period(start_at=now, end_at=now + timedelta(hours=span))
        await counter.open_counter(
            uow=acting.uow(
                target="counter",
                after=f"open until {period.end_at:%Y-%m-%dT%H:%MZ}",
                detail=reason.strip(),
            ),
            clock=runtime.storage.clock,
            period=period,
            opened_by=acting.login,
            reason=reason,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/settings")
    return RedirectResponse("/console/settings?opened=1", status_code=303)


@router.post("/holidays")
async def import_holidays(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.CHANGE_SETTINGS, audit="prepaid.calendar.imported"))],
    schedule: Annotated[UploadFile | None, File()] = None,
    text: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Import a year's holidays and adjusted working days (the State Council's schedule)."""
    runtime = _context.runtime(request)
    try:
        content = text
        if schedule is not None and schedule.filename:
            raw = await schedule.read(MAX_SCHEDULE_BYTES + 1)
            if len(raw) > MAX_SCHEDULE_BYTES:
                raise ValueError("a year's schedule is a small file (64 KiB at most)")
            content = raw.decode("utf-8-sig")
        year, days = import_holiday_schedule.parse_holiday_schedule(content)
        off = sum(1 for day in days if not day.working)
        after = f"{off} days off, {len(days) - off} adjusted working days"
        year, _changed = await import_holiday_schedule.import_holiday_schedule(
            uow=acting.uow(target=f"calendar-{year}", after=after, detail=note),
            clock=runtime.storage.clock,
            text=content,
            by=acting.login,
            note=note,
        )
    except refusals() as error:  # UnicodeDecodeError is a ValueError
        return problem(request, error, acting=acting, back="/console/settings")
    return RedirectResponse(f"/console/settings?imported={year}", status_code=303)
