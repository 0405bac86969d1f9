"""Bench: readings stored, charged and decided in batches, against the bare insert of the readings.

For each engine (SQLite always; PostgreSQL when WATTBOOK_TEST_POSTGRES_URL is set) and each
campus size (``--sizes``, default 20,000 and 1,000,000 accounts) it builds one migrated database
with that many accounts, each with a balance, a rule state, an installed meter and its baseline,
by bulk SQL (``INSERT ... SELECT`` over a number series, not the use cases one by one). The
database is built once per engine and size and used by both sides of the comparison.

It then times ``record_readings`` over ``--batches`` batches of ``--batch`` readings of
distinct meters: by default each batch is a block of consecutive meters at a random place in
the campus (a sweep of one building's buses), ``--spread random`` picks every meter at random
over the whole campus (no locality; a harsher test). In the same run and the same database,
right after each ingest batch, it times the baseline on the same readings:

- **Baseline: a raw-driver ``executemany`` of one row per reading** into the migrated
  ``readings`` table (same indexes, unique key and foreign key), one transaction per batch.
  SQLite: the ``sqlite3`` module on its own connection with the engine's pragmas
  (``BEGIN IMMEDIATE`` ... ``COMMIT``). PostgreSQL: psycopg 3's ``executemany`` (which
  pipelines), on its own connection. The baseline's readings are one second later than the
  ingest's, so their keys do not collide; values are converted before the clock starts.
- PostgreSQL also times ``COPY`` of the same rows, printed as ``ratio_vs_copy`` (not a goal).
- SQLite also times ``BareWrites``: every row the ingest must write per reading (reading,
  baseline, journal entry, balance, charge total and energy, three usage rows), bare, by
  primary key, through the driver. ``ratio_vs_bare_writes`` (not a goal) says how much of the
  ingest's time is those rows themselves: near 1, the rest of the use case costs little, and
  the distance to ``ratio_vs_bare_readings`` is the rows the ingest writes beside the reading.

The sizes' batches are interleaved (batch i of every size before batch i + 1 of any), so that
on a shared machine both sizes meet the same load and ``growth`` compares sizes, not moments.

``ratio_vs_bare_readings`` = baseline time / ingest time at the smallest size (1.0 would mean
the whole use case costs no more than inserting its readings); ``ratio_vs_bare_readings_at``
gives it for each size. ``growth`` = ingest time per batch at the largest size / at the
smallest. Two warm-up batches per size are run and not timed; statistics are gathered after
them, as autovacuum would on a live database. Absolute rates (readings/s,
ms per batch) are printed beside every ratio. The machine may be shared: compare the ratios,
which are measured in the same run. ``--quick`` runs 2,000 and 20,000 accounts with fewer
batches. The last line of output is one JSON object.

One account in ten starts near the low-balance threshold, so the prepaid rules act on some
accounts of every batch, as they would on a live campus.
"""

# ruff: noqa: S608 - the bench builds SQL from its own constants only, never from input

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.application.metering.record_readings import record_readings
from wattbook.domain import metering
from wattbook.domain.values import MeterNumber, RegisterSet, local_date

START = datetime(2025, 6, 10, 0, 0, tzinfo=UTC)  # a Tuesday: cuts allowed
OPENED = START - timedelta(days=1)
INTERVAL = timedelta(minutes=15)
WARM_UP = 2
REGISTERS = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")


