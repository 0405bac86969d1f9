"""Console test helpers: operators of every role, logging in, posting forms with the token."""

from __future__ import annotations

import re

import httpx

from wattbook.application.staff import operators
from wattbook.bootstrap import WebRuntime
from wattbook.domain import staff

PASSWORD = "campus power 2027"  # noqa: S105 - a test password
LOGINS = {
    staff.Role.ADMINISTRATOR: "admin",
    staff.Role.CASHIER: "cashier",
    staff.Role.ENGINEER: "engineer",
    staff.Role.VIEWER: "viewer",
}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def create_operators(runtime: WebRuntime) -> None:
    """Create one operator per role, each with :data:`PASSWORD`."""
    for role, login in LOGINS.items():
        await operators.create_operator(
            uow=runtime.storage.uow_factory(),
            clock=runtime.storage.clock,
            hasher=runtime.password_hasher,
            login=login,
            name=login.title(),
            role=role,
            password=PASSWORD,
            by="test",
        )


def csrf_token(page: str) -> str:
    """Return the CSRF token a console page's forms carry."""
    found = _TOKEN.search(page)
    assert found is not None, "the page has no form token"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, login: str) -> str:
    """Log ``login`` in on ``client`` and return the session's CSRF token."""
    page = await client.get("/console/login")
    answer = await client.post(
        "/console/login",
        data={"login": login, "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert answer.status_code == 303, answer.text
    home = await client.get("/console")
    assert home.status_code == 200
    return csrf_token(home.text)
