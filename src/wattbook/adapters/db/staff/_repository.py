"""Operators and the audit log in SQL (both backends)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from wattbook.adapters.db._sql import Worker
from wattbook.adapters.db.staff import _tables as staff_t
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import staff


def _operator(row: Any) -> staff_ports.StoredOperator:
    return staff_ports.StoredOperator(
        operator=staff.Operator(
            login=row["login"], name=row["name"], role=staff.Role(row["role"]), active=row["active"]
        ),
        password_hash=row["password_hash"],
        login_state=staff.LoginState(
            failures=int(row["failed_logins"]), locked_until_at=row["locked_until"]
        ),
        created_at=row["created_at"],
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlStaffRepository:
    """Operators and the audit log; the log is only ever appended to."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _add_operator(self, stored: staff_ports.StoredOperator) -> None:
        o = staff_t.operators
        connection = self._worker.conn()
        taken = connection.execute(
            sa.select(o.c.login).where(o.c.login == stored.operator.login)
        ).first()
        if taken is not None:
            raise staff_ports.DuplicateOperator(stored.operator.login)
        connection.execute(
            o.insert().values(
                login=stored.operator.login,
                name=stored.operator.name,
                role=stored.operator.role.value,
                active=stored.operator.active,
                password_hash=stored.password_hash,
                failed_logins=stored.login_state.failures,
                locked_until=stored.login_state.locked_until_at,
                created_at=stored.created_at,
            )
        )

    async def add_operator(self, stored: staff_ports.StoredOperator) -> None:
        """Add an operator.

        :raises DuplicateOperator: if the login name is taken.
        """
        await self._worker.run(self._add_operator, stored)

    def _operators(self, login: str | None) -> tuple[staff_ports.StoredOperator, ...]:
        o = staff_t.operators
        query = sa.select(o).order_by(o.c.login)
        if login is not None:
            query = query.where(o.c.login == login)
        rows = self._worker.conn().execute(query).mappings().all()
        return tuple(_operator(row) for row in rows)

    async def operator(self, login: str) -> staff_ports.StoredOperator | None:
        """Return the operator with that login name, or None."""
        found = await self._worker.run(self._operators, login)
        return found[0] if found else None

    async def operators(self) -> tuple[staff_ports.StoredOperator, ...]:
        """Return every operator, by login name."""
        return await self._worker.run(self._operators, None)

    def _update(self, login: str, values: dict[str, Any]) -> None:
        o = staff_t.operators
        self._worker.conn().execute(o.update().where(o.c.login == login).values(**values))

    async def save_operator(self, operator: staff.Operator) -> None:
        """Store an operator's name, role and whether it is active."""
        await self._worker.run(
            self._update,
            operator.login,
            {"name": operator.name, "role": operator.role.value, "active": operator.active},
        )

    async def save_login_state(self, login: str, state: staff.LoginState) -> None:
        """Store the failures counted against a login."""
        await self._worker.run(
            self._update,
            login,
            {"failed_logins": state.failures, "locked_until": state.locked_until_at},
        )

    async def set_password_hash(self, login: str, password_hash: str) -> None:
        """Store a new password hash for a login."""
        await self._worker.run(self._update, login, {"password_hash": password_hash})

    def _append(self, records: Sequence[staff.AuditRecord]) -> None:
        self._worker.conn().execute(
            staff_t.audit_log.insert(),
            [
                {
                    "at": r.at,
                    "actor": r.actor[:100],
                    "action": r.action[:64],
                    "target": r.target[:100],
                    "before": r.before,
                    "after": r.after,
                    "detail": r.detail,
                    "channel": r.channel,
                }
                for r in records
            ],
        )

    async def append_audit(self, records: Sequence[staff.AuditRecord]) -> None:
        """Append records to the audit log."""
        if records:
            await self._worker.run(self._append, records)

    def _search(self, query: staff_ports.AuditQuery) -> tuple[staff_ports.StoredAuditRecord, ...]:
        a = staff_t.audit_log
        select = sa.select(a).order_by(a.c.id.desc()).limit(query.limit)
        if query.text:
            pattern = _like(query.text)
            select = select.where(
                sa.or_(
                    *(
                        column.like(pattern, escape="\\")
                        for column in (a.c.target, a.c.before, a.c.after, a.c.detail, a.c.action)
                    )
                )
            )
        if query.actor:
            select = select.where(a.c.actor == query.actor)
        if query.action:
            select = select.where(a.c.action.like(_like(query.action), escape="\\"))
        if query.from_at is not None:
            select = select.where(a.c.at >= query.from_at)
        if query.to_at is not None:
            select = select.where(a.c.at < query.to_at)
        if query.before_id is not None:
            select = select.where(a.c.id < query.before_id)
        rows = self._worker.conn().execute(select).mappings().all()
        return tuple(
            staff_ports.StoredAuditRecord(
                id=int(row["id"]),
                record=staff.AuditRecord(
                    at=row["at"],
                    actor=row["actor"],
                    action=row["action"],
                    target=row["target"],
                    before=row["before"],
                    after=row["after"],
                    detail=row["detail"],
                    channel=row["channel"],
                ),
            )
            for row in rows
        )

    async def search_audit(
        self, query: staff_ports.AuditQuery
    ) -> tuple[staff_ports.StoredAuditRecord, ...]:
        """Return the records matching ``query``, newest first."""
        return await self._worker.run(self._search, query)
