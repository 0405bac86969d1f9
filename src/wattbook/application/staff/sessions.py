"""Logging in and out of the console, and the operator behind a session (A4).

The browser session itself (its cookie, expiry and CSRF token) is the web's
(``interfaces/web/_sessions``); these use cases decide who may have one. Every refusal
answers the same way whether the login exists or not, and the password check runs either way,
so neither the answer nor its time tells a guesser which logins exist.
"""

from __future__ import annotations

from wattbook.application import ports, read_ports
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff

# Checked when the login does not exist, so that the refusal costs the same time.
_NOBODY = "nobody-has-this-password"


class LoginRefused(Exception):
    """Wrong login name or password, a disabled operator, or a locked-out login."""


class SessionExpired(Exception):
    """The session's operator is gone or disabled: log in again."""


async def log_in(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    hasher: staff_ports.PasswordHasher,
    login: str,
    password: str,
) -> staff.Operator:
    """Check the password and return the operator; count a failure and lock out after too
    many (``staff.LOCKOUT_ATTEMPTS``). Every attempt is audited.

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
        await uow.staff.append_audit(
            (staff.AuditRecord(at=now, actor=login, action="staff.login.succeeded", target=login),)
        )
        await uow.commit()
    return stored.operator


async def session_operator(*, uow: read_ports.ReadOnlyUnitOfWork, login: str) -> staff.Operator:
    """Return the operator a session belongs to, as stored now (role changes apply at once).

    :raises SessionExpired: if the operator is gone or disabled.
    """
    async with uow:
        stored = await uow.staff.operator(login)
    if stored is None or not stored.operator.active:
        raise SessionExpired(login)
    return stored.operator


async def log_out(*, uow: ports.UnitOfWork, clock: ports.Clock, login: str) -> None:
    """Record that ``login`` logged out (the web ends the browser session)."""
    async with uow:
        await uow.staff.append_audit(
            (staff.AuditRecord(at=clock.now(), actor=login, action="staff.logout", target=login),)
        )
        await uow.commit()
