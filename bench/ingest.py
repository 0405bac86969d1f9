"""Bench: readings stored, charged and decided in batches, against bare inserts of the same rows.

For each backend (SQLite always; PostgreSQL when WATTBOOK_TEST_POSTGRES_URL is set) it sets up
``--meters`` accounts with meters, then times ``record_readings`` over ``--rounds`` readings per
meter in batches of ``--batch``. In the same run it times bare inserts into a fresh database:
(a) the same reading rows into ``readings``, and (b) every row the ingest left in every table it
wrote, both in the same batches with one transaction per batch. The ratio is bare time / ingest
time: 1.0 means the full use case costs no more than writing its rows. The goal is on (b). The
last line of output is one JSON object.

Fairness of baseline (b), reviewed for issue 3:

- Same engine set-up (SQLite WAL, synchronous=NORMAL, foreign keys on; PostgreSQL via psycopg
  3), a freshly migrated database with the same accounts, balances, installations and baselines,
  so the same indexes, unique keys and foreign keys are checked on every insert. Set-up ends
  with ANALYZE on every database, as a live database has statistics (PostgreSQL's autovacuum
  gathers them within a minute of a bulk load; without them its planner takes the freshly filled
  tables for empty and the first batches' joins take seconds).
- Exactly the rows the ingest left in the tables it inserts into (readings, alarms, ledger
  entries without the openings set-up made, charge totals and energy, daily/monthly/yearly usage,
  SMS and relay outbox), ids included, cut into as many transactions as the ingest used batches.
- Baseline (b) writes through SQLAlchemy Core ``insert()`` with a list of parameter sets
  (executemany), through the column types: the mechanism the per-reading path writes with.
  The set-based ingest (ADR 9) writes its rows with set-based SQL inside the database and
  stages each batch's readings through the driver's executemany, so it does not use Core's
  per-row path. To show what that is worth, (c) inserts the same rows as (b) through the
  driver's executemany with the values converted beforehand, outside the timing: a lower bound
  on writing the rows from Python. ``ratio_vs_bare_all_rows_driver`` is reported, not the goal.
- Not counted in the baselines, on purpose: what the use case must do beyond inserting what it
  leaves. It updates each meter's baseline, each charged account's balance (and prepaid state
  when it changes) and upserts charge totals and usage aggregates once per batch, so an
  aggregate row left once was written ``--rounds`` times; it also reads positions, totals and
  balances, and stages the batch in temporary tables. Counting those as baseline rows would
  flatten the ratio in the ingest's favour. ``row_writes`` reports how many rows the ingest's
  statements inserted or updated (temporary tables included), beside ``rows_written`` (the rows
  it left, which the baselines insert).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
from wattbook.domain.values import MeterNumber, RegisterSet

START = datetime(2025, 6, 10, 0, 0, tzinfo=UTC)  # a Tuesday: cuts allowed
INTERVAL = timedelta(minutes=15)
# Tables the ingest writes; copied as "every row it left" for baseline (b).
WRITTEN = (
    "readings",
    "alarms",
    "ledger_entries",
    "charge_totals",
    "charge_energy",
    "usage_daily",
    "usage_monthly",
    "usage_yearly",
    "sms_outbox",
    "relay_commands",
)


class BenchClock:
    """The time the readings say it is: each batch is "received" just after it was read."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@contextmanager
def database(backend: str, workdir: Path, name: str) -> Iterator[Engine]:
    """Yield a migrated, empty database of ``backend``; drop it afterwards."""
    if backend == "sqlite":
        engine = db.create_engine(f"sqlite:///{workdir / (name + '.sqlite3')}")
        db.upgrade(engine)
        try:
            yield engine
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
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def meter_number(index: int) -> str:
    return f"0516{index:08d}"


