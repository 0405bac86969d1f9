"""The ports the staff use cases need: operators, sessions and the audit log; password hashing.

``ports.UnitOfWork.staff`` is the repository; the hasher is handed in by bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from wattbook.domain import staff


class DuplicateOperator(ValueError):
    """An operator with that login name exists already."""


class UnknownOperator(LookupError):
    """There is no operator with that login name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredOperator:
    """An operator as stored: who, the password's hash and the failures counted."""

    operator: staff.Operator
    password_hash: str
    login_state: staff.LoginState
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    """What to look for in the audit log: words in any field, who, which action, when."""

    text: str = ""
    actor: str = ""
    action: str = ""
    from_at: datetime | None = None
    to_at: datetime | None = None
    before_id: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredAuditRecord:
    """An audit record with its place in the log (ascending ids, newest last)."""

    id: int
    record: staff.AuditRecord


class PasswordHasher(Protocol):
    """Hash and check passwords (argon2 in production)."""

    def hash(self, password: str) -> str:
        """Return the hash to store for ``password``."""
        ...

    def verify(self, stored: str, password: str) -> bool:
        """Test whether ``password`` matches the stored hash."""
        ...

    def needs_rehash(self, stored: str) -> bool:
        """Test whether the stored hash was made with weaker parameters than today's."""
        ...


class StaffRepository(Protocol):
    """Operators and the append-only audit log."""

    async def add_operator(self, stored: StoredOperator) -> None:
        """Add an operator.

        :raises DuplicateOperator: if the login name is taken.
        """
        ...

    async def operator(self, login: str) -> StoredOperator | None:
        """Return the operator with that login name, or None."""
        ...

    async def operators(self) -> tuple[StoredOperator, ...]:
        """Return every operator, by login name."""
        ...

    async def save_operator(self, operator: staff.Operator) -> None:
        """Store an operator's name, role and whether it is active."""
        ...

    async def save_login_state(self, login: str, state: staff.LoginState) -> None:
        """Store the failures counted against a login."""
        ...

    async def set_password_hash(self, login: str, password_hash: str) -> None:
        """Store a new password hash for a login."""
        ...

    async def append_audit(self, records: Sequence[staff.AuditRecord]) -> None:
        """Append records to the audit log. Nothing ever changes or removes one."""
        ...

    async def search_audit(self, query: AuditQuery) -> tuple[StoredAuditRecord, ...]:
        """Return the records matching ``query``, newest first."""
        ...