class BenchClock:
    """The time the readings say it is: each batch is "received" just after it was read."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@contextmanager
def database(backend: str, workdir: Path, name: str) -> Iterator[tuple[Engine, Any]]:
    """Yield a migrated, empty database of ``backend`` and how to reach it with the driver."""
    if backend == "sqlite":
        path = workdir / (name + ".sqlite3")
        engine = db.create_engine(f"sqlite:///{path}")
        db.upgrade(engine)
        try:
            yield engine, path
        finally:
            engine.dispose()
        return
    url = os.environ["WATTBOOK_TEST_POSTGRES_URL"]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = db.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = db.create_engine(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        db.upgrade(engine)
        yield engine, (url, schema)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def meter_number(index: int) -> str:
    return f"0516{index:08d}"


def set_up_accounts(engine: Engine, accounts: int) -> float:
    """Create accounts, openings, balances, rule states, installations and baselines in bulk.

    One ``INSERT ... SELECT`` per table over the numbers 0..accounts-1 (PostgreSQL's
    generate_series; on SQLite a temporary table filled by a recursive CTE). Account ``i`` has
    id ``i + 1``, number ``meter_number(i)`` and a meter of the same number. Returns seconds.
    """
    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    opened = sa.bindparam("opened", OPENED, type_=db.UtcDateTime)
    if postgres:
        numbers = "generate_series(0, :last) AS n(i)"
        number = "'0516' || lpad(i::text, 8, '0')"
        address = "'丙6-1-' || i::text"
        false = "false"
    else:
        numbers = "bench_numbers AS n"
        number = "printf('0516%08d', i)"
        address = "'丙6-1-' || i"
        false = "0"
    balance = "CASE WHEN i % 10 = 0 THEN 1100 ELSE 100000 END"
    zero = ", ".join(REGISTERS)
    zeros = ", ".join("0" for _ in REGISTERS)
    statements = [
        "INSERT INTO accounts (id, account_number, holder, phone, address, status, opened_at)"
        f" SELECT i + 1, {number}, '住户', '13800138000', {address}, 'OPEN', :opened"
        f" FROM {numbers}",
        "INSERT INTO ledger_entries (account_id, reference, kind, amount_fen, at, note,"
        " balance_after_fen)"
        f" SELECT i + 1, 'OPENING:' || {number}, 'OPENING_BALANCE', {balance}, :opened, '',"
        f" {balance} FROM {numbers} ORDER BY i",
        "INSERT INTO balances (account_id, balance_fen, entry_count, updated_at)"
        f" SELECT i + 1, {balance}, 1, :opened FROM {numbers}",
        "INSERT INTO prepaid_states (account_id, low_balance_notified, warning_cut_done,"
        f" tripped_for_arrears, relay) SELECT i + 1, {false}, {false}, {false}, 'CLOSED'"
        f" FROM {numbers}",
        "INSERT INTO meter_installations (id, account_id, meter_number, bus, installed_at,"
        f" {', '.join('initial_' + r for r in REGISTERS)})"
        f" SELECT i + 1, i + 1, {number}, 'tcp://10.0.0.' || (i % 200) || '\\:7001', :opened,"
        f" {zeros} FROM {numbers}",
        f"INSERT INTO register_baselines (installation_id, at, source, {zero})"
        f" SELECT i + 1, :opened, 'INSTALLATION', {zeros} FROM {numbers}",
    ]
    with engine.begin() as connection:
        if not postgres:
            connection.exec_driver_sql(
                "CREATE TEMPORARY TABLE bench_numbers AS WITH RECURSIVE s(i) AS"
                f" (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {accounts - 1})"
                " SELECT i FROM s"
            )
        for statement in statements:
            text = sa.text(statement)
            if ":opened" in statement:
                text = text.bindparams(opened)
            connection.execute(text, {"last": accounts - 1} if postgres else {})
        if postgres:
            for table in ("accounts", "meter_installations", "ledger_entries"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"
                )
        else:
            connection.exec_driver_sql("DROP TABLE bench_numbers")
    # Statistics, as a live database has them (PostgreSQL's autovacuum gathers them within a
    # minute of a bulk load; without them the planner takes the freshly filled tables for empty).
    analyse(engine)
    return time.perf_counter() - started


def analyse(engine: Engine) -> None:
    """Gather the planner's statistics (VACUUM ANALYZE on PostgreSQL, ANALYZE on SQLite)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("VACUUM ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