def set_up_accounts(engine: Engine, meters: int) -> None:
    """Create accounts, balances, rule states, installations and baselines with bulk SQL."""
    t = db.metadata.tables
    opened = START - timedelta(days=1)
    # One account in ten starts near the low-balance threshold so that the rules act.
    balances = [1_100 if i % 10 == 0 else 100_000 for i in range(meters)]
    with engine.begin() as connection:
        connection.execute(
            t["accounts"].insert(),
            [
                {
                    "id": i + 1,
                    "account_number": meter_number(i),
                    "holder": "住户",
                    "phone": "13800138000",
                    "address": f"丙6-1-{i}",
                    "status": "OPEN",
                    "opened_at": opened,
                }
                for i in range(meters)
            ],
        )
        connection.execute(
            t["ledger_entries"].insert(),
            [
                {
                    "account_id": i + 1,
                    "reference": f"OPENING:{meter_number(i)}",
                    "kind": "OPENING_BALANCE",
                    "amount_fen": balances[i],
                    "at": opened,
                    "note": "",
                    "balance_after_fen": balances[i],
                }
                for i in range(meters)
            ],
        )
        connection.execute(
            t["balances"].insert(),
            [
                {
                    "account_id": i + 1,
                    "balance_fen": balances[i],
                    "entry_count": 1,
                    "updated_at": opened,
                }
                for i in range(meters)
            ],
        )
        connection.execute(
            t["prepaid_states"].insert(),
            [
                {
                    "account_id": i + 1,
                    "low_balance_notified": False,
                    "warning_cut_done": False,
                    "tripped_for_arrears": False,
                    "relay": "CLOSED",
                }
                for i in range(meters)
            ],
        )
        zero = dict.fromkeys(("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh"), 0)
        connection.execute(
            t["meter_installations"].insert(),
            [
                {
                    "id": i + 1,
                    "account_id": i + 1,
                    "meter_number": meter_number(i),
                    "bus": f"tcp://10.0.0.{i % 200}:7001",
                    "installed_at": opened,
                    **{f"initial_{k}": v for k, v in zero.items()},
                }
                for i in range(meters)
            ],
        )
        connection.execute(
            t["register_baselines"].insert(),
            [
                {"installation_id": i + 1, "at": opened, "source": "INSTALLATION", **zero}
                for i in range(meters)
            ],
        )
        if engine.dialect.name == "postgresql":
            for table in ("accounts", "meter_installations"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {meters})"
                )
    # Statistics, as a live database has them (PostgreSQL's autovacuum gathers them within a
    # minute of a bulk load): without them the planner takes the freshly filled tables for
    # empty. Set-up is the same for the ingest's and the baselines' databases.
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def make_batches(meters: int, rounds: int, batch: int) -> list[list[metering.Reading]]:
    """Return the readings, one per meter per round, cut into batches."""
    readings: list[metering.Reading] = []
    totals = [0] * meters
    for round_ in range(1, rounds + 1):
        at = START + INTERVAL * round_
        for i in range(meters):
            totals[i] += 100 + (i * 37 + round_ * 11) % 400  # 0.1-0.5 kWh a quarter hour
            total = totals[i]
            valley = total // 3
            flat = total - valley
            readings.append(
                metering.Reading(
                    meter_number=MeterNumber(value=meter_number(i)),
                    registers=RegisterSet(
                        total_wh=total, sharp_wh=0, peak_wh=0, flat_wh=flat, valley_wh=valley
                    ),
                    meter_time_at=at,
                    received_at=at + timedelta(seconds=30),
                )
            )
    return [readings[i : i + batch] for i in range(0, len(readings), batch)]


