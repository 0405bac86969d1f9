"""The audit log (A4), searchable: who, when, what, before and after. Nothing here changes it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from wattbook.application.staff import audit
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff
from wattbook.domain.values import start_of_local_day
from wattbook.interfaces.web import _context
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, render

router = APIRouter(prefix="/console/audit")
PAGE = 100


@router.get("")
async def audit_log(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(staff.Permission.READ_AUDIT))],
    q: str = "",
    actor: str = "",
    action: str = "",
    first_date: str = "",
    last_date: str = "",
    before: int | None = None,
) -> Response:
    """Search the audit log, newest first, a page at a time."""
    try:
        first = date.fromisoformat(first_date) if first_date else None
        last = date.fromisoformat(last_date) if last_date else None
    except ValueError as error:
        return problem(request, error, acting=acting, back="/console/audit")
    query = staff_ports.AuditQuery(
        text=q.strip(),
        actor=actor.strip(),
        action=action.strip(),
        from_at=start_of_local_day(first) if first else None,
        to_at=start_of_local_day(last + timedelta(days=1)) if last else None,
        before_id=before,
        limit=PAGE,
    )
    found = await audit.search_audit(
        uow=_context.runtime(request).storage.uow_factory(), query=query
    )
    return render(
        request,
        "console/audit.html",
        acting=acting,
        records=found,
        q=q,
        actor=actor,
        action=action,
        first_date=first_date,
        last_date=last_date,
        next_before=found[-1].id if len(found) == PAGE else None,
    )
