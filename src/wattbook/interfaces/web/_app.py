"""The web app factory: kiosk and bank today, the residents' portal and staff console next."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

from wattbook.application.payments import bank, kiosk
from wattbook.bootstrap import WebRuntime
from wattbook.interfaces.web import _bank, _errors, _kiosk
from wattbook.interfaces.web._batcher import CallbackBatcher
from wattbook.interfaces.web._context import STATIC

logger = logging.getLogger(__name__)

KIOSK_RECOVERY_EVERY_S = 30.0
AUTO_TOP_UP_EVERY_S = 60.0


async def _every(seconds: float, name: str, job: object) -> None:
    while True:
        try:
            await job()  # type: ignore[operator]
        except Exception:
            logger.exception("Unable to run %s", name)
        await asyncio.sleep(seconds)


def create_app(
    runtime: WebRuntime,
    *,
    background: bool = True,
    kiosk_idle: timedelta = kiosk.KIOSK_IDLE_LIMIT,
) -> FastAPI:
    """Return the web app on ``runtime``.

    With ``background``, the app also recovers idle kiosk sessions (at start and every 30 s)
    and runs auto top-up (every minute): the daily run and the immediate trigger in one.
    """

    async def recover() -> None:
        await kiosk.recover_kiosk_sessions(
            uow_factory=runtime.uow_factory, clock=runtime.clock, idle_for=kiosk_idle
        )

    async def top_up() -> None:
        await bank.run_auto_top_up(
            uow_factory=runtime.uow_factory, clock=runtime.clock, bank=runtime.bank.gateway
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if background:
            tasks = [
                asyncio.create_task(_every(KIOSK_RECOVERY_EVERY_S, "kiosk recovery", recover)),
                asyncio.create_task(_every(AUTO_TOP_UP_EVERY_S, "auto top-up", top_up)),
            ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.batcher.close()

    app = FastAPI(
        title="wattbook", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.runtime = runtime
    app.state.batcher = CallbackBatcher(uow_factory=runtime.uow_factory, clock=runtime.clock)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The bank's router first: its callbacks are the busiest route, and routes match in order.
    app.include_router(_bank.router)
    app.include_router(_kiosk.router)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> PlainTextResponse:
        """Answer that the server is up (also the bench's trivial endpoint)."""
        return PlainTextResponse("ok")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        """Send visitors to the kiosk until the portal exists."""
        return RedirectResponse("/kiosk")

    _errors.install(app)
    return app
