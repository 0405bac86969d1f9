"""Bench: month-end statements (B3) for every account on SQLite, against a bare SQL aggregate.

Generates ``--accounts`` accounts (default 1,000,000) with a month of charge totals using bulk
SQL, then times ``queries.month_end_statements`` (read page by page, statement lines built by
the domain with paid/unpaid status) against one bare ``GROUP BY`` over the same rows, fetched
in full. Checks that both agree on the count and the total amount. Goal: <= 60 s. The last
line of output is one JSON object.
"""

# The generator SQL interpolates this file's own constants only, never input.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.application import queries
from wattbook.domain.values import BillingMonth

MONTH = BillingMonth(year=2025, month=6)
TARIFF_KEY = "RESIDENTIAL_LIGHTING@2000-01-01"  # the seeded default tariff (0.5283)


def generate(engine: Engine, accounts: int) -> float:
    """Fill accounts, balances and June (plus some July) charge totals with set-based SQL."""
    started = time.perf_counter()
    seq = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count)"
    # Half-up rounding of Wh x 0.5283 / 10 fen, in integers: (wh * 5283 + 50000) / 100000.
    june_wh = "(30000 + (n * 7919) % 400000)"
    july_wh = "(1000 + (n * 104729) % 20000)"
    statements = [
        f"""{seq} INSERT INTO accounts (id, account_number, holder, phone, address, status,
            opened_at) SELECT n, printf('0516%08d', n), 'holder', NULL, 'addr', 'OPEN',
            '2025-01-01 00:00:00.000000' FROM seq""",
        f"""{seq} INSERT INTO balances (account_id, balance_fen, entry_count, updated_at)
            SELECT n, CASE WHEN n % 9 = 0 THEN -(n % 5000) - 1 ELSE 20000 + n % 10000 END, 1,
            '2025-07-01 00:00:00.000000' FROM seq""",
        f"""{seq} INSERT INTO charge_totals (account_id, month, tariff_key, charged_fen)
            SELECT n, '2025-06', '{TARIFF_KEY}', ({june_wh} * 5283 + 50000) / 100000 FROM seq""",
        f"""{seq} INSERT INTO charge_energy (account_id, month, tariff_key, component, energy_wh)
            SELECT n, '2025-06', '{TARIFF_KEY}', 'ALL', {june_wh} FROM seq""",
        f"""{seq} INSERT INTO charge_totals (account_id, month, tariff_key, charged_fen)
            SELECT n, '2025-07', '{TARIFF_KEY}', ({july_wh} * 5283 + 50000) / 100000 FROM seq
            WHERE n % 4 = 0""",
        f"""{seq} INSERT INTO charge_energy (account_id, month, tariff_key, component, energy_wh)
            SELECT n, '2025-07', '{TARIFF_KEY}', 'ALL', {july_wh} FROM seq WHERE n % 4 = 0""",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement), {"count": accounts})
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


async def statements(engine: Engine) -> tuple[float, int, int, int]:
    async with db.SqlUnitOfWork(engine) as uow:
        tariffs = await uow.tariffs.history()
    reader = db.SqlStatementReader(engine)
    started = time.perf_counter()
    lines = amount = unpaid = 0
    async for _number, account_lines in queries.month_end_statements(
        reader=reader, tariffs=tariffs, month=MONTH
    ):
        for line in account_lines:
            lines += 1
            amount += line.amount.fen
            unpaid += line.status.value == "UNPAID"
    return time.perf_counter() - started, lines, amount, unpaid


def bare_aggregate(engine: Engine) -> tuple[float, int, int]:
    query = sa.text(
        """SELECT a.account_number, ct.tariff_key, ct.charged_fen, SUM(ce.energy_wh),
                  b.balance_fen
           FROM charge_totals ct
           JOIN accounts a ON a.id = ct.account_id
           JOIN balances b ON b.account_id = ct.account_id
           JOIN charge_energy ce ON ce.account_id = ct.account_id AND ce.month = ct.month
                AND ce.tariff_key = ct.tariff_key
           WHERE ct.month = :month
           GROUP BY a.account_number, ct.tariff_key, ct.charged_fen, b.balance_fen
           ORDER BY a.account_number"""
    )
    started = time.perf_counter()
    with engine.connect() as connection:
        rows = connection.execute(query, {"month": str(MONTH)}).all()
    elapsed = time.perf_counter() - started
    return elapsed, len(rows), sum(row[2] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create_engine(f"sqlite:///{Path(tmp) / 'month_end.sqlite3'}")
        db.upgrade(engine)
        generate_s = generate(engine, args.accounts)
        print(f"generated {args.accounts} accounts in {generate_s:.1f} s")
        bare_s, bare_rows, bare_fen = bare_aggregate(engine)
        statement_s, lines, amount, unpaid = asyncio.run(statements(engine))
        engine.dispose()
    if (lines, amount) != (bare_rows, bare_fen):
        raise SystemExit(
            f"statements disagree with SQL: {(lines, amount)} != {(bare_rows, bare_fen)}"
        )
    goal_s = 60.0
    print(
        json.dumps(
            {
                "bench": "month_end",
                "backend": "sqlite",
                "accounts": args.accounts,
                "statement_lines": lines,
                "unpaid_lines": unpaid,
                "statements_s": round(statement_s, 2),
                "bare_aggregate_s": round(bare_s, 2),
                "ratio_vs_bare": round(statement_s / bare_s, 2),
                "goal_s": goal_s,
                "met": statement_s <= goal_s,
            }
        )
    )


if __name__ == "__main__":
    main()
