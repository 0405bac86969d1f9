"""Mount the console on the app: its routers, its session store and its two error pages."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.interfaces.web.console import (
    _accounts,
    _audit,
    _counter,
    _login,
    _meters,
    _operators,
    _settings,
)
from wattbook.interfaces.web.console._auth import (
    SAFE_METHODS,
    Forbidden,
    NotLoggedIn,
    new_session_store,
)
from wattbook.interfaces.web.console._pages import render

ROUTERS = (
    _login.router,
    _accounts.router,
    _counter.router,
    _meters.router,
    _settings.router,
    _audit.router,
    _operators.router,
)
# The only console routes without a guard: the log-in form and its post.
PUBLIC_ROUTES = frozenset({("GET", "/console/login"), ("POST", "/console/login")})


def install(app: FastAPI) -> None:
    """Mount the console's routers and its error pages on ``app``."""
    app.state.console_sessions = new_session_store()
    for router in ROUTERS:
        app.include_router(router)

    async def not_logged_in(request: Request, error: Exception) -> Response:
        if request.method in SAFE_METHODS:
            return RedirectResponse("/console/login", status_code=303)
        return render(request, "console/forbidden.html", acting=None, status=401, logged_out=True)

    async def forbidden(request: Request, error: Exception) -> Response:
        return render(request, "console/forbidden.html", acting=None, status=403, logged_out=False)

    app.add_exception_handler(NotLoggedIn, not_logged_in)
    app.add_exception_handler(Forbidden, forbidden)
