"""A web app on each database backend, driven in-process through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeBankGateway, FakeClock
from tests.functional.household import local
from tests.integration.db.databases import empty_engine, engine
from tests.integration.web.chromium import chromium

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.interfaces.web import create_app
from wattbook.settings import WebSettings

__all__ = ["empty_engine", "engine"]

SECRET = "test-bank-secret"  # noqa: S105 - a test key


def web_runtime(
    engine: Engine,
    clock: FakeClock,
    *,
    wall_clock: FakeClock | None = None,
    web: WebSettings | None = None,
) -> bootstrap.WebRuntime:
    """Return a runtime on ``engine`` with a fake clock and a fake bank (and, if given, a
    fake wall clock for kiosk signatures and rate limits, and other web settings)."""
    return bootstrap.WebRuntime(
        storage=bootstrap.Storage(
            engine=engine,
            uow_factory=db.unit_of_work_factory(engine),
            reader_factory=db.reader_factory(engine),
            clock=clock,
        ),
        web=web or WebSettings(bank_secret=SECRET, allowed_hosts=("kiosk.test",)),
        bank=bootstrap.BankLink(gateway=FakeBankGateway(), secret=SECRET.encode()),
        receipt_font=bootstrap.find_receipt_font(None),
        wall_clock=wall_clock if wall_clock is not None else bootstrap.system_clock(),
    )


@pytest.fixture
def clock() -> FakeClock:
    """Return a clock on a Tuesday morning."""
    return FakeClock(local(2025, 6, 10, 9))


@pytest.fixture
async def client(engine: Engine, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an HTTP client talking to the app in-process."""
    app = create_app(web_runtime(engine, clock), background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        yield client
    await app.state.batcher.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Yield Debian's Chromium, headless, for a module's browser tests."""
    with chromium() as launched:
        yield launched
