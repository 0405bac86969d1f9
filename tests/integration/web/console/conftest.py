"""A console app on each backend, with one operator per role and two accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.web.conftest import web_runtime
from tests.integration.web.console.helpers import create_operators

from wattbook.adapters.passwords import Argon2Hasher
from wattbook.application.accounts.open_account import open_account
from wattbook.bootstrap import WebRuntime
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber, Money
from wattbook.interfaces.web import create_app

FIRST = AccountNumber(value="051600001234")
SECOND = AccountNumber(value="051600005678")


@pytest.fixture
async def runtime(engine: Engine, clock: FakeClock) -> WebRuntime:
    """Return a runtime with operators of every role and two accounts (fast password hashes)."""
    built = web_runtime(engine, clock)
    object.__setattr__(built, "password_hasher", Argon2Hasher(fast=True))
    await create_operators(built)
    for number, name in ((FIRST, "张三丰"), (SECOND, "李四")):
        await open_account(
            uow=built.storage.uow_factory(),
            clock=clock,
            number=number,
            holder=accounts.Holder(name=name),
            phone=accounts.PhoneNumber(digits="13800138000"),
            address=accounts.Address(text="丙6-1-801"),
            opening_balance=Money(fen=1_000),
        )
    return built


@pytest.fixture
async def console(runtime: WebRuntime) -> AsyncIterator[httpx.AsyncClient]:
    """Yield a client of the app; it follows no redirects, so tests see each 303."""
    app = create_app(runtime, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        yield client
    await app.state.batcher.close()
