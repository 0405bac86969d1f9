"""Month-end statements written set-based: one INSERT ... SELECT for every account's charge
lines, one for the month's B8 credit lines.

Nothing here decides a rule. The item and price of each tariff version, the paid rule's
threshold and the status codes come from the domain (``billing.statement_price``,
``billing.PAID_RULE``); the month's bounds from ``BillingMonth``. The statement reads the
charge aggregates, the balances and the migration credits, never the readings or the journal's
charges, so partitioning those by month leaves it alone. The charge lines are written in one
of two equivalent forms, whichever is faster on the engine (``charge_lines_select``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from wattbook.adapters.db._sql import Worker, _chunks
from wattbook.adapters.db.accounts import _tables as accounts_t
from wattbook.adapters.db.billing import _tables as billing_t
from wattbook.adapters.db.billing._repository import charge_totals
from wattbook.application.billing import ports as billing_ports
from wattbook.domain import accounts, billing
from wattbook.domain.values import AccountNumber, BillingMonth, Energy, Money, Price

CREDIT_PREFIX = "CREDIT:"

_lines = billing_t.statement_lines
_runs = billing_t.month_end_runs


def status_case(balance_fen: Any, later_fen: Any, rule: billing.PaidRule) -> Any:
    """Return the SQL status of a month: ``rule`` applied to the balance and later charges."""
    return sa.case(
        (
            balance_fen + later_fen >= sa.literal(rule.covered_from.fen, sa.BigInteger),
            sa.literal(billing.StatementStatus.PAID.value, sa.String),
        ),
        else_=sa.literal(billing.StatementStatus.UNPAID.value, sa.String),
    )


def _by_tariff(
    column: Any, tariffs: Sequence[billing_ports.StatementTariff], value: Any, type_: Any
) -> Any:
    # A CASE over the few tariff versions; a key missing from the domain's history yields NULL,
    # which the NOT NULL item refuses, so the month-end fails rather than guess.
    whens = [(column == t.tariff_key, sa.literal(value(t), type_)) for t in tariffs]
    if not whens:
        return sa.null()
    return sa.case(*whens, else_=sa.null())


def charge_lines_select(
    *,
    month: BillingMonth,
    tariffs: Sequence[billing_ports.StatementTariff],
    rule: billing.PaidRule,
    grouped: bool,
) -> sa.Select[Any]:
    """Return the SELECT of every account's charge lines of ``month`` with their status.

    The energy of a line and the charges of later months are sums over the aggregates. With
    ``grouped`` they are joined as grouped subqueries (faster on SQLite); without, each is
    read per row by an index range on the aggregates' keys (faster on PostgreSQL). Both give
    the same lines; the tests run each on its engine against the domain.
    """
    ct, ce, b = billing_t.charge_totals, billing_t.charge_energy, billing_t.balances
    later_ct = ct.alias("later")
    first = str(month)
    energy_wh: Any
    later_fen: Any
    if grouped:
        energy = (
            sa.select(ce.c.account_id, ce.c.tariff_key, sa.func.sum(ce.c.energy_wh).label("wh"))
            .where(ce.c.month == first)
            .group_by(ce.c.account_id, ce.c.tariff_key)
            .subquery("energy")
        )
        later = (
            sa.select(later_ct.c.account_id, sa.func.sum(later_ct.c.charged_fen).label("fen"))
            .where(later_ct.c.month > first)
            .group_by(later_ct.c.account_id)
            .subquery("later_months")
        )
        energy_wh = sa.func.coalesce(energy.c.wh, 0)
        later_fen = sa.func.coalesce(later.c.fen, 0)
    else:
        energy_wh = (
            sa.select(sa.func.coalesce(sa.func.sum(ce.c.energy_wh), 0))
            .where(
                ce.c.account_id == ct.c.account_id,
                ce.c.month == ct.c.month,
                ce.c.tariff_key == ct.c.tariff_key,
            )
            .scalar_subquery()
        )
        later_fen = (
            sa.select(sa.func.coalesce(sa.func.sum(later_ct.c.charged_fen), 0))
            .where(later_ct.c.account_id == ct.c.account_id, later_ct.c.month > first)
            .scalar_subquery()
        )
    query = (
        sa.select(
            sa.literal(first, sa.String).label("month"),
            ct.c.account_id,
            ct.c.tariff_key.label("line_key"),
            _by_tariff(ct.c.tariff_key, tariffs, lambda t: t.item, sa.String).label("item"),
            _by_tariff(
                ct.c.tariff_key,
                tariffs,
                lambda t: None if t.price is None else t.price.scaled,
                sa.BigInteger,
            ).label("price"),
            energy_wh.label("energy_wh"),
            ct.c.charged_fen.label("amount_fen"),
            status_case(b.c.balance_fen, later_fen, rule).label("status"),
        )
        .join(b, b.c.account_id == ct.c.account_id)
        .where(ct.c.month == first)
    )
    if grouped:
        # SQLite: in key order, so the lines go into the table's key in order and the totals
        # are scanned by their key (which reads them in that order) rather than by rowid.
        query = (
            query.order_by(ct.c.account_id, ct.c.tariff_key)
            .outerjoin(
                energy,
                sa.and_(
                    energy.c.account_id == ct.c.account_id, energy.c.tariff_key == ct.c.tariff_key
                ),
            )
            .outerjoin(later, later.c.account_id == ct.c.account_id)
        )
    return query


def credit_lines_select(month: BillingMonth) -> sa.Select[Any]:
    """Return the SELECT of the B8 credit lines of ``month``: negative energy and amount, PAID."""
    m, e = billing_t.migration_credits, billing_t.ledger_entries
    return (
        sa.select(
            sa.literal(str(month), sa.String).label("month"),
            m.c.account_id,
            (sa.literal(CREDIT_PREFIX, sa.String) + sa.cast(m.c.entry_id, sa.String)).label(
                "line_key"
            ),
            sa.literal(billing.ITEM_RESIDENTIAL_LIGHTING, sa.String).label("item"),
            sa.type_coerce(m.c.price, sa.BigInteger).label("price"),
            (-m.c.energy_wh).label("energy_wh"),
            (-e.c.amount_fen).label("amount_fen"),
            sa.literal(billing.StatementStatus.PAID.value, sa.String).label("status"),
        )
        .join(e, e.c.id == m.c.entry_id)
        .where(m.c.at >= month.start_at, m.c.at < month.end_at)
    )


LINE_COLUMNS = (
    "month",
    "account_id",
    "line_key",
    "item",
    "price",
    "energy_wh",
    "amount_fen",
    "status",
)


def write_lines(
    connection: Connection,
    *,
    month: BillingMonth,
    tariffs: Sequence[billing_ports.StatementTariff],
    rule: billing.PaidRule,
) -> None:
    """Insert the month's charge and credit lines (the run's row must exist)."""
    grouped = connection.dialect.name == "sqlite"
    for select in (
        charge_lines_select(month=month, tariffs=tariffs, rule=rule, grouped=grouped),
        credit_lines_select(month),
    ):
        connection.execute(_lines.insert().from_select(list(LINE_COLUMNS), select))


def _line(month: BillingMonth, row: Any) -> billing.StatementLine:
    return billing.StatementLine(
        month=month,
        item=row.item,
        price=None if row.price is None else Price(yuan_per_kwh=row.price),
        energy=Energy(wh=int(row.energy_wh)),
        amount=Money(fen=int(row.amount_fen)),
        status=billing.StatementStatus(row.status),
    )


def _run(row: Any) -> billing_ports.MonthEndRun:
    return billing_ports.MonthEndRun(
        month=BillingMonth.parse(row.month),
        written_at=row.written_at,
        accounts=int(row.account_count),
        lines=int(row.line_count),
        amount=Money(fen=int(row.amount_fen)),
        unpaid_lines=int(row.unpaid_line_count),
    )


def _line_order() -> tuple[Any, ...]:
    # Credit lines first, then charges by tariff version: the domain's order within a month.
    return (
        sa.case((_lines.c.line_key.like(f"{CREDIT_PREFIX}%"), 0), else_=1),
        _lines.c.line_key,
    )


class SqlStatementRepository:
    """Month-end statements in SQL: the run's row, the lines, samples and pages."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def _run_of(self, month: BillingMonth) -> billing_ports.MonthEndRun | None:
        row = (
            self._worker.conn().execute(sa.select(_runs).where(_runs.c.month == str(month))).first()
        )
        return None if row is None else _run(row)

    async def run(self, month: BillingMonth) -> billing_ports.MonthEndRun | None:
        """Return the month's run if its statements were written, else None."""
        return await self._worker.run(self._run_of, month)

    def _write(
        self,
        month: BillingMonth,
        tariffs: Sequence[billing_ports.StatementTariff],
        rule: billing.PaidRule,
        written_at: datetime,
    ) -> billing_ports.MonthEndRun | None:
        connection = self._worker.conn()
        dialect = connection.dialect.name
        insert: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_runs)
        claimed = connection.execute(
            insert.values(
                month=str(month),
                written_at=written_at,
                account_count=0,
                line_count=0,
                amount_fen=0,
                unpaid_line_count=0,
            )
            .on_conflict_do_nothing(index_elements=["month"])
            .returning(_runs.c.month)
        ).first()
        # RETURNING, not rowcount: on PostgreSQL (psycopg) the rowcount here reads -1.
        if claimed is None:
            return None
        write_lines(connection, month=month, tariffs=tariffs, rule=rule)
        of_month = _lines.c.month == str(month)
        # The accounts counted on the key alone (a covering index read), the rest in one pass.
        accounts_written = connection.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(_lines.c.account_id).where(of_month).distinct().subquery()
            )
        ).scalar_one()
        lines, amount, unpaid = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(_lines.c.amount_fen), 0),
                sa.func.coalesce(
                    sa.func.sum(
                        sa.case(
                            (_lines.c.status == billing.StatementStatus.UNPAID.value, 1), else_=0
                        )
                    ),
                    0,
                ),
            ).where(of_month)
        ).one()
        connection.execute(
            _runs.update()
            .where(_runs.c.month == str(month))
            .values(
                account_count=int(accounts_written),
                line_count=int(lines),
                amount_fen=int(amount),
                unpaid_line_count=int(unpaid),
            )
        )
        return self._run_of(month)

    async def write(
        self,
        *,
        month: BillingMonth,
        tariffs: Sequence[billing_ports.StatementTariff],
        rule: billing.PaidRule,
        written_at: datetime,
    ) -> billing_ports.MonthEndRun | None:
        """Write the lines of every account charged or credited in ``month``; None if the
        month's statements exist already."""
        return await self._worker.run(self._write, month, tuple(tariffs), rule, written_at)

    def _sample(
        self, month: BillingMonth, size: int, seed: int
    ) -> tuple[billing_ports.WrittenStatement, ...]:
        connection = self._worker.conn()
        first = str(month)
        low, high = connection.execute(
            sa.select(sa.func.min(_lines.c.account_id), sa.func.max(_lines.c.account_id)).where(
                _lines.c.month == first
            )
        ).one()
        if low is None or size == 0:
            return ()
        chooser = random.Random(seed)  # noqa: S311 - a sample, not a secret
        ids: set[int] = set()
        next_id = (
            sa.select(_lines.c.account_id)
            .where(_lines.c.month == first, _lines.c.account_id >= sa.bindparam("from_id"))
            .order_by(_lines.c.account_id)
            .limit(1)
        )
        for _ in range(size):
            found = connection.execute(
                next_id, {"from_id": chooser.randint(int(low), int(high))}
            ).scalar()
            if found is not None:
                ids.add(int(found))
        # Arrears are the interesting case, and rare: add the first accounts with one.
        ids.update(
            int(found)
            for found in connection.execute(
                sa.select(_lines.c.account_id)
                .where(
                    _lines.c.month == first,
                    _lines.c.status == billing.StatementStatus.UNPAID.value,
                )
                .limit(size)
            ).scalars()
        )
        return self._written(connection, month, sorted(ids))

    def _written(
        self, connection: Connection, month: BillingMonth, ids: Sequence[int]
    ) -> tuple[billing_ports.WrittenStatement, ...]:
        a, b, m, e = (
            accounts_t.accounts,
            billing_t.balances,
            billing_t.migration_credits,
            billing_t.ledger_entries,
        )
        numbers: dict[int, AccountNumber] = {}
        balances: dict[int, Money] = {}
        lines: dict[int, list[billing.StatementLine]] = defaultdict(list)
        credits: dict[int, list[accounts.MigrationCredit]] = defaultdict(list)
        for chunk in _chunks(ids):
            for row in connection.execute(
                sa.select(a.c.id, a.c.account_number, b.c.balance_fen)
                .join(b, b.c.account_id == a.c.id)
                .where(a.c.id.in_(chunk))
            ):
                numbers[row.id] = AccountNumber(value=row.account_number)
                balances[row.id] = Money(fen=int(row.balance_fen))
            for row in connection.execute(
                sa.select(_lines)
                .where(_lines.c.month == str(month), _lines.c.account_id.in_(chunk))
                .order_by(_lines.c.account_id, *_line_order())
            ):
                lines[row.account_id].append(_line(month, row))
            for row in connection.execute(
                sa.select(m, e.c.amount_fen, e.c.note)
                .join(e, e.c.id == m.c.entry_id)
                .where(m.c.account_id.in_(chunk))
                .order_by(m.c.at)
            ):
                credits[row.account_id].append(
                    accounts.MigrationCredit(
                        account_number=numbers[row.account_id],
                        energy=Energy(wh=int(row.energy_wh)),
                        price=Price(yuan_per_kwh=row.price),
                        amount=Money(fen=int(row.amount_fen)),
                        at=row.at,
                        note=row.note,
                    )
                )
        totals = charge_totals(connection, numbers, years=None)
        return tuple(
            billing_ports.WrittenStatement(
                account_number=numbers[id_],
                lines=tuple(lines[id_]),
                balance=balances[id_],
                totals=totals.get(numbers[id_], ()),
                credits=tuple(credits[id_]),
            )
            for id_ in ids
            if id_ in numbers
        )

    async def sample(
        self, *, month: BillingMonth, size: int, seed: int
    ) -> tuple[billing_ports.WrittenStatement, ...]:
        """Return up to ``size`` written accounts chosen from ``seed``, plus up to ``size``
        with an unpaid line, each with what the domain needs to recompute its lines."""
        return await self._worker.run(self._sample, month, size, seed)

    def _page(
        self, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[tuple[AccountNumber, tuple[billing.StatementLine, ...]], ...]:
        connection = self._worker.conn()
        a = accounts_t.accounts
        first = str(month)
        page = (
            sa.select(a.c.id, a.c.account_number)
            .where(
                sa.exists().where(_lines.c.month == first, _lines.c.account_id == a.c.id),
            )
            .order_by(a.c.account_number)
            .limit(limit)
        )
        if after is not None:
            page = page.where(a.c.account_number > str(after))
        chosen = connection.execute(page).all()
        by_id = {row.id: row.account_number for row in chosen}
        lines: dict[int, list[billing.StatementLine]] = defaultdict(list)
        for chunk in _chunks(sorted(by_id)):
            for row in connection.execute(
                sa.select(_lines)
                .where(_lines.c.month == first, _lines.c.account_id.in_(chunk))
                .order_by(_lines.c.account_id, *_line_order())
            ):
                lines[row.account_id].append(_line(month, row))
        return tuple(
            (AccountNumber(value=row.account_number), tuple(lines[row.id])) for row in chosen
        )

    async def lines(
        self, *, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[tuple[AccountNumber, tuple[billing.StatementLine, ...]], ...]:
        """Return up to ``limit`` accounts after ``after`` (by number) with their written lines."""
        return await self._worker.run(self._page, month, after, limit)
