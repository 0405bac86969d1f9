"""Logging in and out of the console, and its home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application.staff import sessions
from wattbook.domain import staff
from wattbook.interfaces.web import _context, _csrf
from wattbook.interfaces.web._context import TEMPLATES
from wattbook.interfaces.web._i18n import language_of, remember_language
from wattbook.interfaces.web.console._auth import (
    COOKIE,
    LOGIN_KEY,
    Acting,
    Guard,
    browser_session,
    session_store,
)
from wattbook.interfaces.web.console._pages import render

router = APIRouter(prefix="/console")
P = staff.Permission


def _login_page(request: Request, *, csrf_token: str, failed: bool, status: int) -> Response:
    response = TEMPLATES.TemplateResponse(
        request,
        "console/login.html",
        {
            "lang": language_of(request),
            "csrf_token": csrf_token,
            "failed": failed,
            "operator": None,
            "nav": [],
        },
        status_code=status,
    )
    remember_language(request, response)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    """Show the log-in form (opening an anonymous session for its CSRF token)."""
    session = browser_session(request)
    if session is not None and LOGIN_KEY in session.data:
        return RedirectResponse("/console", status_code=303)
    if session is None:
        session = session_store(request).open(now=_context.runtime(request).wall_clock.now())
    response = _login_page(request, csrf_token=session.csrf_token, failed=False, status=200)
    COOKIE.write(response, request, session)
    return response


@router.post("/login")
async def log_in(
    request: Request,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Check the password; on success start the operator's session under a new id."""
    runtime = _context.runtime(request)
    store = session_store(request)
    session = browser_session(request)
    await _csrf.check(request, session)
    assert session is not None  # noqa: S101 - the CSRF check refuses a request without one
    try:
        operator = await sessions.log_in(
            uow=runtime.storage.uow_factory(),
            clock=runtime.storage.clock,
            hasher=runtime.password_hasher,
            login=login.strip().lower(),
            password=password,
        )
    except sessions.LoginRefused:
        return _login_page(request, csrf_token=session.csrf_token, failed=True, status=401)
    fresh = store.rotate(session, now=runtime.wall_clock.now())
    fresh.data[LOGIN_KEY] = operator.login
    response = RedirectResponse("/console", status_code=303)
    COOKIE.write(response, request, fresh)
    return response


@router.post("/logout")
async def log_out(
    request: Request, acting: Annotated[Acting, Depends(Guard(P.VIEW, audit="staff.logout"))]
) -> Response:
    """End the session; the log-out is audited."""
    runtime = _context.runtime(request)
    await sessions.log_out(
        uow=runtime.storage.uow_factory(), clock=runtime.storage.clock, login=acting.login
    )
    session_store(request).close(acting.session.id)
    response = RedirectResponse("/console/login", status_code=303)
    COOKIE.clear(response, request)
    return response


@router.get("")
async def home(request: Request, acting: Annotated[Acting, Depends(Guard(P.VIEW))]) -> Response:
    """Show the console's home: who is logged in and what they may do."""
    async with _context.runtime(request).storage.reader_factory() as uow:
        system_alarms = await uow.alarms.alarms(open_only=True)
    return render(request, "console/home.html", acting=acting, system_alarms=system_alarms)
