"""Server-side sessions for browser users (residents now, staff next), and their cookie.

The cookie carries only a random id (256 bits); what the session knows stays in this process
(one web process serves the site, ADR 7), so a restart logs everyone out and nothing a
browser holds can be forged or replayed after logout. A session ends after ``idle`` without a
request and ``absolute`` after it opened, whichever comes first. ``rotate`` gives a session a
new id when its privilege changes (log-in), against session fixation. The store holds at most
``capacity`` sessions, dropping the least recently used, so anonymous visitors cannot grow it
without bound.

Time comes from the caller (the runtime's wall clock), so tests need no sleeps.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from wattbook.domain.values import require_aware

# Ids are 43 URL-safe characters (32 random bytes); anything else is no session.
_ID_LENGTH = 43


@dataclass(slots=True, kw_only=True)
class Session:
    """One browser's session: its id, its CSRF token, when it opened and was last used.

    ``data`` is the owner's (the portal keeps the account and the captcha's answer there).
    """

    id: str
    csrf_token: str
    opened_at: datetime
    seen_at: datetime
    data: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class SessionStore:
    """Sessions in this process, ended by idleness, by age, by logout or by capacity."""

    idle: timedelta
    absolute: timedelta
    capacity: int = 50_000
    _sessions: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def open(self, *, now: datetime) -> Session:
        """Open a new, empty session."""
        require_aware(now)
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            opened_at=now,
            seen_at=now,
        )
        self._sessions[session.id] = session
        while len(self._sessions) > self.capacity:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None, *, now: datetime) -> Session | None:
        """Return the live session ``session_id`` (marking it used), or None.

        An expired session is dropped on the way.
        """
        require_aware(now)
        if session_id is None or len(session_id) != _ID_LENGTH:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if now - session.seen_at >= self.idle or now - session.opened_at >= self.absolute:
            del self._sessions[session_id]
            return None
        session.seen_at = max(session.seen_at, now)
        self._sessions.move_to_end(session_id)
        return session

    def rotate(self, session: Session, *, now: datetime) -> Session:
        """Return ``session`` under a new id and a new CSRF token; the old id is dead.

        Its data moves along; the age limit starts again, as for a new session.
        """
        self.close(session.id)
        fresh = self.open(now=now)
        fresh.data.update(session.data)
        return fresh

    def close(self, session_id: str) -> None:
        """End session ``session_id`` (nothing happens if it is gone already)."""
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionCookie:
    """How a session's id travels: its cookie's name, path and flags.

    HttpOnly always (no script reads it), SameSite ``strict`` by default, and Secure when the
    site is served over HTTPS, or always with ``secure=True`` (``WATTBOOK_SECURE_COOKIES``).
    """

    name: str
    path: str = "/"
    same_site: Literal["strict", "lax"] = "strict"
    secure: bool = False

    def read(self, request: Request) -> str | None:
        """Return the session id the request carries, if any."""
        return request.cookies.get(self.name)

    def _secure_for(self, request: Request) -> bool:
        return self.secure or request.url.scheme == "https"

    def write(self, response: Response, request: Request, session: Session) -> None:
        """Set the cookie carrying ``session``'s id (a browser-session cookie)."""
        response.set_cookie(
            self.name,
            session.id,
            path=self.path,
            httponly=True,
            samesite=self.same_site,
            secure=self._secure_for(request),
        )

    def clear(self, response: Response, request: Request) -> None:
        """Tell the browser to forget the cookie."""
        response.delete_cookie(
            self.name,
            path=self.path,
            httponly=True,
            samesite=self.same_site,
            secure=self._secure_for(request),
        )