def make_batches(
    accounts: int, count: int, size: int, rng: random.Random, spread: str = "block"
) -> list[list[metering.Reading]]:
    """Return ``count`` batches of ``size`` readings of distinct meters.

    ``block``: each batch is ``size`` consecutive meters from a random place in the campus (a
    head-end's sweep of the buses of one building, whose meters were installed together);
    ``random``: meters picked at random over the whole campus (no locality at all).

    A meter read again later in the run reads on from its previous reading (15 minutes
    later, 0.1-0.5 kWh more), so every reading is a new, plausible one.
    """
    totals: dict[int, int] = {}
    rounds: dict[int, int] = {}
    batches: list[list[metering.Reading]] = []
    for _ in range(count):
        batch = []
        if spread == "random":
            chosen = rng.sample(range(accounts), size)
        else:
            first = rng.randrange(0, accounts - size + 1)
            chosen = list(range(first, first + size))
        for i in chosen:
            round_ = rounds.get(i, 0) + 1
            rounds[i] = round_
            total = totals.get(i, 0) + 100 + (i * 37 + round_ * 11) % 400
            totals[i] = total
            valley = total // 3
            at = START + INTERVAL * round_
            batch.append(
                metering.Reading(
                    meter_number=MeterNumber(value=meter_number(i)),
                    registers=RegisterSet(
                        total_wh=total,
                        sharp_wh=0,
                        peak_wh=0,
                        flat_wh=total - valley,
                        valley_wh=valley,
                    ),
                    meter_time_at=at,
                    received_at=at + timedelta(seconds=30),
                )
            )
        batches.append(batch)
    return batches


class BareReadings:
    """The baseline: the batch's readings, one row each, through the driver alone."""

    COLUMNS = ("installation_id", "meter_time_at", "received_at", *REGISTERS, "outcome")

    def __init__(self, engine: Engine, where: Any) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        names = ", ".join(self.COLUMNS)
        if self.postgres:
            import psycopg

            url, schema = where
            raw_url = url.replace("postgresql+psycopg://", "postgresql://")
            self.connection: Any = psycopg.connect(raw_url, options=f"-c search_path={schema}")
            self.insert = f"INSERT INTO readings ({names}) VALUES ({', '.join(['%s'] * 9)})"
            self.copy = f"COPY readings ({names}) FROM STDIN"
        else:
            self.connection = sqlite3.connect(where, isolation_level=None)
            with engine.connect() as connection:
                synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar_one()
            # The engine's own pragmas (WAL is the file's, kept from the migration).
            self.connection.execute("PRAGMA foreign_keys=ON")
            self.connection.execute(f"PRAGMA synchronous={int(synchronous)}")
            self.connection.execute("PRAGMA busy_timeout=10000")
            self.insert = f"INSERT INTO readings ({names}) VALUES ({', '.join(['?'] * 9)})"

    def rows(self, batch: list[metering.Reading], shift: timedelta) -> list[tuple[Any, ...]]:
        """The batch's rows as the driver takes them (converted before timing)."""
        rows = []
        for r in batch:
            at, received = r.meter_time_at + shift, r.received_at + shift
            if not self.postgres:
                at_value: Any = at.strftime("%Y-%m-%d %H:%M:%S.%f")
                received_value: Any = received.strftime("%Y-%m-%d %H:%M:%S.%f")
            else:
                at_value, received_value = at, received
            rows.append(
                (
                    int(r.meter_number.value[4:]) + 1,
                    at_value,
                    received_value,
                    *r.registers.as_tuple(),
                    "ACCEPTED",
                )
            )
        return rows

    def executemany(self, rows: list[tuple[Any, ...]]) -> float:
        started = time.perf_counter()
        if self.postgres:
            with self.connection.cursor() as cursor:
                cursor.executemany(self.insert, rows)
            self.connection.commit()
        else:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany(self.insert, rows)
            self.connection.execute("COMMIT")
        return time.perf_counter() - started

    def copy_rows(self, rows: list[tuple[Any, ...]]) -> float:
        started = time.perf_counter()
        with self.connection.cursor() as cursor, cursor.copy(self.copy) as copy:
            for row in rows:
                copy.write_row(row)
        self.connection.commit()
        return time.perf_counter() - started

    def close(self) -> None:
        self.connection.close()


