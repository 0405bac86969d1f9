"""Bench: month-end statements (B3) written to the database, against bare set-based SQL.

For each backend (SQLite always; PostgreSQL when WATTBOOK_TEST_POSTGRES_URL is set, unless
--no-postgres) it builds ``--accounts`` accounts (default 1,000,000; ``--quick``: 20,000) with
a month of data using bulk SQL (INSERT ... SELECT over a number series, never the use cases):
accounts, meter installations, two readings each (the month's first and last instants), the
journal (opening balances, June's and some July charges, top-ups, a few B8 migration credits),
the cached balances and the charge aggregates. One account in ten has its June usage split by a
tariff change on 16 June; one in nine is in arrears; one in four uses power in July.

Then it times, on the same database in the same run:

- the baseline: the least work that could do the job, one transaction of hand-written SQL that
  inserts the month's run row and every account's statement lines with the paid/unpaid status
  (charge lines and credit lines, two INSERT ... SELECT), committed. The charge lines are
  written two ways (joined to grouped sums; per-row sums read by index), each timed twice,
  alternating with the production path; the fastest baseline run and the faster production
  run are kept;
- production: ``billing.month_end.write_month_end`` through the month-end unit of work (the
  run's claim, the set-based write, the run's totals, the domain's check of a sample of 200
  accounts plus up to 200 in arrears, commit).

Both must write the same lines (count, fen, Wh and unpaid lines compared). Absolute rates are
printed; ``ratio_vs_set_based_sql`` is the baseline's seconds over production's (1.0: no
overhead). Goals: <= 15 s for 1,000,000 accounts on SQLite, <= 120 s on PostgreSQL. The last line
of output is one JSON object; ``seconds`` is SQLite's production time.
"""

# The generator SQL interpolates this file's own constants only, never input.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wattbook.adapters import db
from wattbook.application.billing import month_end
from wattbook.application.billing.set_tariff import set_tariff
from wattbook.domain import billing
from wattbook.domain.values import CHARGE_ROUNDING, BillingMonth, Price

MONTH = BillingMonth(year=2025, month=6)
OLD_KEY = "RESIDENTIAL_LIGHTING@2000-01-01"  # the seeded default tariff (0.5283)
NEW_PRICE = Price.parse("0.6000")
NEW_FROM = date(2025, 6, 16)
NEW_KEY = f"RESIDENTIAL_LIGHTING@{NEW_FROM.isoformat()}"
OLD_SCALED = Price.parse("0.5283").scaled
NEW_SCALED = NEW_PRICE.scaled
GOALS_S = {"sqlite": 15.0, "postgresql": 120.0}
POSTGRES_URL_VARIABLE = "WATTBOOK_TEST_POSTGRES_URL"


class Clock:
    """The month-end runs on 10 July 2025, UTC."""

    def now(self) -> datetime:
        return datetime(2025, 7, 10, 1, 0, tzinfo=UTC)


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[Engine]:
    """Yield a migrated, empty database of ``backend``; drop it afterwards."""
    if backend == "sqlite":
        engine = db.create_engine(f"sqlite:///{workdir / 'month_end.sqlite3'}")
        db.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    url = os.environ[POSTGRES_URL_VARIABLE]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = db.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = db.create_engine(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        db.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _dialect_parts(dialect: str) -> tuple[str, str, Any]:
    """Return the number series, the account number expression and a timestamp literal."""
    if dialect == "sqlite":
        seq = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count)"
        number = "printf('0516%08d', n)"

        def at(text: str) -> str:
            return f"'{text}.000000'"

        return seq, number, at
    seq = "WITH seq(n) AS (SELECT generate_series(1::bigint, :count))"
    number = "'0516' || lpad(n::text, 8, '0')"

    def at_pg(text: str) -> str:
        return f"'{text}+00'"

    return seq, number, at_pg


def _fen(wh: str, scaled: int) -> str:
    # Half up to the fen, from the domain's one charge rounding.
    return f"(({wh}) * {scaled} + {CHARGE_ROUNDING.offset}) / {CHARGE_ROUNDING.divisor}"


