"""The staff console at ``/console`` (issue 12): operators and roles, customers and accounts,
the counter desk, meters and buses, alarms, settings and the audit log.

Every route declares a :class:`Guard` (its permission and, when it changes anything, its audit
action); :func:`install` mounts the routers and the console's error pages on the app.
"""

from wattbook.interfaces.web.console._auth import (
    COOKIE,
    Acting,
    Forbidden,
    Guard,
    NotLoggedIn,
    guard_of,
    new_session_store,
)
from wattbook.interfaces.web.console._install import (
    PUBLIC_ROUTES,
    ROUTERS,
    RouteEntry,
    install,
    route_table,
)
from wattbook.interfaces.web.console._pages import NAV, NavItem, add_nav, render

__all__ = [
    "COOKIE",
    "NAV",
    "PUBLIC_ROUTES",
    "ROUTERS",
    "Acting",
    "Forbidden",
    "Guard",
    "NavItem",
    "NotLoggedIn",
    "RouteEntry",
    "add_nav",
    "guard_of",
    "install",
    "new_session_store",
    "render",
    "route_table",
]
