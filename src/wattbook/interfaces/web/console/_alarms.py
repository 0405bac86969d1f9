"""Alarms (M5, C2, B7, N1): every kind in one list, filtered; acknowledge and resolve; the
meter's event history beside each meter alarm; the SMS that failed beside them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application import queries
from wattbook.application.headend import acknowledge_alarm, list_alarms, resolve_alarm
from wattbook.application.headend import ports as hp
from wattbook.domain import staff
from wattbook.domain.alarms import AlarmKind, AlarmScope
from wattbook.interfaces.web import _context
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, refusals, render

router = APIRouter(prefix="/console/alarms")
P = staff.Permission
PAGE = 200
EVENTS_PER_METER = 5
SMS_WINDOW = timedelta(days=7)


@router.get("")
async def alarms_page(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.VIEW))],
    state: str = "open",
    scope: str = "",
    kind: str = "",
    subject: str = "",
) -> Response:
    """List the alarms, newest first, with the filters staff use."""
    runtime = _context.runtime(request)
    try:
        chosen_scope = AlarmScope(scope) if scope else None
        chosen_kind = AlarmKind(kind) if kind else None
    except ValueError as error:
        return problem(request, error, acting=acting, back="/console/alarms")
    alarms = await list_alarms.list_alarms(
        uow=runtime.storage.reader_factory(),
        open_only=state != "all",
        subject=subject.strip() or None,
        scope=chosen_scope,
        kinds=(chosen_kind,) if chosen_kind else None,
        limit=PAGE,
    )
    events: dict[str, tuple[hp.MeterEvent, ...]] = {}
    async with runtime.storage.reader_factory() as uow:
        for meter in dict.fromkeys(a.meter_number for a in alarms if a.meter_number):
            assert meter is not None  # noqa: S101 - filtered above
            events[str(meter)] = await uow.headend.meter_events(meter, limit=EVENTS_PER_METER)
    failed = await queries.failed_sms(
        uow=runtime.storage.reader_factory(),
        since=runtime.storage.clock.now() - SMS_WINDOW,
        limit=50,
    )
    return render(
        request,
        "console/alarms.html",
        acting=acting,
        alarms=alarms,
        events=events,
        failed_sms=failed,
        state=state,
        scope=scope,
        kind=kind,
        subject=subject,
        scopes=list(AlarmScope),
        kinds=list(AlarmKind),
    )


@router.post("/{alarm_id}/acknowledge")
async def acknowledge(
    request: Request,
    alarm_id: int,
    acting: Annotated[Acting, Depends(Guard(P.HANDLE_ALARM, audit="alarms.alarm.acknowledged"))],
) -> Response:
    """Record that the operator has seen the alarm."""
    try:
        await acknowledge_alarm.acknowledge_alarm(
            uow=acting.uow(target=f"alarm-{alarm_id}"),
            clock=_context.runtime(request).storage.clock,
            alarm_id=alarm_id,
            by=acting.login,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/alarms")
    return RedirectResponse("/console/alarms", status_code=303)


@router.post("/{alarm_id}/resolve")
async def resolve(
    request: Request,
    alarm_id: int,
    acting: Annotated[Acting, Depends(Guard(P.HANDLE_ALARM, audit="alarms.alarm.resolved"))],
    note: Annotated[str, Form()] = "",
) -> Response:
    """End the alarm, with what was done about it."""
    try:
        await resolve_alarm.resolve_alarm(
            uow=acting.uow(target=f"alarm-{alarm_id}", detail=note.strip()),
            clock=_context.runtime(request).storage.clock,
            alarm_id=alarm_id,
            by=acting.login,
            note=note,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/alarms")
    return RedirectResponse("/console/alarms", status_code=303)