def generate(engine: Engine, accounts: int) -> float:
    """Fill a month of the campus with set-based SQL; return the seconds it took."""
    started = time.perf_counter()
    asyncio.run(
        set_tariff(
            uow=db.SqlUnitOfWork(engine),
            tariff=billing.flat_tariff(price=NEW_PRICE, effective_from=NEW_FROM),
        )
    )
    seq, number, at = _dialect_parts(engine.dialect.name)
    n_ = accounts
    june_wh = "(30000 + (n * 7919) % 400000)"
    july_wh = "(1000 + (n * 104729) % 20000)"
    old_wh = f"(CASE WHEN n % 10 = 0 THEN {june_wh} / 2 ELSE {june_wh} END)"
    new_wh = f"({june_wh} - {june_wh} / 2)"  # accounts with n % 10 = 0 only
    opening = "(CASE WHEN n % 9 = 0 THEN 100 ELSE 20000 + n % 10000 END)"
    top_up = "(CASE WHEN n % 7 = 0 THEN 5000 ELSE 0 END)"
    credit_wh = "(10000 + n % 5000)"
    credit = "(CASE WHEN n % 1000 = 0 THEN " + _fen(credit_wh, OLD_SCALED) + " ELSE 0 END)"
    charges = (
        f"({_fen(old_wh, OLD_SCALED)}"
        f" + CASE WHEN n % 10 = 0 THEN {_fen(new_wh, NEW_SCALED)} ELSE 0 END"
        f" + CASE WHEN n % 4 = 0 THEN {_fen(july_wh, NEW_SCALED)} ELSE 0 END)"
    )
    month_start, month_end_at = at("2025-05-31 16:00:00"), at("2025-06-30 16:00:00")
    zeros = "0, 0, 0, 0, 0"
    statements = [
        f"""{seq} INSERT INTO accounts (id, account_number, holder, phone, address, status,
            opened_at) SELECT n, {number}, 'holder', NULL, 'addr', 'OPEN',
            {at("2025-01-01 00:00:00")} FROM seq""",
        f"""{seq} INSERT INTO meter_installations (id, account_id, meter_number, bus, installed_at,
            initial_total_wh, initial_sharp_wh, initial_peak_wh, initial_flat_wh,
            initial_valley_wh) SELECT n, n, {number}, 'tcp://10.0.0.1:4001',
            {at("2025-01-01 00:00:00")}, {zeros} FROM seq""",
        f"""{seq} INSERT INTO readings (id, installation_id, meter_time_at, received_at, total_wh,
            sharp_wh, peak_wh, flat_wh, valley_wh, outcome)
            SELECT 2 * n - 1, n, {month_start}, {month_start}, {zeros}, 'ACCEPTED' FROM seq""",
        f"""{seq} INSERT INTO readings (id, installation_id, meter_time_at, received_at, total_wh,
            sharp_wh, peak_wh, flat_wh, valley_wh, outcome)
            SELECT 2 * n, n, {month_end_at}, {month_end_at}, {june_wh}, 0, 0, {june_wh}, 0,
            'ACCEPTED' FROM seq""",
        f"""{seq} INSERT INTO ledger_entries (id, account_id, reference, kind, amount_fen, at,
            note, balance_after_fen) SELECT n, n, 'OPEN:' || n, 'OPENING_BALANCE', {opening},
            {at("2025-01-01 00:00:00")}, '', {opening} FROM seq""",
        f"""{seq} INSERT INTO ledger_entries (id, account_id, reference, kind, amount_fen, at,
            note, balance_after_fen) SELECT {n_} + n, n, 'CHARGE:JUNE:' || n, 'CHARGE',
            -{_fen(old_wh, OLD_SCALED)}, {month_end_at}, '', {opening} - {_fen(old_wh, OLD_SCALED)}
            FROM seq""",
        f"""{seq} INSERT INTO ledger_entries (id, account_id, reference, kind, amount_fen, at,
            note, balance_after_fen) SELECT 2 * {n_} + n, n, 'CHARGE:JUNE2:' || n, 'CHARGE',
            -{_fen(new_wh, NEW_SCALED)}, {month_end_at}, '', 0 FROM seq WHERE n % 10 = 0""",
        f"""{seq} INSERT INTO ledger_entries (id, account_id, reference, kind, amount_fen, at,
            note, balance_after_fen) SELECT 3 * {n_} + n, n, 'CHARGE:JULY:' || n, 'CHARGE',
            -{_fen(july_wh, NEW_SCALED)}, {at("2025-07-05 00:00:00")}, '', 0 FROM seq
            WHERE n % 4 = 0""",
        f"""{seq} INSERT INTO ledger_entries (id, account_id, reference, kind, amount_fen, at,
            note, balance_after_fen) SELECT 4 * {n_} + n, n, 'TOPUP:' || n, 'TOP_UP', {top_up},
            {at("2025-06-20 00:00:00")}, '', 0 FROM seq WHERE n % 7 = 0""",
        f"""{seq} INSERT INTO ledger_entries (id, account_id, reference, kind, amount_fen, at,
            note, balance_after_fen) SELECT 5 * {n_} + n, n, 'MIGRATION:' || n,
            'MIGRATION_CREDIT', {credit}, {at("2025-06-10 00:00:00")}, '', 0 FROM seq
            WHERE n % 1000 = 0""",
        f"""{seq} INSERT INTO migration_credits (entry_id, account_id, energy_wh, price, at)
            SELECT 5 * {n_} + n, n, {credit_wh}, {OLD_SCALED}, {at("2025-06-10 00:00:00")}
            FROM seq WHERE n % 1000 = 0""",
        f"""{seq} INSERT INTO balances (account_id, balance_fen, entry_count, updated_at)
            SELECT n, {opening} + {top_up} + {credit} - {charges}, 1, {at("2025-07-05 00:00:00")}
            FROM seq""",
        f"""{seq} INSERT INTO charge_totals (account_id, month, tariff_key, charged_fen)
            SELECT n, '2025-06', '{OLD_KEY}', {_fen(old_wh, OLD_SCALED)} FROM seq""",
        f"""{seq} INSERT INTO charge_energy (account_id, month, tariff_key, component, energy_wh)
            SELECT n, '2025-06', '{OLD_KEY}', 'ALL', {old_wh} FROM seq""",
        f"""{seq} INSERT INTO charge_totals (account_id, month, tariff_key, charged_fen)
            SELECT n, '2025-06', '{NEW_KEY}', {_fen(new_wh, NEW_SCALED)} FROM seq
            WHERE n % 10 = 0""",
        f"""{seq} INSERT INTO charge_energy (account_id, month, tariff_key, component, energy_wh)
            SELECT n, '2025-06', '{NEW_KEY}', 'ALL', {new_wh} FROM seq WHERE n % 10 = 0""",
        f"""{seq} INSERT INTO charge_totals (account_id, month, tariff_key, charged_fen)
            SELECT n, '2025-07', '{NEW_KEY}', {_fen(july_wh, NEW_SCALED)} FROM seq
            WHERE n % 4 = 0""",
        f"""{seq} INSERT INTO charge_energy (account_id, month, tariff_key, component, energy_wh)
            SELECT n, '2025-07', '{NEW_KEY}', 'ALL', {july_wh} FROM seq WHERE n % 4 = 0""",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement), {"count": accounts})
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


