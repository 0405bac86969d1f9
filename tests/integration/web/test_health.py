"""/livez says the process serves; /healthz asks the database; a busy database is a 503."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.db.databases import same_database
from tests.integration.web.conftest import web_runtime
from tests.integration.web.kiosk_client import SESSIONS, KioskAuth, register_kiosk
from tests.integration.web.server import free_port

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.interfaces.web import create_app


@pytest.fixture
async def serve_on() -> AsyncIterator[object]:
    """Yield a function that returns an in-process client for an app on a given engine."""
    apps = []
    clients = []

    async def client_on(engine: Engine, clock: FakeClock) -> httpx.AsyncClient:
        app = create_app(web_runtime(engine, clock), background=False)
        apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://kiosk.test"
        )
        clients.append(client)
        return client

    yield client_on
    for client in clients:
        await client.aclose()
    for app in apps:
        await app.state.batcher.close()


@pytest.fixture
def silent_database() -> Iterator[str]:
    """Yield a PostgreSQL URL whose server accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/test"
    finally:
        listener.close()


class TestLiveAndHealthy:
    async def test_answer_200_on_a_working_database(self, client: httpx.AsyncClient) -> None:
        live = await client.get("/livez")
        health = await client.get("/healthz")

        assert live.status_code == 200
        assert live.text == "ok"
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok"}


class TestBusyDatabase:
    async def test_health_is_503_when_every_worker_stays_busy(
        self, engine: Engine, clock: FakeClock, serve_on: object
    ) -> None:
        small = same_database(engine, workers=1, queue_timeout_s=0.3)
        client = await serve_on(small, clock)  # type: ignore[operator]
        try:
            async with db.SqlReadOnlyUnitOfWork(small):  # the only worker is taken
                # A 503 while the worker is still held proves the check gave up rather than
                # waited: waiting would never end, since the worker is freed only after it.
                health = await client.get("/healthz")
                live = await client.get("/livez")
            again = await client.get("/healthz")
        finally:
            small.dispose()

        assert health.status_code == 503
        assert health.json() == {"status": "unavailable", "problem": "DATABASE_BUSY"}
        assert health.headers["retry-after"] == "2"
        assert live.status_code == 200
        assert again.status_code == 200

    async def test_a_kiosk_step_is_503_with_retry_after_and_changes_nothing(
        self, engine: Engine, clock: FakeClock, serve_on: object
    ) -> None:
        secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
        small = same_database(engine, workers=1, queue_timeout_s=0.3)
        client = await serve_on(small, clock)  # type: ignore[operator]
        client.auth = KioskAuth("K01", secret, bootstrap.system_clock().now)
        try:
            async with db.SqlReadOnlyUnitOfWork(small):
                refused = await client.post(SESSIONS)
            health = await client.get("/healthz")
        finally:
            small.dispose()

        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["error"] == "DATABASE_BUSY"
        assert refused.json()["message"] == "系统繁忙，请稍后再试"
        assert health.status_code == 200
        with engine.connect() as connection:  # no session was started
            assert connection.exec_driver_sql("SELECT count(*) FROM kiosk_sessions").scalar() == 0


class TestUnreachableDatabase:
    async def test_health_is_503_when_sqlite_cannot_open_the_file(
        self, tmp_path: Path, clock: FakeClock, serve_on: object
    ) -> None:
        garbage = tmp_path / "not-a-database.sqlite3"
        garbage.write_bytes(b"this is not an SQLite file " * 100)
        engine = db.create_engine(f"sqlite:///{garbage}")
        client = await serve_on(engine, clock)  # type: ignore[operator]
        try:
            health = await client.get("/healthz")
            live = await client.get("/livez")
        finally:
            engine.dispose()

        assert health.status_code == 503
        assert health.json() == {"status": "unavailable", "problem": "DATABASE_UNREACHABLE"}
        assert live.status_code == 200

    async def test_health_is_503_when_postgresql_refuses_connections(
        self, clock: FakeClock, serve_on: object
    ) -> None:
        engine = db.create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/test")
        client = await serve_on(engine, clock)  # type: ignore[operator]
        try:
            health = await client.get("/healthz")
        finally:
            engine.dispose()

        assert health.status_code == 503
        assert health.json()["problem"] == "DATABASE_UNREACHABLE"

    async def test_health_is_503_within_its_timeout_when_the_server_never_answers(
        self, silent_database: str, clock: FakeClock, serve_on: object
    ) -> None:
        engine = db.create_engine(silent_database)
        client = await serve_on(engine, clock)  # type: ignore[operator]
        try:
            # The check's own timeout ends it; the test's longer one only stops a hang.
            health = await asyncio.wait_for(client.get("/healthz"), timeout=15)
        finally:
            engine.dispose()

        assert health.status_code == 503
        assert health.json()["problem"] == "DATABASE_TIMEOUT"
