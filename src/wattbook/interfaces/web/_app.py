"""The web app factory: the residents' portal, the kiosk and the bank; the staff console next."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from wattbook import bootstrap
from wattbook.application.payments import kiosk
from wattbook.bootstrap import WebRuntime
from wattbook.interfaces.web import (
    _api,
    _bank,
    _errors,
    _guards,
    _kiosk,
    _kiosk_auth,
    _portal,
    _portal_auth,
    console,
)
from wattbook.interfaces.web._batcher import CallbackBatcher
from wattbook.interfaces.web._context import STATIC
from wattbook.interfaces.web._ratelimit import LookupLimiter

logger = logging.getLogger(__name__)

# How long /healthz waits for the database (at the gate and for SELECT 1 together).
HEALTH_TIMEOUT_S = 2.0


def create_app(
    runtime: WebRuntime,
    *,
    background: bool = True,
    kiosk_idle: timedelta = kiosk.KIOSK_IDLE_LIMIT,
    with_sms: bool = False,
) -> FastAPI:
    """Return the web app on ``runtime``.

    With ``background``, the app also runs the scheduled jobs (``application.scheduled_jobs``:
    held cuts, kiosk recovery, auto top-up, the holiday schedule check) and, ``with_sms``,
    the SMS worker.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if background:
            jobs = bootstrap.build_scheduled_jobs(
                storage=runtime.storage,
                clock=runtime.clock,
                bank_gateway=runtime.bank.gateway,
                with_sms=with_sms,
                kiosk_idle=kiosk_idle,
            )
            task = asyncio.create_task(jobs.run(stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.batcher.close()

    app = FastAPI(
        title="wattbook", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.runtime = runtime
    app.state.batcher = CallbackBatcher(
        uow_factory=runtime.uow_factory,
        runner=runtime.storage.in_one_hand_off,
        clock=runtime.clock,
        window=timedelta(hours=runtime.web.bank_callback_window_hours),
    )
    app.state.kiosk_lookups = LookupLimiter(per_minute=runtime.web.kiosk_lookups_per_minute)
    app.state.portal = _portal_auth.portal_state(
        idle=timedelta(minutes=runtime.web.portal_idle_minutes),
        secure=runtime.web.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The bank's router first: its callbacks are the busiest route, and routes match in order.
    app.include_router(_bank.router)
    app.include_router(_kiosk.router)
    app.include_router(_portal_auth.router)
    app.include_router(_portal.router)
    app.mount("/api/v1", _api.create_api(runtime))
    console.install(app)

    @app.get("/livez", include_in_schema=False)
    async def live() -> PlainTextResponse:
        """Answer that the process serves requests (no database: the bench's trivial endpoint)."""
        return PlainTextResponse("ok")

    @app.get("/healthz", include_in_schema=False)
    async def health() -> Response:
        """Answer whether the database answers a query through the use cases' own workers."""
        try:
            await runtime.storage.check(timeout_s=HEALTH_TIMEOUT_S)
        except bootstrap.DatabaseUnavailable as error:
            logger.warning("Health check failed: %s (%s)", error.problem, error)
            return JSONResponse(
                {"status": "unavailable", "problem": f"DATABASE_{error.problem}"},
                status_code=503,
                headers={"Retry-After": str(_errors.RETRY_AFTER_S)},
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        """Send visitors to the residents' portal (the kiosk stays at /kiosk)."""
        return _portal.go_to_portal()

    @app.exception_handler(_portal_auth.LoginRequired)
    async def login_required(request: Request, error: Exception) -> Response:
        """Send a visitor without a logged-in session to the log-in page."""
        return RedirectResponse("/portal/login", status_code=303)

    _errors.install(app)
    # The last added runs first: headers on every answer, then the Host, then the body size,
    # then the kiosk signature (over a body the limit has bounded).
    app.add_middleware(_kiosk_auth.KioskSignatures)
    app.add_middleware(_guards.BodyLimit, max_bytes=runtime.web.max_body_bytes)
    app.add_middleware(_guards.TrustedHosts, hosts=runtime.web.trusted_hosts)
    app.add_middleware(_guards.SecurityHeaders)
    return app