class BareWrites:
    """A second, wider baseline (SQLite): every row the ingest must write per reading, bare.

    Not the issue's baseline (that is ``BareReadings``): it answers how much of the ingest's
    time is the rows themselves. Per reading, through the ``sqlite3`` driver's ``executemany``
    in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` with the engine's pragmas, the statements the
    ingest's writes come down to, by primary key, with nothing to classify or price: the reading
    (one second after the baseline's), its baseline, a journal entry with a unique reference, the
    balance, the month's charge total and its energy, and the day's, month's and year's usage.
    The values written leave the campus as the ingest left it (the same baseline, the same
    balance, totals and usage plus zero), except the journal entries, which are extra rows of a
    throwaway database, kind ADJUSTMENT, one fen each.
    """

    def __init__(self, connection: sqlite3.Connection, tariff_key: str) -> None:
        self.connection = connection
        self.tariff_key = tariff_key
        self.batches = 0
        registers = ", ".join(REGISTERS)
        marks = ", ".join("?" for _ in REGISTERS)
        self.readings = (
            f"INSERT INTO readings (installation_id, meter_time_at, received_at, {registers},"
            f" outcome) VALUES (?, ?, ?, {marks}, 'ACCEPTED')"
        )
        self.baseline = (
            "UPDATE register_baselines SET at = ?, source = 'READING', "
            + ", ".join(f"{name} = ?" for name in REGISTERS)
            + " WHERE installation_id = ?"
        )
        self.entry = (
            "INSERT INTO ledger_entries (account_id, reference, kind, amount_fen, at, note,"
            " balance_after_fen) VALUES (?, ?, 'ADJUSTMENT', -1, ?, '', 0)"
        )
        self.balance = (
            "UPDATE balances SET balance_fen = balance_fen, entry_count = entry_count,"
            " updated_at = ? WHERE account_id = ?"
        )
        self.total = (
            "INSERT INTO charge_totals (account_id, month, tariff_key, charged_fen)"
            " VALUES (?, ?, ?, 0) ON CONFLICT (account_id, month, tariff_key)"
            " DO UPDATE SET charged_fen = charge_totals.charged_fen"
        )
        self.energy = (
            "INSERT INTO charge_energy (account_id, month, tariff_key, component, energy_wh)"
            " VALUES (?, ?, ?, 'ALL', 0) ON CONFLICT (account_id, month, tariff_key, component)"
            " DO UPDATE SET energy_wh = charge_energy.energy_wh"
        )
        self.usage = [
            f"INSERT INTO {table} (account_id, {bucket}, {registers}) VALUES (?, ?, {marks})"
            f" ON CONFLICT (account_id, {bucket}) DO UPDATE SET "
            + ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in REGISTERS)
            for table, bucket in (
                ("usage_daily", "day"),
                ("usage_monthly", "month"),
                ("usage_yearly", "year"),
            )
        ]

    def run(self, batch: list[metering.Reading]) -> float:
        """Write the batch's rows as above; return the seconds (values converted first)."""
        self.batches += 1
        text = "%Y-%m-%d %H:%M:%S.%f"
        readings, baselines, entries, balances, keys, usage = [], [], [], [], [], []
        zeros = tuple(0 for _ in REGISTERS)
        for seq, r in enumerate(batch):
            number = int(r.meter_number.value[4:]) + 1
            at = r.meter_time_at.strftime(text)
            shifted = (r.meter_time_at + timedelta(seconds=3)).strftime(text)
            received = (r.received_at + timedelta(seconds=3)).strftime(text)
            day = local_date(r.meter_time_at - timedelta(microseconds=1))
            registers = r.registers.as_tuple()
            readings.append((number, shifted, received, *registers))
            baselines.append((at, *registers, number))
            entries.append((number, f"BARE:{self.batches}:{seq}", at))
            balances.append((at, number))
            keys.append((number, f"{day.year:04d}-{day.month:02d}", self.tariff_key))
            usage.append(
                (
                    (number, day.isoformat(), *zeros),
                    (number, f"{day.year:04d}-{day.month:02d}", *zeros),
                    (number, day.year, *zeros),
                )
            )
        started = time.perf_counter()
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(self.readings, readings)
        connection.executemany(self.baseline, baselines)
        connection.executemany(self.entry, entries)
        connection.executemany(self.balance, balances)
        connection.executemany(self.total, keys)
        connection.executemany(self.energy, keys)
        for index, statement in enumerate(self.usage):
            connection.executemany(statement, [rows[index] for rows in usage])
        connection.execute("COMMIT")
        return time.perf_counter() - started


