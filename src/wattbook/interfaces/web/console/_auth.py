"""Who is acting in the console, and whether they may: every check is made here, on the server.

Every console route but the log-in page declares one :class:`Guard`: the permission it needs
and, for a route that changes anything, the audit action it writes. The guard finds the
browser's session (``interfaces/web/_sessions``), reloads the operator (a role change or a
disabled operator applies at the next request), checks the CSRF token on every unsafe method
(``interfaces/web/_csrf``) and then the permission, and hands the route an :class:`Acting`,
whose units of work write the audit record in the action's own transaction. The route-table
tests walk every route and read the guard from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request

from wattbook.application import ports
from wattbook.application.staff import audit, sessions
from wattbook.domain import staff
from wattbook.interfaces.web import _context, _csrf
from wattbook.interfaces.web._sessions import Session, SessionCookie, SessionStore

COOKIE = SessionCookie(name="wattbook_console", path="/console")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_KEY = "login"


class NotLoggedIn(Exception):
    """The request has no live console session (a page redirects to the log-in)."""


class Forbidden(Exception):
    """The operator's role does not include the permission the route needs (403)."""

    def __init__(self, operator: staff.Operator, permission: staff.Permission) -> None:
        super().__init__(f"{operator.login} ({operator.role}) may not {permission}")
        self.operator = operator
        self.permission = permission


def session_store(request: Request) -> SessionStore:
    """Return the console's session store."""
    return cast(SessionStore, request.app.state.console_sessions)


def new_session_store() -> SessionStore:
    """Return a session store with the staff's idle and absolute limits."""
    return SessionStore(idle=staff.SESSION_IDLE_LIMIT, absolute=staff.SESSION_LIFETIME)


def browser_session(request: Request) -> Session | None:
    """Return the request's live console session, if any."""
    now = _context.runtime(request).wall_clock.now()
    return session_store(request).get(COOKIE.read(request), now=now)


@dataclass(frozen=True, slots=True)
class Acting:
    """The operator acting on this request, and how its action is audited."""

    operator: staff.Operator
    action: str | None
    session: Session
    request: Request

    @property
    def login(self) -> str:
        """Return the operator's login name (who did it, in every record)."""
        return self.operator.login

    def uow_factory(
        self, *, target: str, before: str = "", after: str = "", detail: str = ""
    ) -> Callable[[], ports.UnitOfWork]:
        """Return a factory of units of work sharing this action's one audit record, which
        the first of them to commit writes in its own transaction."""
        if self.action is None:
            raise RuntimeError("this route declares no audit action")
        runtime = _context.runtime(self.request)
        clock = runtime.storage.clock
        action = self.action
        trail = audit.AuditTrail(
            lambda: (
                staff.AuditRecord(
                    at=clock.now(),
                    actor=self.login,
                    action=action,
                    target=target,
                    before=before,
                    after=after,
                    detail=detail,
                ),
            )
        )
        return audit.audited(runtime.storage.uow_factory, trail)

    def uow(
        self, *, target: str, before: str = "", after: str = "", detail: str = ""
    ) -> ports.UnitOfWork:
        """Return a unit of work whose commit also writes this action's audit record."""
        return self.uow_factory(target=target, before=before, after=after, detail=detail)()


class Guard:
    """The dependency every console route declares: its permission and its audit action.

    ``audit`` is required on a route that changes anything (the route-table test checks it).
    """

    def __init__(self, permission: staff.Permission, *, audit: str | None = None) -> None:
        self.permission = permission
        self.audit = audit

    def __repr__(self) -> str:
        return f"Guard({self.permission}, audit={self.audit!r})"

    async def __call__(self, request: Request) -> Acting:
        session = browser_session(request)
        login = session.data.get(LOGIN_KEY) if session is not None else None
        if session is None or not isinstance(login, str):
            raise NotLoggedIn()
        runtime = _context.runtime(request)
        try:
            operator = await sessions.session_operator(
                uow=runtime.storage.reader_factory(), login=login
            )
        except sessions.SessionExpired:
            session_store(request).close(session.id)
            raise NotLoggedIn() from None
        if request.method not in SAFE_METHODS:
            await _csrf.check(request, session)
        if not staff.may(operator.role, self.permission):
            if request.method not in SAFE_METHODS:
                await audit.record_action(
                    uow=runtime.storage.uow_factory(),
                    records=(
                        staff.AuditRecord(
                            at=runtime.storage.clock.now(),
                            actor=operator.login,
                            action="staff.access.denied",
                            target=request.url.path[:100],
                            detail=f"needs {self.permission}",
                        ),
                    ),
                )
            raise Forbidden(operator, self.permission)
        request.state.operator = operator
        return Acting(operator, self.audit, session, request)


def guard_of(dependencies: list[Any]) -> Guard | None:
    """Return the guard among a route's resolved dependencies (for the route-table tests)."""
    for dependant in dependencies:
        call: Callable[..., Any] | None = getattr(dependant, "call", None)
        if isinstance(call, Guard):
            return call
        found = guard_of(getattr(dependant, "dependencies", []))
        if found is not None:
            return found
    return None
