"""Logging in: login names, password strength, lock-out after failures, session expiry (A4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from wattbook.domain.staff._access import Role

# Five wrong passwords lock the login for fifteen minutes (a guess every three minutes).
LOCKOUT_ATTEMPTS = 5
LOCKOUT_PERIOD = timedelta(minutes=15)
# A session ends after half an hour without a request, and after a working day in any case.
SESSION_IDLE_LIMIT = timedelta(minutes=30)
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10

_LOGIN_NAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")


class WeakPassword(ValueError):
    """The password is too short or too simple to protect a staff login."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Operator:
    """A member of staff who logs in to the console."""

    login: str
    name: str
    role: Role
    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginState:
    """The failures counted against a login since its last success."""

    failures: int = 0
    locked_until_at: datetime | None = None


def check_login_name(login: str) -> str:
    """Return ``login`` if it is a valid login name (lower case, 2-32 characters).

    :raises ValueError: if it is not.
    """
    if not _LOGIN_NAME.fullmatch(login):
        raise ValueError(
            "a login name is 2-32 lower-case letters, digits, '.', '_' or '-', from a letter"
        )
    return login


def check_password_strength(password: str, *, login: str) -> None:
    """Refuse a password that is short, one kind of character, or contains the login.

    :raises WeakPassword: if it is.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPassword("a password needs at least 4 different characters")
    if login and login.lower() in password.lower():
        raise WeakPassword("a password must not contain the login name")


def is_locked(state: LoginState, *, at: datetime) -> bool:
    """Test whether the login is locked out at ``at``."""
    return state.locked_until_at is not None and at < state.locked_until_at


def failed_login(state: LoginState, *, at: datetime) -> LoginState:
    """Return the state after a wrong password at ``at``: locked after the last allowed try."""
    if state.locked_until_at is not None and at >= state.locked_until_at:
        state = LoginState()  # the lock ran out: count afresh
    failures = state.failures + 1
    if failures >= LOCKOUT_ATTEMPTS:
        return LoginState(failures=failures, locked_until_at=at + LOCKOUT_PERIOD)
    return LoginState(failures=failures, locked_until_at=state.locked_until_at)


def session_expired(*, created_at: datetime, last_seen_at: datetime, at: datetime) -> bool:
    """Test whether a session begun at ``created_at`` and last used at ``last_seen_at`` has
    expired at ``at`` (idle too long, or older than a working day)."""
    return at - last_seen_at >= SESSION_IDLE_LIMIT or at - created_at >= SESSION_LIFETIME
