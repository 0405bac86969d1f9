"""The portal served by uvicorn on a thread of this process, for browser tests and the bench.

In-process so that a test can read the captcha from the app's session store (the answer a
resident reads off the image), without any switch in the app that would weaken it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from tests.integration.web.server import free_port

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.interfaces.web import create_app
from wattbook.settings import Settings


class ThreadedServer:
    """uvicorn on its own thread and event loop, serving the app ``build`` returns."""

    def __init__(self, build: Callable[[], Awaitable[FastAPI]], port: int) -> None:
        self._build = build
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self.app = await self._build()
            config = uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
            self._server = uvicorn.Server(config)
            await self._server.serve()

        try:
            asyncio.run(main())
        except BaseException as error:
            self._error = error

    def start(self, *, timeout_s: float = 120.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError("the portal server failed") from self._error
            try:
                if httpx.get(f"{self.base}/livez", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the portal server did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=15)

    def captcha(self, session_id: str) -> str:
        """Return the captcha answer of a session (what a resident reads off the image)."""
        assert self.app is not None
        portal = self.app.state.portal
        session = portal.sessions.get(session_id, now=self.app.state.runtime.wall_clock.now())
        assert session is not None, "no such session"
        return str(session.data["captcha"])


@contextmanager
def served(folder: Path, build: Callable[[Engine], Awaitable[FastAPI]]) -> Iterator[ThreadedServer]:
    """Serve the app ``build`` makes on a new, migrated SQLite database in ``folder``."""
    url = f"sqlite:///{folder / 'web.sqlite3'}"
    bootstrap.migrate(Settings(database_url=url))

    async def app() -> FastAPI:
        return await build(db.create_engine(url))

    running = ThreadedServer(app, free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


__all__ = ["ThreadedServer", "create_app", "served"]
