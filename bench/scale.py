"""Bench: a million meters' readings through NATS JetStream into PostgreSQL (issue 14).

It builds one migrated PostgreSQL database (a fresh database on the server named by
``WATTBOOK_TEST_POSTGRES_URL``, dropped afterwards) with ``--meters`` accounts, each with a
balance, a rule state, an installed meter and its baseline, by bulk SQL; and starts its own
``nats-server`` with JetStream on a free port and a temporary store. Then, for each worker
count of ``--workers`` (1, 2 and 4), one round:

1. That many ``wattbook ingest run --broker`` processes (the real command, the deployment's
   way) are started against the database and the broker; the bench waits until each says it
   is taking batches.
2. The bench publishes one register read per meter, ``--per-message`` readings a message (a
   bus's sweep: 32 meters), as fast as the broker takes them, through the head-end's own link
   (``broker.open_headend_link``), while the workers ingest. Every reading is new and plain
   (1 kWh since the last, inside one billing month), so every one is charged; one account in
   ten starts near the low-balance threshold so the prepaid rules act on some of each batch.
3. The round ends when the workers' status lines (every 0.25 s) add up to every reading; the
   workers are stopped with SIGTERM and the database is checked: one ``ACCEPTED`` reading per
   meter at the round's time and one new CHARGE entry per meter (each charged exactly once).
4. **Baseline: a bare COPY of the same readings** (one per meter, the same values, one second
   later so the keys do not collide) into the partitioned ``readings`` table, one COPY
   statement in one transaction through psycopg 3. Values are built before the clock starts.

Figures per round: ``charged_per_s`` = readings / (last charged - first published);
``ratio_vs_copy`` = COPY time / that ingest time; ``lag_p50_s``/``lag_p99_s``, the end-to-end
lag from publish to charged: the k-th reading published against the k-th reading charged,
from the publisher's and the workers' cumulative counts (the consumer is shared, so reading
order is close to publishing order; this is the FIFO estimate, to 0.25 s). The publisher
sends the whole sweep as a burst, so the lag is mostly the time the backlog takes to drain.
The last line is one JSON object with ``ratio_vs_copy`` for the best worker count (goal >= 0.3).
``--quick`` runs 20,000 meters. The machine may be shared: compare ratios of the same run.
"""

# ruff: noqa: S608 - the bench builds SQL from its own constants only, never from input

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import broker, db
from wattbook.application.headend import broker_ports as bp
from wattbook.domain import metering
from wattbook.domain.values import BillingMonth, MeterNumber, RegisterSet

REGISTERS = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")
STEP_WH = 1000  # each round reads 1 kWh more on every meter
STATUS_EVERY_S = 0.25