async def ingest_batch(factory: Any, clock: BenchClock, batch: list[metering.Reading]) -> float:
    clock.at = max(clock.at, batch[-1].received_at)
    started = time.perf_counter()
    await record_readings(uow=factory(), clock=clock, readings=batch)
    return time.perf_counter() - started


class Campus:
    """One size's database, its batches, and what was timed on it."""

    def __init__(self, accounts: int, args: argparse.Namespace) -> None:
        self.accounts = accounts
        rng = random.Random(accounts)
        self.batches = make_batches(accounts, WARM_UP + args.batches, args.batch, rng, args.spread)
        self.clock = BenchClock(START)
        self.ingest_s = self.bare_s = self.copy_s = self.writes_s = 0.0
        self.set_up_s = 0.0

    def open(self, engine: Engine, where: Any) -> None:
        self.engine = engine
        self.set_up_s = set_up_accounts(engine, self.accounts)
        self.bare = BareReadings(engine, where)
        self.writes: BareWrites | None = None
        if not self.bare.postgres:
            with engine.connect() as connection:
                key = connection.exec_driver_sql('SELECT "key" FROM tariffs').scalar_one()
            self.writes = BareWrites(self.bare.connection, key)
        self.factory = db.unit_of_work_factory(engine)

    async def step(self, index: int) -> None:
        """Run batch ``index``: the ingest, then the baseline(s) on the same readings."""
        batch = self.batches[index]
        took = await ingest_batch(self.factory, self.clock, batch)
        bare_took = self.bare.executemany(self.bare.rows(batch, timedelta(seconds=1)))
        copy_took = writes_took = 0.0
        if self.writes is not None:
            writes_took = self.writes.run(batch)
        if self.bare.postgres:
            copy_took = self.bare.copy_rows(self.bare.rows(batch, timedelta(seconds=2)))
        if index == WARM_UP - 1:
            # Statistics of the tables the warm-up started filling (charge totals, usage,
            # readings), as autovacuum gathers them on a live database: the set-up's ANALYZE
            # saw them empty, and a planner that takes a table for empty scans it in a loop.
            analyse(self.engine)
        if index >= WARM_UP:
            self.ingest_s += took
            self.bare_s += bare_took
            self.copy_s += copy_took
            self.writes_s += writes_took

    def result(self, args: argparse.Namespace) -> dict[str, Any]:
        self.bare.close()
        with self.engine.connect() as connection:
            charges = connection.exec_driver_sql(
                "SELECT COUNT(*) FROM ledger_entries WHERE kind = 'CHARGE'"
            ).scalar_one()
            commands = connection.exec_driver_sql(
                "SELECT COUNT(*) FROM relay_commands"
            ).scalar_one()
        readings = args.batches * args.batch
        result: dict[str, Any] = {
            "accounts": self.accounts,
            "set_up_s": round(self.set_up_s, 1),
            "readings_timed": readings,
            "ingest_ms_per_batch": round(self.ingest_s / args.batches * 1000, 2),
            "ingest_readings_per_s": round(readings / self.ingest_s),
            "bare_ms_per_batch": round(self.bare_s / args.batches * 1000, 2),
            "bare_readings_per_s": round(readings / self.bare_s),
            "ratio_vs_bare_readings": round(self.bare_s / self.ingest_s, 3),
            "charge_entries": int(charges),
            "relay_commands": int(commands),
        }
        if self.writes_s:
            result["bare_writes_ms_per_batch"] = round(self.writes_s / args.batches * 1000, 2)
            result["ratio_vs_bare_writes"] = round(self.writes_s / self.ingest_s, 3)
        if self.copy_s:
            result["copy_ms_per_batch"] = round(self.copy_s / args.batches * 1000, 2)
            result["copy_readings_per_s"] = round(readings / self.copy_s)
            result["ratio_vs_copy"] = round(self.copy_s / self.ingest_s, 3)
        return result


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Build every size's database, then run their batches in turn, interleaved.

    Batch i of every size runs before batch i + 1 of any: on a shared machine the sizes then
    meet the same load, so that ``growth`` compares sizes, not moments.
    """
    campuses = [Campus(accounts, args) for accounts in args.sizes]
    with contextlib.ExitStack() as stack:
        for campus in campuses:
            campus.open(*stack.enter_context(database(backend, workdir, f"c{campus.accounts}")))

        async def run() -> None:
            for index in range(WARM_UP + args.batches):
                for campus in campuses:
                    await campus.step(index)

        asyncio.run(run())
        by_size = {campus.accounts: campus.result(args) for campus in campuses}
    for accounts, found in by_size.items():
        print(f"{backend} {accounts}: {json.dumps(found)}", flush=True)
    small, large = by_size[min(by_size)], by_size[max(by_size)]
    summary: dict[str, Any] = {
        "ratio_vs_bare_readings": small["ratio_vs_bare_readings"],
        "growth": round(large["ingest_ms_per_batch"] / small["ingest_ms_per_batch"], 3),
        "bare_growth": round(large["bare_ms_per_batch"] / small["bare_ms_per_batch"], 3),
        "baseline": "psycopg executemany" if backend == "postgresql" else "sqlite3 executemany",
        "ratio_vs_bare_readings_at": {
            str(size): found["ratio_vs_bare_readings"] for size, found in by_size.items()
        },
        "ingest_ms_per_batch_at": {
            str(size): found["ingest_ms_per_batch"] for size, found in by_size.items()
        },
        "ingest_readings_per_s_at": {
            str(size): found["ingest_readings_per_s"] for size, found in by_size.items()
        },
    }
    if "ratio_vs_bare_writes" in small:
        summary["ratio_vs_bare_writes_at"] = {
            str(size): found["ratio_vs_bare_writes"] for size, found in by_size.items()
        }
    if "ratio_vs_copy" in small:
        summary["ratio_vs_copy_at"] = {
            str(size): found["ratio_vs_copy"] for size, found in by_size.items()
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--batches", type=int, default=40, help="timed batches per size")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 accounts")
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--spread", choices=("block", "random"), default="block")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.batches = [2_000, 20_000], 10
    backends = args.backends or ["sqlite"]
    if args.backends is None and os.environ.get("WATTBOOK_TEST_POSTGRES_URL"):
        backends.append("postgresql")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            results[backend] = run_backend(backend, args, Path(tmp))
            print(f"{backend}: {json.dumps(results[backend])}", flush=True)
    goals = {
        "sqlite": {"ratio_vs_bare_readings": 0.3, "growth": 1.5},
        "postgresql": {"growth": 1.5},
    }
    met = all(
        (results[b]["ratio_vs_bare_readings"] >= goal.get("ratio_vs_bare_readings", 0))
        and results[b]["growth"] <= goal["growth"]
        for b, goal in goals.items()
        if b in results
    )
    print(
        json.dumps(
            {
                "bench": "ingest",
                "sizes": args.sizes,
                "batch": args.batch,
                "batches_timed": args.batches,
                "spread": args.spread,
                "goals": goals,
                "met": met,
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
