"""The month-end read: every account's charge totals, page by page, in one query per page."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wattbook.adapters.db._uow import SqlReadOnlyUnitOfWork
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.application.billing import ports as billing_ports
from wattbook.domain import billing
from wattbook.domain.values import AccountNumber, BillingMonth, Money


class SqlStatementReader:
    """Read charge totals for month-end statements straight from the aggregate tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _page(
        self, connection: Connection, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[billing_ports.AccountMonths, ...]:
        a, b, ct, ce = (
            accounts_t.accounts,
            billing_t.balances,
            billing_t.charge_totals,
            billing_t.charge_energy,
        )
        first = str(month)
        charged = (
            sa.select(ct.c.account_id)
            .join(a, a.c.id == ct.c.account_id)
            .where(ct.c.month == first)
            .order_by(a.c.account_number)
            .limit(limit)
        )
        if after is not None:
            charged = charged.where(a.c.account_number > str(after))
        page = charged.subquery()
        query = (
            sa.select(
                a.c.account_number,
                b.c.balance_fen,
                ct.c.month,
                ct.c.tariff_key,
                ct.c.charged_fen,
                ce.c.component,
                ce.c.energy_wh,
            )
            .join(b, b.c.account_id == a.c.id)
            .join(ct, ct.c.account_id == a.c.id)
            .join(
                ce,
                sa.and_(
                    ce.c.account_id == ct.c.account_id,
                    ce.c.month == ct.c.month,
                    ce.c.tariff_key == ct.c.tariff_key,
                ),
            )
            .where(a.c.id.in_(sa.select(page.c.account_id)), ct.c.month >= first)
            .order_by(a.c.account_number, ct.c.month, ct.c.tariff_key, ce.c.component)
        )
        found: list[billing_ports.AccountMonths] = []
        rows = connection.execute(query).all()
        current: str | None = None
        balance = 0
        totals: list[billing.ChargeTotal] = []
        key: tuple[str, str] | None = None
        energy: list[tuple[str, int]] = []
        fen = 0

        def close_total() -> None:
            if key is not None:
                totals.append(
                    billing.ChargeTotal(
                        key=billing.ChargeKey(tariff_key=key[1], month=BillingMonth.parse(key[0])),
                        energy_wh=tuple(energy),
                        charged=Money(fen=fen),
                    )
                )

        def close_account() -> None:
            if current is not None:
                close_total()
                found.append(
                    billing_ports.AccountMonths(
                        account_number=AccountNumber(value=current),
                        balance=Money(fen=balance),
                        totals=tuple(totals),
                    )
                )

        row: Any
        for row in rows:
            number, row_balance, row_month, tariff_key, charged_fen, component, wh = row
            if number != current:
                close_account()
                current, balance, totals, key = number, row_balance, [], None
            if (row_month, tariff_key) != key:
                close_total()
                key, energy, fen = (row_month, tariff_key), [], charged_fen
            energy.append((component, wh))
        close_account()
        return tuple(found)

    async def page(
        self, *, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[billing_ports.AccountMonths, ...]:
        """Return up to ``limit`` accounts after ``after`` charged in ``month``, with totals."""
        # A read-only unit of work: admitted through the engine's gate, run on its workers,
        # never holding the write lock.
        async with SqlReadOnlyUnitOfWork(self._engine) as uow:
            return await uow.call(lambda connection: self._page(connection, month, after, limit))
