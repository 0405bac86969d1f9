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
_CAMPUS = 1_000_000


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


def _pretend_a_million_accounts(engine: Engine) -> None:
    """Give SQLite's planner statistics that say every campus table holds a million rows.

    The planner's choices depend on table sizes: at a few rows a scan is the cheapest plan,
    and past about 260,000 rows SQLite starts building Bloom filters over whole tables.
    """
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE main")
        rows = connection.exec_driver_sql("SELECT tbl, idx, stat FROM main.sqlite_stat1").all()
        for table, index, stat in rows:
            if table in _SMALL:
                continue
            rest = stat.split(" ")[1:]
            connection.exec_driver_sql(
                "UPDATE main.sqlite_stat1 SET stat = ? WHERE tbl = ? AND idx IS ?",
                (" ".join([str(_CAMPUS), *rest]), table, index),
            )
        connection.commit()
    # Pooled connections read the statistics when they load the schema.
    engine.dispose()


async def test_no_ingest_statement_reads_a_whole_campus_table(
    engine: Engine, home: Household
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL's plans are costed by size")
    _pretend_a_million_accounts(engine)
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


async def test_a_batch_the_rules_must_see_takes_more_hand_offs_and_commits(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A balance below the low-balance line: the rules act on the first reading, and the
    # account's rule state is not at rest afterwards, so every later batch needs them too.
    poor = Household(engine, FakeClock(local(2025, 6, 10, 8)))
    await poor.open(opening=Money(fen=500))
    await poor.use(1000)
    executor = _workers.workers_of(engine)._executor
    submitted: list[Any] = []
    submit = executor.submit

    def counting(function: Any, *args: Any, **kwargs: Any) -> Any:
        submitted.append(function)
        return submit(function, *args, **kwargs)

    before = poor.balance_fen()
    monkeypatch.setattr(executor, "submit", counting)
    report = await record_readings(
        uow=db.SqlUnitOfWork(engine), clock=poor.clock, readings=[_next_reading(poor, 1000)]
    )
    monkeypatch.undo()

    assert report.count(metering.ReadingOutcome.ACCEPTED) == 1
    assert len(submitted) > 1
    assert poor.balance_fen() < before
