"""Operators (A1-A4), for administrators: create one, change its role, disable it, reset a
password. The use cases write their own audit records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.application.staff import operators
from wattbook.domain import staff
from wattbook.interfaces.web import _context
from wattbook.interfaces.web.console._auth import Acting, Guard
from wattbook.interfaces.web.console._pages import problem, refusals, render

router = APIRouter(prefix="/console/operators")
P = staff.Permission


@router.get("")
async def operators_page(
    request: Request, acting: Annotated[Acting, Depends(Guard(P.MANAGE_OPERATORS))]
) -> Response:
    """List the operators with their roles, and the form to add one."""
    async with _context.runtime(request).storage.reader_factory() as uow:
        found = await uow.staff.operators()
    return render(
        request, "console/operators.html", acting=acting, operators=found, roles=list(staff.Role)
    )


@router.post("")
async def create(
    request: Request,
    acting: Annotated[Acting, Depends(Guard(P.MANAGE_OPERATORS, audit="staff.operator.created"))],
    login: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Create an operator."""
    runtime = _context.runtime(request)
    try:
        await operators.create_operator(
            uow=runtime.storage.uow_factory(),
            clock=runtime.storage.clock,
            hasher=runtime.password_hasher,
            login=login.strip().lower(),
            name=name,
            role=staff.Role(role),
            password=password,
            by=acting.login,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/operators")
    return RedirectResponse("/console/operators", status_code=303)


@router.post("/{login}")
async def change(
    request: Request,
    login: str,
    acting: Annotated[Acting, Depends(Guard(P.MANAGE_OPERATORS, audit="staff.operator.changed"))],
    role: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    """Change an operator's role, or disable or re-enable it."""
    runtime = _context.runtime(request)
    try:
        await operators.change_operator(
            uow=runtime.storage.uow_factory(),
            clock=runtime.storage.clock,
            login=login,
            role=staff.Role(role),
            active=active == "on",
            by=acting.login,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/operators")
    return RedirectResponse("/console/operators", status_code=303)


@router.post("/{login}/password")
async def reset_password(
    request: Request,
    login: str,
    acting: Annotated[Acting, Depends(Guard(P.MANAGE_OPERATORS, audit="staff.password.reset"))],
    password: Annotated[str, Form()] = "",
) -> Response:
    """Set a new password and clear the operator's lock-out."""
    runtime = _context.runtime(request)
    try:
        await operators.reset_password(
            uow=runtime.storage.uow_factory(),
            clock=runtime.storage.clock,
            hasher=runtime.password_hasher,
            login=login,
            password=password,
            by=acting.login,
        )
    except refusals() as error:
        return problem(request, error, acting=acting, back="/console/operators")
    return RedirectResponse("/console/operators", status_code=303)
