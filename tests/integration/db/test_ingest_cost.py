"""What keeps an ingest batch's cost flat as the campus grows: plans and hand-offs (ADR 17)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.adapters import db
from wattbook.adapters.db import _workers
from wattbook.application.metering.record_readings import record_readings
from wattbook.domain import metering
from wattbook.domain.values import Money, RegisterSet

# Tables a batch may read whole: the tariffs and the prepaid policy (a few rows), and the
# batch's own temporary tables.
_SMALL = {"tariffs", "tariff_components", "prepaid_policies"}
_WHOLE = re.compile(r"^(?:SCAN|BLOOM FILTER ON) (\w+)")


@pytest.fixture
async def home(engine: Engine) -> Household:
    household = Household(engine, FakeClock(local(2025, 6, 10, 8)))
    await household.open(opening=Money(fen=100_000))
    await household.use(1000)
    return household


def _next_reading(home: Household, wh: int) -> metering.Reading:
    home.clock.advance(timedelta(hours=1))
    home.registers = RegisterSet(
        total_wh=home.registers.total_wh + wh,
        sharp_wh=0,
        peak_wh=0,
        flat_wh=home.registers.flat_wh + wh,
        valley_wh=0,
    )
    return home.reading()


async def test_no_ingest_statement_reads_a_whole_campus_table(
    engine: Engine, home: Household
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL's plans are costed by size")
    # No statistics: SQLite then takes every table for a large one, as at a campus's size.
    plans: list[tuple[str, list[str]]] = []

    def explain(
        connection: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        if many or statement.lstrip()[:6].upper() not in ("INSERT", "UPDATE", "SELECT"):
            return
        driver = connection.connection.driver_connection
        found = driver.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        plans.append((statement, [row[3] for row in found]))

    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        report = await record_readings(
            uow=home.uow(), clock=home.clock, readings=[_next_reading(home, 2000)]
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)

    assert report.count(metering.ReadingOutcome.ACCEPTED) == 1
    assert any("ingest_plain" in statement for statement, _plan in plans)
    whole = [
        (statement.split("\n")[0][:80], line)
        for statement, plan in plans
        for line in plan
        if (match := _WHOLE.match(line))
        and match.group(1) not in _SMALL
        and not match.group(1).startswith("ingest_")
    ]
    assert whole == []


async def test_a_batch_of_plain_readings_is_one_hand_off_to_a_database_thread(
    engine: Engine, home: Household, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = _workers.workers_of(engine)._executor
    submitted: list[str] = []
    submit = executor.submit

    def counting(function: Any, *args: Any, **kwargs: Any) -> Any:
        submitted.append(getattr(args[0] if args else function, "__qualname__", "?"))
        return submit(function, *args, **kwargs)

    monkeypatch.setattr(executor, "submit", counting)
    before = home.balance_fen()
    uow = db.SqlUnitOfWork(engine)

    report = await record_readings(uow=uow, clock=home.clock, readings=[_next_reading(home, 3000)])

    monkeypatch.undo()
    assert report.count(metering.ReadingOutcome.ACCEPTED) == 1
    assert home.balance_fen() < before  # charged and committed
    assert len(submitted) == 1, submitted
