"""Logging in and out of the console; a session's check on every request (A4).

Every failure answers the same way whether the login exists or not, and the argon2 check runs
either way, so neither the answer nor its time tells a guesser which logins exist.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from wattbook.application import ports
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff

# A hash of a password nobody has, checked when the login does not exist.
_NOBODY = "nobody-has-this-password"


class LoginRefused(Exception):
    """Wrong login name or password, a disabled operator, or a locked-out login."""


class SessionExpired(Exception):
    """The session is unknown, ended, idle too long or too old: log in again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartedSession:
    """A new session: the token for the browser's cookie, and who it belongs to."""

    token: str
    operator: staff.Operator


def token_hash(token: str) -> str:
    """Return the stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def log_in(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    hasher: staff_ports.PasswordHasher,
    login: str,
    password: str,
) -> StartedSession:
    """Check the password and start a session; count a failure and lock out after too many.

    :raises LoginRefused: if the login does not exist, is disabled or locked, or the
        password is wrong.
    """
    now = clock.now()
    async with uow:
        stored = await uow.staff.operator(login)
        if stored is None:
            hasher.verify(hasher.hash(_NOBODY), password)  # the same work as a real check
            raise LoginRefused(login)
        if staff.is_locked(stored.login_state, at=now):
            await uow.staff.append_audit(
                (
                    staff.AuditRecord(
                        at=now, actor=login, action="staff.login.locked-out", target=login
                    ),
                )
            )
            await uow.commit()
            raise LoginRefused(login)
        if not hasher.verify(stored.password_hash, password) or not stored.operator.active:
            state = staff.failed_login(stored.login_state, at=now)
            await uow.staff.save_login_state(login, state)
            detail = f"failures={state.failures}"
            if staff.is_locked(state, at=now):
                detail += f"; locked until {state.locked_until_at}"
            await uow.staff.append_audit(
                (
                    staff.AuditRecord(
                        at=now,
                        actor=login,
                        action="staff.login.failed",
                        target=login,
                        detail=detail,
                    ),
                )
            )
            await uow.commit()
            raise LoginRefused(login)
        if hasher.needs_rehash(stored.password_hash):
            await uow.staff.set_password_hash(login, hasher.hash(password))
        await uow.staff.save_login_state(login, staff.LoginState())
        token = secrets.token_urlsafe(32)
        await uow.staff.add_session(
            staff_ports.StaffSession(
                token_hash=token_hash(token), login=login, created_at=now, last_seen_at=now
            )
        )
        await uow.staff.append_audit(
            (staff.AuditRecord(at=now, actor=login, action="staff.login.succeeded", target=login),)
        )
        await uow.commit()
    return StartedSession(token=token, operator=stored.operator)


async def session_operator(
    *, uow: ports.UnitOfWork, clock: ports.Clock, token: str
) -> staff.Operator:
    """Return the operator whose session ``token`` is, and record that it was used now.

    :raises SessionExpired: if the session is unknown, ended or expired, or its operator
        was disabled.
    """
    now = clock.now()
    hashed = token_hash(token)
    async with uow:
        session = await uow.staff.session(hashed)
        if session is None or session.ended_at is not None:
            raise SessionExpired()
        if staff.session_expired(
            created_at=session.created_at, last_seen_at=session.last_seen_at, at=now
        ):
            await uow.staff.end_sessions(login=session.login, at=now, token_hash=hashed)
            await uow.commit()
            raise SessionExpired()
        stored = await uow.staff.operator(session.login)
        if stored is None or not stored.operator.active:
            raise SessionExpired()
        await uow.staff.touch_session(hashed, at=now)
        await uow.commit()
    return stored.operator


async def log_out(*, uow: ports.UnitOfWork, clock: ports.Clock, token: str) -> None:
    """End the session ``token`` (nothing happens for an unknown or ended one)."""
    now = clock.now()
    hashed = token_hash(token)
    async with uow:
        session = await uow.staff.session(hashed)
        if session is None or session.ended_at is not None:
            return
        await uow.staff.end_sessions(login=session.login, at=now, token_hash=hashed)
        await uow.staff.append_audit(
            (
                staff.AuditRecord(
                    at=now, actor=session.login, action="staff.logout", target=session.login
                ),
            )
        )
        await uow.commit()
