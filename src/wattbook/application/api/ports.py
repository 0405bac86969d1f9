"""The API's tokens and idempotency records, and the repository port that keeps them.

A token is shown once when it is made; only its SHA-256 is stored (a token is 32 random
bytes, so a fast hash is enough: there is nothing to guess). Each token carries scopes; a
revoked token answers nothing from the moment it is revoked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

TOKEN_PREFIX = "wbk_"  # noqa: S105 - the public prefix of every token, not a secret
MAX_NAME_LENGTH = 100
# An Idempotency-Key: 1-100 visible ASCII characters (a UUID fits with room to spare).
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")


class Scope(StrEnum):
    """What a token may reach: one scope per kind of record."""

    ACCOUNTS = "accounts"
    BALANCES = "balances"
    READINGS = "readings"
    PAYMENTS = "payments"
    ALARMS = "alarms"


class ApiError(Exception):
    """The family of the API's anticipated failures."""


class InvalidToken(ApiError):
    """The token is unknown, malformed or revoked."""


class MissingScope(ApiError):
    """The token is valid but lacks the scope the call needs."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(f"this token lacks the scope {scope.value!r}")
        self.scope = scope


class InvalidTokenRequest(ApiError, ValueError):
    """A token cannot be made or revoked as asked (no name, no scope, unknown scope or id)."""


class UnknownToken(ApiError, LookupError):
    """There is no token with this id."""


class IdempotencyConflict(ApiError):
    """The Idempotency-Key was used before for a different request."""


class InvalidIdempotencyKey(ApiError, ValueError):
    """The Idempotency-Key is missing or malformed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """A token as stored: never the token itself, only its hash and first characters."""

    id: int
    name: str
    prefix: str
    scopes: frozenset[Scope]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        """Test whether the token still answers."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewToken:
    """A token just made: the secret is here once, to hand to the other system."""

    token: ApiToken
    secret: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotentAnswer:
    """The first answer given to an Idempotency-Key: status and JSON body."""

    request_sha256: str
    status_code: int
    body: str


def token_hash(secret: str) -> str:
    """Return the hex SHA-256 a token is stored and found under."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(texts: Collection[str]) -> frozenset[Scope]:
    """Return the scopes named (``all`` names every one).

    :raises InvalidTokenRequest: if none is named or a name is unknown.
    """
    wanted: set[Scope] = set()
    for text in texts:
        for word in text.replace(",", " ").split():
            if word.lower() == "all":
                wanted.update(Scope)
                continue
            try:
                wanted.add(Scope(word.lower()))
            except ValueError:
                known = ", ".join(scope.value for scope in Scope)
                raise InvalidTokenRequest(
                    f"unknown scope {word!r}: give some of {known}, or all"
                ) from None
    if not wanted:
        raise InvalidTokenRequest("give at least one scope")
    return frozenset(wanted)


class ApiTokenRepository(Protocol):
    """The API's tokens and the first answers to idempotent calls."""

    async def add_token(
        self,
        *,
        name: str,
        token_sha256: str,
        prefix: str,
        scopes: frozenset[Scope],
        at: datetime,
        by: str,
    ) -> ApiToken:
        """Store a new token and return it with its id."""
        ...

    async def tokens(self) -> tuple[ApiToken, ...]:
        """Return every token, oldest first."""
        ...

    async def token_by_hash(self, token_sha256: str) -> ApiToken | None:
        """Return the token stored under this hash, revoked or not, or None."""
        ...

    async def revoke_token(self, token_id: int, *, at: datetime, by: str) -> ApiToken:
        """Revoke the token (a revoked one stays as it was) and return it.

        :raises UnknownToken: if there is no such token.
        """
        ...

    async def answer(self, token_id: int, key: str) -> IdempotentAnswer | None:
        """Return the first answer given to this token's key, or None."""
        ...

    async def keep_answer(
        self, token_id: int, key: str, answer: IdempotentAnswer, *, at: datetime
    ) -> IdempotentAnswer:
        """Keep the answer unless one is kept already; return the one kept (the first)."""
        ...