class WriteCounter:
    """Count the row writes (rows inserted or updated) an engine's statements make.

    An executemany counts its parameter sets; a set-based INSERT ... SELECT or UPDATE ... FROM
    counts the rows the driver reports. Writes into the ingest's temporary staging tables
    count too.
    """

    def __init__(self, engine: Engine) -> None:
        self.rows = 0
        sa.event.listen(engine, "after_cursor_execute", self._count)

    def _count(
        self,
        _connection: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE"):
            self.rows += len(parameters) if executemany else max(cursor.rowcount, 0)


async def ingest(engine: Engine, batches: list[list[metering.Reading]]) -> float:
    clock = BenchClock(START)
    factory = db.unit_of_work_factory(engine)
    started = time.perf_counter()
    for batch in batches:
        clock.at = max(clock.at, batch[-1].received_at)
        await record_readings(uow=factory(), clock=clock, readings=batch)
    return time.perf_counter() - started


def bare_readings(engine: Engine, batches: list[list[metering.Reading]]) -> float:
    table = db.metadata.tables["readings"]
    started = time.perf_counter()
    for batch in batches:
        rows = [
            {
                "installation_id": int(r.meter_number.value[4:]) + 1,
                "meter_time_at": r.meter_time_at,
                "received_at": r.received_at,
                "outcome": "ACCEPTED",
                "total_wh": r.registers.total_wh,
                "sharp_wh": r.registers.sharp_wh,
                "peak_wh": r.registers.peak_wh,
                "flat_wh": r.registers.flat_wh,
                "valley_wh": r.registers.valley_wh,
            }
            for r in batch
        ]
        with engine.begin() as connection:
            connection.execute(table.insert(), rows)
    return time.perf_counter() - started


def rows_left(source: Engine) -> dict[str, list[dict[str, Any]]]:
    """Return every row the ingest left in the tables it wrote (openings excepted)."""
    rows_by_table: dict[str, list[dict[str, Any]]] = {}
    with source.connect() as connection:
        for name in WRITTEN:
            table = db.metadata.tables[name]
            rows = [dict(row) for row in connection.execute(sa.select(table)).mappings()]
            if name == "ledger_entries":
                rows = [r for r in rows if r["kind"] != "OPENING_BALANCE"]
            rows_by_table[name] = rows
    return rows_by_table


def _parts(rows: list[Any], index: int, batch_count: int) -> list[Any]:
    size = -(-len(rows) // batch_count)
    return rows[index * size : (index + 1) * size]


def bare_all_rows(
    rows_by_table: dict[str, list[dict[str, Any]]], target: Engine, batch_count: int
) -> float:
    """Insert every row the ingest left, in ``batch_count`` batches, through Core."""
    started = time.perf_counter()
    for index in range(batch_count):
        with target.begin() as connection:
            for name in WRITTEN:
                part = _parts(rows_by_table[name], index, batch_count)
                if part:
                    connection.execute(db.metadata.tables[name].insert(), part)
    return time.perf_counter() - started


def bare_all_rows_driver(
    rows_by_table: dict[str, list[dict[str, Any]]], target: Engine, batch_count: int
) -> float:
    """Insert the same rows through the driver's executemany, values converted beforehand.

    Not the goal's baseline: a lower bound on what writing the rows can cost from Python,
    shown because the ingest stages its readings through the driver too.
    """
    dialect = target.dialect
    prepared: list[tuple[str, list[Any]]] = []
    for name in WRITTEN:
        table = db.metadata.tables[name]
        rows = rows_by_table[name]
        if not rows:
            continue
        columns = list(rows[0])
        compiled = (
            table.insert().values({c: sa.bindparam(c) for c in columns}).compile(dialect=dialect)
        )
        processors = compiled._bind_processors  # the column types' own conversion
        order = list(compiled.positiontup or columns)
        converted: list[Any] = []
        for row in rows:
            values = {
                key: processors[key](row[key]) if key in processors else row[key] for key in order
            }
            converted.append(tuple(values[key] for key in order) if compiled.positional else values)
        prepared.append((compiled.string, converted))
    started = time.perf_counter()
    for index in range(batch_count):
        with target.begin() as connection:
            for statement, converted in prepared:
                part = _parts(converted, index, batch_count)
                if part:
                    connection.exec_driver_sql(statement, part)
    return time.perf_counter() - started


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    batches = make_batches(args.meters, args.rounds, args.batch)
    readings = sum(len(b) for b in batches)
    with database(backend, workdir, "ingest") as engine:
        set_up_accounts(engine, args.meters)
        writes = WriteCounter(engine)
        ingest_s = asyncio.run(ingest(engine, batches))
        with engine.connect() as connection:
            entries = connection.execute(
                sa.text("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'CHARGE'")
            ).scalar_one()
            commands = connection.execute(
                sa.text("SELECT COUNT(*) FROM relay_commands")
            ).scalar_one()
            sms = connection.execute(sa.text("SELECT COUNT(*) FROM sms_outbox")).scalar_one()
        with database(backend, workdir, "bare_readings") as bare:
            set_up_accounts(bare, args.meters)
            bare_s = bare_readings(bare, batches)
        left = rows_left(engine)
        rows = sum(len(found) for found in left.values())
        with database(backend, workdir, "bare_all") as bare:
            set_up_accounts(bare, args.meters)
            bare_all_s = bare_all_rows(left, bare, len(batches))
        with database(backend, workdir, "bare_all_driver") as bare:
            set_up_accounts(bare, args.meters)
            bare_driver_s = bare_all_rows_driver(left, bare, len(batches))
    return {
        "readings": readings,
        "batch": args.batch,
        "ingest_s": round(ingest_s, 3),
        "readings_per_s": round(readings / ingest_s),
        "charge_entries": int(entries),
        "relay_commands": int(commands),
        "sms": int(sms),
        "bare_readings_s": round(bare_s, 3),
        "ratio_vs_bare_readings": round(bare_s / ingest_s, 3),
        "rows_written": rows,
        "row_writes": writes.rows,
        "bare_all_rows_s": round(bare_all_s, 3),
        "ratio_vs_bare_all_rows": round(bare_all_s / ingest_s, 3),
        "bare_all_rows_driver_s": round(bare_driver_s, 3),
        "ratio_vs_bare_all_rows_driver": round(bare_driver_s / ingest_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    backends = ["sqlite"]
    if os.environ.get("WATTBOOK_TEST_POSTGRES_URL"):
        backends.append("postgresql")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            results[backend] = run_backend(backend, args, Path(tmp))
            print(f"{backend}: {json.dumps(results[backend])}")
    goal = 0.5
    print(
        json.dumps(
            {
                "bench": "ingest",
                "goal_ratio": goal,
                "met": all(r["ratio_vs_bare_all_rows"] >= goal for r in results.values()),
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
