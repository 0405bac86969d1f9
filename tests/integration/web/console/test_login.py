"""Logging in to the console: lock-out, idle expiry, role changes at once, both languages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from tests.fakes import FakeClock
from tests.integration.web.console.helpers import PASSWORD, csrf_token, log_in

from wattbook.application.staff import operators
from wattbook.bootstrap import WebRuntime
from wattbook.domain import staff
from wattbook.interfaces.web import create_app


@pytest.fixture
async def walled(
    runtime: WebRuntime, clock: FakeClock
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeClock]]:
    """Yield a client of an app whose sessions run on a fake wall clock."""
    wall = FakeClock(clock.now())
    object.__setattr__(runtime, "wall_clock", wall)
    app = create_app(runtime, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        yield client, wall
    await app.state.batcher.close()


async def _try(client: httpx.AsyncClient, password: str) -> httpx.Response:
    page = await client.get("/console/login")
    return await client.post(
        "/console/login",
        data={"login": "cashier", "password": password, "csrf_token": csrf_token(page.text)},
    )


async def test_five_wrong_passwords_lock_the_login_even_for_the_right_one(
    console: httpx.AsyncClient,
) -> None:
    for _ in range(staff.LOCKOUT_ATTEMPTS):
        refused = await _try(console, "not the password")
        assert refused.status_code == 401

    locked = await _try(console, PASSWORD)

    assert locked.status_code == 401
    assert "锁定" in locked.text


async def test_a_session_ends_after_thirty_idle_minutes(
    walled: tuple[httpx.AsyncClient, FakeClock],
) -> None:
    client, wall = walled
    await log_in(client, "cashier")
    wall.advance(timedelta(minutes=29))
    assert (await client.get("/console/counter")).status_code == 200

    wall.advance(staff.SESSION_IDLE_LIMIT)
    gone = await client.get("/console/counter")

    assert (gone.status_code, gone.headers["location"]) == (303, "/console/login")


async def test_a_role_change_applies_at_the_next_request(
    console: httpx.AsyncClient, runtime: WebRuntime
) -> None:
    await log_in(console, "cashier")
    assert (await console.get("/console/counter")).status_code == 200

    await operators.change_operator(
        uow=runtime.storage.uow_factory(),
        clock=runtime.storage.clock,
        login="cashier",
        role=staff.Role.VIEWER,
        active=True,
        by="admin",
    )

    assert (await console.get("/console/counter")).status_code == 403


async def test_a_disabled_operator_is_logged_out(
    console: httpx.AsyncClient, runtime: WebRuntime
) -> None:
    await log_in(console, "engineer")

    await operators.change_operator(
        uow=runtime.storage.uow_factory(),
        clock=runtime.storage.clock,
        login="engineer",
        role=staff.Role.ENGINEER,
        active=False,
        by="admin",
    )

    assert (await console.get("/console")).headers["location"] == "/console/login"


async def test_pages_speak_chinese_first_and_english_on_request(
    console: httpx.AsyncClient,
) -> None:
    await log_in(console, "admin")

    chinese = await console.get("/console/settings")
    english = await console.get("/console/settings", params={"lang": "en"})

    assert "参数设置" in chinese.text
    assert "Settings" in english.text
    assert "Holiday calendar" in english.text