# The same lines two ways: joined to grouped sums, and with per-row sums read by index. Which
# is faster depends on the engine (and its load); the baseline is the faster of the two.
BASELINE_JOIN = f"""
INSERT INTO statement_lines (month, account_id, line_key, item, price, energy_wh, amount_fen,
                             status)
SELECT '{MONTH}', ct.account_id, ct.tariff_key, 'RESIDENTIAL_LIGHTING',
       CASE ct.tariff_key WHEN '{OLD_KEY}' THEN {OLD_SCALED} WHEN '{NEW_KEY}' THEN {NEW_SCALED}
       END,
       e.wh, ct.charged_fen,
       CASE WHEN b.balance_fen + COALESCE(l.fen, 0) >= 0 THEN 'PAID' ELSE 'UNPAID' END
FROM charge_totals ct
JOIN balances b ON b.account_id = ct.account_id
JOIN (SELECT account_id, tariff_key, SUM(energy_wh) AS wh FROM charge_energy
      WHERE month = '{MONTH}' GROUP BY account_id, tariff_key) e
  ON e.account_id = ct.account_id AND e.tariff_key = ct.tariff_key
LEFT JOIN (SELECT account_id, SUM(charged_fen) AS fen FROM charge_totals
           WHERE month > '{MONTH}' GROUP BY account_id) l ON l.account_id = ct.account_id
WHERE ct.month = '{MONTH}'
"""

