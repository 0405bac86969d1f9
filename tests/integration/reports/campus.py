"""A small campus built through the use cases (and, for what the head-end writes, its tables)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock

from wattbook.adapters import db
from wattbook.application.accounts.import_households import ImportReport, import_households
from wattbook.application.payments.counter import open_counter, pay_at_counter
from wattbook.application.payments.ports import Receipt
from wattbook.domain.values import AccountNumber, Money, Period

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def csv_rows(text: str) -> Sequence[tuple[int, Sequence[str]]]:
    """Return CSV text as the import's (line, cells) rows."""
    return list(enumerate(csv.reader(io.StringIO(text)), start=1))


async def load(engine: Engine, clock: FakeClock, text: str) -> ImportReport:
    """Import households from CSV text."""
    return await import_households(
        uow=db.SqlUnitOfWork(engine), clock=clock, rows=csv_rows(text), by="clerk"
    )


async def pay(
    engine: Engine, clock: FakeClock, number: str, fen: int, *, operator: str, reference: str
) -> Receipt:
    """Take cash at the counter."""
    return await pay_at_counter(
        uow=db.SqlUnitOfWork(engine),
        clock=clock,
        number=AccountNumber(value=number),
        amount=Money(fen=fen),
        operator=operator,
        reference=reference,
    )


async def open_counter_for(
    engine: Engine, clock: FakeClock, start: datetime, end: datetime
) -> None:
    """Open the counter outside its hours, as an administrator would."""
    await open_counter(
        uow=db.SqlUnitOfWork(engine),
        clock=clock,
        period=Period(start_at=start, end_at=end),
        opened_by="admin",
        reason="late shift",
    )


def account_id(engine: Engine, number: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.text("SELECT id FROM accounts WHERE account_number = :n"), {"n": number}
            ).scalar_one()
        )


def installation_id(engine: Engine, number: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.text("SELECT id FROM meter_installations WHERE meter_number = :n"), {"n": number}
            ).scalar_one()
        )


def daily_use(engine: Engine, number: str, first: date, wh_per_day: Sequence[int]) -> None:
    """Write the usage the ingest would have kept (usage_daily), day by day from ``first``."""
    ident = account_id(engine, number)
    rows = [
        {
            "account_id": ident,
            "day": first + timedelta(days=offset),
            "total_wh": wh,
            "sharp_wh": 0,
            "peak_wh": 0,
            "flat_wh": wh,
            "valley_wh": 0,
        }
        for offset, wh in enumerate(wh_per_day)
    ]
    insert(engine, "usage_daily", rows)


def answered(
    engine: Engine, bus: str, meter: str, day: date, attempts: int, successes: int
) -> None:
    """Write a day's collection counts, as the head-end keeps them (C2)."""
    insert(
        engine,
        "communication_days",
        [
            {
                "bus": bus,
                "meter_number": meter,
                "day": day,
                "attempts": attempts,
                "successes": successes,
            }
        ],
    )


def insert(engine: Engine, table: str, rows: Sequence[dict[str, object]]) -> None:
    """Insert rows through the declared table (so its column types apply)."""
    if rows:
        with engine.begin() as connection:
            connection.execute(db.metadata.tables[table].insert(), list(rows))
