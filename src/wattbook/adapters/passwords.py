"""Staff passwords hashed with argon2id (argon2-cffi), the PasswordHasher port."""

from __future__ import annotations

import argon2


class Argon2Hasher:
    """argon2id with argon2-cffi's current defaults (RFC 9106's low-memory profile).

    ``fast`` lowers the cost for tests only; a hash made that way is flagged for rehashing
    by a normal hasher at the next login.
    """

    def __init__(self, *, fast: bool = False) -> None:
        self._hasher = (
            argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
            if fast
            else argon2.PasswordHasher()
        )

    def hash(self, password: str) -> str:
        """Return the hash to store for ``password``."""
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """Test whether ``password`` matches the stored hash."""
        try:
            return self._hasher.verify(stored, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Test whether the stored hash was made with other parameters than today's."""
        return self._hasher.check_needs_rehash(stored)