BASELINE_CORRELATED = f"""
INSERT INTO statement_lines (month, account_id, line_key, item, price, energy_wh, amount_fen,
                             status)
SELECT '{MONTH}', ct.account_id, ct.tariff_key, 'RESIDENTIAL_LIGHTING',
       CASE ct.tariff_key WHEN '{OLD_KEY}' THEN {OLD_SCALED} WHEN '{NEW_KEY}' THEN {NEW_SCALED}
       END,
       (SELECT SUM(e.energy_wh) FROM charge_energy e WHERE e.account_id = ct.account_id
        AND e.month = ct.month AND e.tariff_key = ct.tariff_key),
       ct.charged_fen,
       CASE WHEN b.balance_fen + COALESCE((SELECT SUM(l.charged_fen) FROM charge_totals l
            WHERE l.account_id = ct.account_id AND l.month > ct.month), 0) >= 0
            THEN 'PAID' ELSE 'UNPAID' END
FROM charge_totals ct
JOIN balances b ON b.account_id = ct.account_id
WHERE ct.month = '{MONTH}'
"""

BASELINES = {"join": BASELINE_JOIN, "correlated": BASELINE_CORRELATED}

BASELINE_CREDITS = f"""
INSERT INTO statement_lines (month, account_id, line_key, item, price, energy_wh, amount_fen,
                             status)
SELECT '{MONTH}', m.account_id, 'CREDIT:' || m.entry_id, 'RESIDENTIAL_LIGHTING', m.price,
       -m.energy_wh, -le.amount_fen, 'PAID'
FROM migration_credits m JOIN ledger_entries le ON le.id = m.entry_id
WHERE m.at >= :start_at AND m.at < :end_at
"""


def _checksum(connection: Connection) -> tuple[int, ...]:
    row = connection.execute(
        sa.text(
            "SELECT COUNT(*), COUNT(DISTINCT account_id), SUM(amount_fen), SUM(energy_wh),"
            " SUM(CASE WHEN status = 'UNPAID' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN price IS NULL THEN 1 ELSE 0 END) FROM statement_lines"
            " WHERE month = :month"
        ),
        {"month": str(MONTH)},
    ).one()
    return tuple(int(value or 0) for value in row)


def _clear(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM statement_lines"))
        connection.execute(sa.text("DELETE FROM month_end_runs"))
    # Each timed run starts from the same state: the deletion checkpointed (SQLite) or
    # vacuumed (PostgreSQL), so no run pays for the one before it.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("VACUUM ANALYZE statement_lines")
        else:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def baseline(engine: Engine, lines_sql: str) -> tuple[float, tuple[int, ...]]:
    """Write the month's lines with bare SQL, committed; return seconds and checksum."""
    t = db.metadata.tables
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            t["month_end_runs"].insert(),
            {
                "month": str(MONTH),
                "written_at": Clock().now(),
                "account_count": 0,
                "line_count": 0,
                "amount_fen": 0,
                "unpaid_line_count": 0,
            },
        )
        connection.execute(sa.text(lines_sql))
        credits = sa.text(BASELINE_CREDITS).bindparams(
            sa.bindparam("start_at", MONTH.start_at, type_=db.UtcDateTime),
            sa.bindparam("end_at", MONTH.end_at, type_=db.UtcDateTime),
        )
        connection.execute(credits)
    elapsed = time.perf_counter() - started
    with engine.connect() as connection:
        checksum = _checksum(connection)
    _clear(engine)
    return elapsed, checksum


