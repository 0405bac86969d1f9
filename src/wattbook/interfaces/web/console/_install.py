"""Mount the console on the app: its routers, its session store and its two error pages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wattbook.interfaces.web.console import (
    _accounts,
    _alarms,
    _audit,
    _counter,
    _login,
    _meters,
    _operators,
    _reports,
    _settings,
)
from wattbook.interfaces.web.console._auth import (
    SAFE_METHODS,
    Forbidden,
    Guard,
    NotLoggedIn,
    guard_of,
    new_session_store,
)
from wattbook.interfaces.web.console._pages import render

ROUTERS = (
    _login.router,
    _accounts.router,
    _counter.router,
    _meters.router,
    _alarms.router,
    _settings.router,
    _audit.router,
    _operators.router,
    _reports.router,
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


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One method of one console route, and the guard it declares (None: a public route)."""

    method: str
    path: str
    guard: Guard | None

    @property
    def changes_state(self) -> bool:
        """Test whether the method may change state (anything but GET, HEAD, OPTIONS)."""
        return self.method not in SAFE_METHODS


def _flatten(routes: Iterable[Any], prefix: str) -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # FastAPI's included router (0.120+)
            context = getattr(route, "include_context", None)
            yield from _flatten(
                route.original_router.routes, prefix + getattr(context, "prefix", "")
            )


def route_table(app: FastAPI) -> tuple[RouteEntry, ...]:
    """Return every method of every route under /console with its guard, read from the app
    (so a route added later, the reports' too, is in it without being listed)."""
    return tuple(
        RouteEntry(method=method, path=path, guard=guard_of(route.dependant.dependencies))
        for path, route in _flatten(app.routes, "")
        if path.startswith("/console")
        for method in sorted(route.methods or ())
    )
