"""Bench: what synchronous=FULL costs bank callbacks, and how much group commit wins back.

One claim (ADR 18): every money commit on SQLite is FULL (the WAL is synced at each commit)
and group commit pays that sync once for a batch. In one process, on one SQLite file, the
bank callback use case (``settle_bank_callbacks``, run in one database hand-off as the web's
batcher runs it) settles first-time callbacks, each on its own debit:

- one callback per transaction with synchronous=NORMAL (what wattbook did before), then FULL;
- BATCH callbacks per transaction (what the batcher commits under load) with NORMAL and FULL.

full_cost = NORMAL's rate ÷ FULL's rate, one callback per transaction (how much slower FULL
is); won_back = FULL's batched rate ÷ NORMAL's one-per-transaction rate (above 1: group commit
more than pays for FULL). The four runs are interleaved in slices, so a shared machine's
drifting load falls on each alike. Absolute rates and milliseconds per commit are printed
beside the ratios; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.application.payments import bank as bank_cases
from wattbook.domain import payments
from wattbook.domain.values import SHANGHAI
from wattbook.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from payments import prepare  # bench/payments.py: accounts, an agreement, requested debits

BATCH = 32
SLICES = 4


def storage_with(url: str, synchronous: str) -> bootstrap.Storage:
    """Return storage whose connections run with ``synchronous`` (set after wattbook's own)."""
    engine = db.create_engine(url)
    if synchronous != "FULL":

        @event.listens_for(engine, "connect")
        def _relax(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")

    return bootstrap.Storage.on(engine)


async def settle(
    storage: bootstrap.Storage, callbacks: list[payments.BankCallback], batch: int
) -> float:
    """Settle ``callbacks`` ``batch`` at a time; return the seconds it took."""
    started = time.perf_counter()
    for start in range(0, len(callbacks), batch):
        part = callbacks[start : start + batch]
        outcomes = await storage.in_one_hand_off(
            lambda part=part: bank_cases.settle_bank_callbacks(
                uow=storage.uow_factory(), clock=storage.clock, callbacks=part
            )
        )
        assert all(o.settlement is payments.Settlement.CREDIT for o in outcomes), outcomes
    return time.perf_counter() - started


async def run(url: str, counts: dict[str, int], debits: list[payments.DebitRequest]) -> Any:
    at = datetime.now(SHANGHAI)
    callbacks = [
        payments.BankCallback(
            serial=f"DUR{i:08d}",
            debit_id=d.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=d.amount,
            at=at,
        )
        for i, d in enumerate(debits)
    ]
    stores = {mode: storage_with(url, mode) for mode in ("NORMAL", "FULL")}
    runs = {
        "normal_single": ("NORMAL", 1),
        "full_single": ("FULL", 1),
        "normal_batched": ("NORMAL", BATCH),
        "full_batched": ("FULL", BATCH),
    }
    given: dict[str, list[payments.BankCallback]] = {}
    offset = 0
    for name in runs:
        given[name] = callbacks[offset : offset + counts[name]]
        offset += counts[name]
    seconds = dict.fromkeys(runs, 0.0)
    try:
        for part in range(SLICES):
            for name, (mode, batch) in runs.items():
                seconds[name] += await settle(stores[mode], given[name][part::SLICES], batch)
    finally:
        for storage in stores.values():
            storage.close()
    return {name: len(given[name]) / seconds[name] for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run")
    args = parser.parse_args()
    single, batched = (80, 320) if args.quick else (240, 1280)
    counts = {
        "normal_single": single,
        "full_single": single,
        "normal_batched": batched,
        "full_batched": batched,
    }
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'durable.sqlite3'}"
        bootstrap.migrate(Settings(database_url=url))
        debits = asyncio.run(prepare(url, sum(counts.values())))
        rates = asyncio.run(run(url, counts, debits))
    for name, rate in rates.items():
        batch = BATCH if name.endswith("batched") else 1
        print(f"{name}: {rate:.0f} callbacks/s, {1000 * batch / rate:.2f} ms per commit")
    result = {
        "bench": "durable_commit",
        "backend": "sqlite",
        "batch": BATCH,
        "load_average_at_start": round(load, 2),
        "rates_per_s": {name: round(rate) for name, rate in rates.items()},
        "ms_per_commit": {
            name: round(1000 * (BATCH if name.endswith("batched") else 1) / rate, 2)
            for name, rate in rates.items()
        },
        "full_cost": round(rates["normal_single"] / rates["full_single"], 3),
        "full_cost_batched": round(rates["normal_batched"] / rates["full_batched"], 3),
        "won_back": round(rates["full_batched"] / rates["normal_single"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