def production(engine: Engine) -> tuple[float, month_end.MonthEndOutcome, tuple[int, ...]]:
    started = time.perf_counter()
    outcome = asyncio.run(
        month_end.write_month_end(
            uow_factory=db.month_end_factory(engine), clock=Clock(), month=MONTH, seed=15
        )
    )
    elapsed = time.perf_counter() - started
    with engine.connect() as connection:
        checksum = _checksum(connection)
    return elapsed, outcome, checksum


def run_backend(backend: str, accounts: int, workdir: Path) -> dict[str, Any]:
    with database(backend, workdir) as engine:
        generate_s = generate(engine, accounts)
        print(
            f"[{backend}] generated {accounts} accounts with a month of data in {generate_s:.1f} s"
        )
        # Each path twice, alternating, on the same database; the faster run of each is kept.
        baseline_runs: dict[str, list[float]] = {name: [] for name in BASELINES}
        production_runs: list[float] = []
        checksums = set()
        for round_ in (1, 2):
            for name, lines_sql in BASELINES.items():
                seconds, expected = baseline(engine, lines_sql)
                baseline_runs[name].append(seconds)
                checksums.add(expected)
                print(
                    f"[{backend}] round {round_}: baseline (bare SQL, {name}) {seconds:.2f} s, "
                    f"{expected[0] / seconds:,.0f} lines/s"
                )
            seconds, outcome, written = production(engine)
            production_runs.append(seconds)
            checksums.add(written)
            print(
                f"[{backend}] round {round_}: production {seconds:.2f} s, "
                f"{written[0] / seconds:,.0f} lines/s, {outcome.run.accounts / seconds:,.0f} "
                f"accounts/s; the domain checked {outcome.checked} accounts"
            )
            if round_ == 1:
                _clear(engine)
        again = asyncio.run(
            month_end.write_month_end(
                uow_factory=db.month_end_factory(engine), clock=Clock(), month=MONTH
            )
        )
        with engine.connect() as connection:
            after_again = _checksum(connection)
        if again.written or after_again != written:
            raise SystemExit(f"[{backend}] a second month-end wrote the month again")
    if len(checksums) != 1:
        raise SystemExit(f"[{backend}] production and bare SQL wrote different lines: {checksums}")
    baseline_s = min(min(runs) for runs in baseline_runs.values())
    production_s = min(production_runs)
    goal_s = GOALS_S[backend]
    return {
        "accounts": accounts,
        "statement_lines": written[0],
        "unpaid_lines": written[4],
        "lines_without_price": written[5],
        "seconds": round(production_s, 2),
        "baseline_s": round(baseline_s, 2),
        "runs_s": {
            **{
                f"baseline_{name}": [round(x, 2) for x in runs]
                for name, runs in baseline_runs.items()
            },
            "production": [round(x, 2) for x in production_runs],
        },
        "ratio_vs_set_based_sql": round(baseline_s / production_s, 3),
        "lines_per_s": round(written[0] / production_s),
        "baseline_lines_per_s": round(written[0] / baseline_s),
        "checked_accounts": outcome.checked,
        "generate_s": round(generate_s, 1),
        "goal_s": goal_s,
        "met": production_s <= goal_s if accounts >= 1_000_000 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="20,000 accounts, a smoke run")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    accounts = args.accounts or (20_000 if args.quick else 1_000_000)
    backends = ["sqlite"]
    if os.environ.get(POSTGRES_URL_VARIABLE) and not args.no_postgres:
        backends.append("postgresql")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            results[backend] = run_backend(backend, accounts, Path(tmp))
    print(
        json.dumps(
            {
                "bench": "month_end",
                "accounts": accounts,
                "seconds": results["sqlite"]["seconds"],
                "sqlite": results["sqlite"],
                "postgresql": results.get("postgresql"),
                "machine": "shared, loaded (2 cores, several engineers)",
            }
        )
    )


if __name__ == "__main__":
    main()