def meter_number(index: int) -> str:
    return f"0516{index:08d}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def nats_server(workdir: Path) -> Iterator[str]:
    """Run nats-server with JetStream on a free port and a temporary store; yield its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            "/usr/sbin/nats-server",
            "-js",
            "-sd",
            str(workdir / "jetstream"),
            "-p",
            str(port),
            "-a",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def database(server_url: str) -> Iterator[tuple[Engine, str]]:
    """Yield an engine on a new, migrated database and its URL; drop it afterwards."""
    name = f"wattbook_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(db.normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = db.normalise_url(server_url).set(database=name)
    plain_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    engine = db.create_engine(plain_url)
    try:
        db.upgrade(engine)
        yield engine, plain_url
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def set_up_accounts(engine: Engine, meters: int, opened: datetime) -> float:
    """Create accounts, openings, balances, rule states, installations and baselines in bulk."""
    started = time.perf_counter()
    numbers = "generate_series(0, :last) AS n(i)"
    number = "'0516' || lpad(i::text, 8, '0')"
    balance = "CASE WHEN i % 10 = 0 THEN 1100 ELSE 100000 END"
    zeros = ", ".join("0" for _ in REGISTERS)
    statements = [
        "INSERT INTO accounts (id, account_number, holder, phone, address, status, opened_at)"
        f" SELECT i + 1, {number}, '住户', '13800138000', '丙6-1-' || i::text, 'OPEN', :opened"
        f" FROM {numbers}",
        "INSERT INTO ledger_entries (account_id, reference, kind, amount_fen, at, note,"
        f" balance_after_fen) SELECT i + 1, 'OPENING:' || {number}, 'OPENING_BALANCE',"
        f" {balance}, :opened, '', {balance} FROM {numbers} ORDER BY i",
        "INSERT INTO balances (account_id, balance_fen, entry_count, updated_at)"
        f" SELECT i + 1, {balance}, 1, :opened FROM {numbers}",
        "INSERT INTO prepaid_states (account_id, low_balance_notified, warning_cut_done,"
        f" tripped_for_arrears, relay) SELECT i + 1, false, false, false, 'CLOSED' FROM {numbers}",
        "INSERT INTO meter_installations (id, account_id, meter_number, bus, installed_at,"
        f" {', '.join('initial_' + r for r in REGISTERS)}) SELECT i + 1, i + 1, {number},"
        f" 'bus-' || (i / 32)::text, :opened, {zeros} FROM {numbers}",
        f"INSERT INTO register_baselines (installation_id, at, source, {', '.join(REGISTERS)})"
        f" SELECT i + 1, :opened, 'INSTALLATION', {zeros} FROM {numbers}",
    ]
    opened_param = sa.bindparam("opened", opened, type_=db.UtcDateTime)
    with engine.begin() as connection:
        for statement in statements:
            text = sa.text(statement)
            if ":opened" in statement:
                text = text.bindparams(opened_param)
            connection.execute(text, {"last": meters - 1})
        for table in ("accounts", "meter_installations", "ledger_entries"):
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
    with engine.connect() as connection:
        auto = connection.execution_options(isolation_level="AUTOCOMMIT")
        auto.exec_driver_sql("VACUUM ANALYZE")
        # Autovacuum never analyses a partitioned parent: the deployment guide says to.
        auto.exec_driver_sql("ANALYZE readings, ledger_entries")
    return time.perf_counter() - started


def bare_copy(url: str, meters: int, at: datetime, total_wh: int) -> float:
    """COPY one reading per meter into ``readings`` in one transaction; return seconds."""
    rows = [(i + 1, at, at, total_wh, 0, 0, total_wh, 0, "ACCEPTED") for i in range(meters)]
    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "COPY readings (installation_id, meter_time_at, received_at, total_wh, sharp_wh,"
                " peak_wh, flat_wh, valley_wh, outcome) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


class Worker:
    """One ``wattbook ingest run`` process and the readings its status lines report."""

    def __init__(self, *, db_url: str, nats_url: str, batch: int, index: int) -> None:
        env = dict(os.environ, WATTBOOK_DATABASE_URL=db_url)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wattbook",
                "ingest",
                "run",
                "--broker",
                nats_url,
                "--batch",
                str(batch),
                "--status-every",
                str(STATUS_EVERY_S),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.index = index
        self.ready = threading.Event()
        self.readings = 0
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._errors = threading.Thread(target=self._read_errors, daemon=True)
        self._errors.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "taking batches" in line:
                self.ready.set()
            elif " readings, " in line:
                self.readings = int(line.split(" readings, ")[0].rsplit(" ", 1)[1])

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def publish(
    nats_url: str,
    meters: int,
    per_message: int,
    at: datetime,
    total_wh: int,
    workdir: Path,
    published: list[tuple[float, int]],
) -> None:
    """Publish one reading per meter, ``per_message`` a message, as one head-end would."""
    async with broker.open_headend_link(
        nats_url, headend="bench", spool_path=workdir / "spool.jsonl", now=lambda: at
    ) as link:
        if not link.connected:
            raise RuntimeError("the bench cannot reach its own nats-server")
        registers = RegisterSet(
            total_wh=total_wh, sharp_wh=0, peak_wh=0, flat_wh=total_wh, valley_wh=0
        )
        sent = 0
        for first in range(0, meters, per_message):
            readings = tuple(
                metering.Reading(
                    meter_number=MeterNumber(value=meter_number(i)),
                    registers=registers,
                    meter_time_at=at,
                    received_at=at,
                )
                for i in range(first, min(first + per_message, meters))
            )
            await link.publish(bp.ReadingsCollected(headend="bench", readings=readings))
            sent += len(readings)
            published.append((time.perf_counter(), sent))
        if link.spool.pending():
            raise RuntimeError("some collections went to the spool: the broker refused them")


def lag_quantiles(
    published: list[tuple[float, int]], charged: list[tuple[float, int]], total: int
) -> tuple[float, float]:
    """Return the p50 and p99 lag: the k-th reading charged against the k-th published."""

    def time_of(curve: list[tuple[float, int]], k: int) -> float:
        # The first sample at which the cumulative count reached k.
        lo, hi = 0, len(curve) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if curve[mid][1] >= k:
                hi = mid
            else:
                lo = mid + 1
        return curve[lo][0]

    step = max(total // 2000, 1)
    lags = sorted(time_of(charged, k) - time_of(published, k) for k in range(step, total + 1, step))
    return lags[len(lags) // 2], lags[min(len(lags) - 1, (len(lags) * 99) // 100)]


def check_round(engine: Engine, at: datetime, meters: int, charges_before: int) -> int:
    """Fail unless every meter has one accepted reading at ``at`` and one new charge."""
    with engine.connect() as connection:
        readings = connection.execute(
            sa.text(
                "SELECT count(*) FROM readings WHERE meter_time_at = :at AND outcome = 'ACCEPTED'"
            ).bindparams(sa.bindparam("at", at, type_=db.UtcDateTime))
        ).scalar_one()
        charges = connection.execute(
            sa.text("SELECT count(*) FROM ledger_entries WHERE kind = 'CHARGE'")
        ).scalar_one()
    if readings != meters or charges - charges_before != meters:
        raise RuntimeError(
            f"round at {at}: {readings} readings and {charges - charges_before} charges for"
            f" {meters} meters"
        )
    return int(charges)


def run_round(
    *,
    engine: Engine,
    db_url: str,
    nats_url: str,
    workers: int,
    meters: int,
    per_message: int,
    batch: int,
    at: datetime,
    total_wh: int,
    workdir: Path,
    charges_before: int,
) -> tuple[dict[str, float | int], int]:
    started = [
        Worker(db_url=db_url, nats_url=nats_url, batch=batch, index=i) for i in range(workers)
    ]
    try:
        for worker in started:
            if not worker.ready.wait(timeout=120):
                raise RuntimeError("an ingest worker did not start: " + "".join(worker.lines))
        published: list[tuple[float, int]] = []
        charged: list[tuple[float, int]] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                total = sum(worker.readings for worker in started)
                charged.append((time.perf_counter(), total))
                if total >= meters:
                    done.set()
                    return
                if any(worker.process.poll() is not None for worker in started):
                    done.set()
                    return
                time.sleep(STATUS_EVERY_S / 5)

        first = time.perf_counter()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        asyncio.run(publish(nats_url, meters, per_message, at, total_wh, workdir, published))
        publish_s = time.perf_counter() - first
        watcher.join(timeout=3600)
        if charged[-1][1] < meters:
            errors = "".join(line for worker in started for line in worker.lines[-20:])
            raise RuntimeError(f"the workers stopped at {charged[-1][1]} readings: {errors}")
        ingest_s = charged[-1][0] - first
    finally:
        for worker in started:
            worker.stop()
    charges = check_round(engine, at, meters, charges_before)
    # After the round, so the ingest never meets these rows; the next round reads later.
    copy_s = bare_copy(db_url, meters, at + timedelta(seconds=1), total_wh)
    p50, p99 = lag_quantiles(published, charged, meters)
    figures: dict[str, float | int] = {
        "workers": workers,
        "readings": meters,
        "charged_per_s": round(meters / ingest_s, 1),
        "ingest_s": round(ingest_s, 2),
        "published_per_s": round(meters / publish_s, 1),
        "copy_s": round(copy_s, 3),
        "copy_per_s": round(meters / copy_s, 1),
        "ratio_vs_copy": round(copy_s / ingest_s, 4),
        "lag_p50_s": round(p50, 2),
        "lag_p99_s": round(p99, 2),
    }
    return figures, charges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, one round each")
    parser.add_argument("--per-message", type=int, default=32, help="readings per message")
    parser.add_argument("--batch", type=int, default=128, help="messages per ingest batch")
    parser.add_argument("--quick", action="store_true", help="20,000 meters")
    args = parser.parse_args()
    meters = 20_000 if args.quick else args.meters
    counts = [int(part) for part in args.workers.split(",")]
    server = os.environ.get("WATTBOOK_TEST_POSTGRES_URL")
    if not server:
        raise SystemExit("set WATTBOOK_TEST_POSTGRES_URL to a PostgreSQL server (CREATEDB)")
    # Readings close to now (the workers' clock is the system's), inside this billing month.
    wall = datetime.now(UTC).replace(microsecond=0)
    opened = max(wall - timedelta(days=1), BillingMonth.of(wall).start_at + timedelta(hours=1))
    step = (wall - opened) / (len(counts) + 1)
    with (
        tempfile.TemporaryDirectory() as folder,
        nats_server(Path(folder)) as nats_url,
        database(server) as (engine, db_url),
    ):
        setup_s = set_up_accounts(engine, meters, opened)
        print(f"set up {meters} accounts in {setup_s:.1f} s", flush=True)
        rounds = []
        charges = 0
        for number, workers in enumerate(counts, start=1):
            figures, charges = run_round(
                engine=engine,
                db_url=db_url,
                nats_url=nats_url,
                workers=workers,
                meters=meters,
                per_message=args.per_message,
                batch=args.batch,
                at=opened + step * number,
                total_wh=STEP_WH * number,
                workdir=Path(folder),
                charges_before=charges,
            )
            print(json.dumps(figures), flush=True)
            rounds.append(figures)
    best = max(rounds, key=lambda figures: figures["charged_per_s"])
    print(
        json.dumps(
            {
                "bench": "scale",
                "meters": meters,
                "per_message": args.per_message,
                "batch_messages": args.batch,
                "best_workers": best["workers"],
                "charged_per_s": best["charged_per_s"],
                "copy_per_s": best["copy_per_s"],
                "ratio_vs_copy": best["ratio_vs_copy"],
                "lag_p99_s": best["lag_p99_s"],
                "goal_ratio_vs_copy": 0.3,
                "rounds": rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
