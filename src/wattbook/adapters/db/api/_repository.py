"""The API's tokens and idempotency records in SQL (both backends)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from wattbook.adapters.db._sql import Worker, insert_ignoring_duplicates
from wattbook.adapters.db.api import _tables as api_t
from wattbook.application.api import ports as api_ports


def _token(row: Any) -> api_ports.ApiToken:
    return api_ports.ApiToken(
        id=int(row["id"]),
        name=row["name"],
        prefix=row["prefix"],
        scopes=frozenset(api_ports.Scope(word) for word in row["scopes"].split()),
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
    )


class SqlApiTokenRepository:
    """Tokens by id and by hash; the first answer to each idempotency key."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _get(self, token_id: int) -> api_ports.ApiToken | None:
        t = api_t.api_tokens
        row = self._worker.conn().execute(sa.select(t).where(t.c.id == token_id)).mappings().first()
        return None if row is None else _token(row)

    def _add(
        self,
        name: str,
        token_sha256: str,
        prefix: str,
        scopes: frozenset[api_ports.Scope],
        at: datetime,
        by: str,
    ) -> api_ports.ApiToken:
        t = api_t.api_tokens
        result = self._worker.conn().execute(
            t.insert()
            .values(
                name=name,
                token_sha256=token_sha256,
                prefix=prefix,
                scopes=" ".join(sorted(scope.value for scope in scopes)),
                created_at=at,
                created_by=by,
            )
            .returning(t.c.id)
        )
        found = self._get(int(result.scalar_one()))
        assert found is not None  # noqa: S101 - just inserted in this transaction
        return found

    async def add_token(
        self,
        *,
        name: str,
        token_sha256: str,
        prefix: str,
        scopes: frozenset[api_ports.Scope],
        at: datetime,
        by: str,
    ) -> api_ports.ApiToken:
        """Store a new token and return it with its id."""
        return await self._worker.run(self._add, name, token_sha256, prefix, scopes, at, by)

    def _tokens(self) -> tuple[api_ports.ApiToken, ...]:
        t = api_t.api_tokens
        rows = self._worker.conn().execute(sa.select(t).order_by(t.c.id)).mappings()
        return tuple(_token(row) for row in rows)

    async def tokens(self) -> tuple[api_ports.ApiToken, ...]:
        """Return every token, oldest first."""
        return await self._worker.run(self._tokens)

    def _by_hash(self, token_sha256: str) -> api_ports.ApiToken | None:
        t = api_t.api_tokens
        row = (
            self._worker.conn()
            .execute(sa.select(t).where(t.c.token_sha256 == token_sha256))
            .mappings()
            .first()
        )
        return None if row is None else _token(row)

    async def token_by_hash(self, token_sha256: str) -> api_ports.ApiToken | None:
        """Return the token stored under this hash, revoked or not, or None."""
        return await self._worker.run(self._by_hash, token_sha256)

    def _revoke(self, token_id: int, at: datetime, by: str) -> api_ports.ApiToken:
        t = api_t.api_tokens
        self._worker.conn().execute(
            t.update()
            .where(t.c.id == token_id, t.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by)
        )
        found = self._get(token_id)
        if found is None:
            raise api_ports.UnknownToken(f"there is no API token {token_id}")
        return found

    async def revoke_token(self, token_id: int, *, at: datetime, by: str) -> api_ports.ApiToken:
        """Revoke the token (a revoked one stays as it was) and return it.

        :raises UnknownToken: if there is no such token.
        """
        return await self._worker.run(self._revoke, token_id, at, by)

    def _answer(self, token_id: int, key: str) -> api_ports.IdempotentAnswer | None:
        i = api_t.api_idempotency
        row = (
            self._worker.conn()
            .execute(
                sa.select(i.c.request_sha256, i.c.status_code, i.c.body).where(
                    i.c.token_id == token_id, i.c.idempotency_key == key
                )
            )
            .first()
        )
        if row is None:
            return None
        return api_ports.IdempotentAnswer(
            request_sha256=row[0], status_code=int(row[1]), body=row[2]
        )

    async def answer(self, token_id: int, key: str) -> api_ports.IdempotentAnswer | None:
        """Return the first answer given to this token's key, or None."""
        return await self._worker.run(self._answer, token_id, key)

    def _keep(
        self, token_id: int, key: str, answer: api_ports.IdempotentAnswer, at: datetime
    ) -> api_ports.IdempotentAnswer:
        insert_ignoring_duplicates(
            self._worker.conn(),
            api_t.api_idempotency,
            [
                {
                    "token_id": token_id,
                    "idempotency_key": key,
                    "request_sha256": answer.request_sha256,
                    "status_code": answer.status_code,
                    "body": answer.body,
                    "created_at": at,
                }
            ],
            keys=("token_id", "idempotency_key"),
        )
        kept = self._answer(token_id, key)
        assert kept is not None  # noqa: S101 - inserted or found just now
        return kept

    async def keep_answer(
        self,
        token_id: int,
        key: str,
        answer: api_ports.IdempotentAnswer,
        *,
        at: datetime,
    ) -> api_ports.IdempotentAnswer:
        """Keep the answer unless one is kept already; return the one kept (the first)."""
        return await self._worker.run(self._keep, token_id, key, answer, at)
