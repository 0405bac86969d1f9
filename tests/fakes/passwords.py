"""A password hasher for unit tests: readable, reversible on purpose, never for production."""

from __future__ import annotations


class FakePasswordHasher:
    """``staff_ports.PasswordHasher`` that stores ``fake$<password>``; ``weak`` hashes are
    flagged for rehashing (``old$<password>``)."""

    def __init__(self) -> None:
        self.hashed = 0

    def hash(self, password: str) -> str:
        self.hashed += 1
        return f"fake${password}"

    def verify(self, stored: str, password: str) -> bool:
        return stored.split("$", 1)[1] == password

    def needs_rehash(self, stored: str) -> bool:
        return stored.startswith("old$")
