"""`wattbook import households` (issue 12, item 9): all or nothing, every bad row reported."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.integration.reports.campus import SAMPLES, csv_rows, load

from wattbook.adapters import db
from wattbook.application.accounts.import_households import (
    InvalidHouseholdFile,
    import_households,
)
from wattbook.domain.values import AccountNumber, Money

HEADER = "account_number,holder,phone,address,meter_number,bus,opening_balance,migration_kwh\n"


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608


async def _balance(engine: Engine, number: str) -> Money:
    async with db.SqlReadOnlyUnitOfWork(engine) as uow:
        found = await uow.ledger.balances([AccountNumber(value=number)])
    return found[AccountNumber(value=number)]


class TestImportHouseholds:
    async def test_loads_the_sample_file(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))

        report = await load(engine, clock, (SAMPLES / "households.csv").read_text("utf-8"))

        assert (report.accounts, report.meters) == (5, 4)
        assert report.opening_balance == Money(fen=16650)
        assert await _balance(engine, "051600001001") == Money(fen=5000)
        assert await _balance(engine, "051600001003") == Money(fen=-350)
        # 123.45 kWh at 0.5283 yuan: 6521.8635 fen, rounded half-up, credited (B8).
        assert await _balance(engine, "051600001002") == Money(fen=6522)
        assert _count(engine, "meter_installations") == 4
        assert _count(engine, "migration_credits") == 2

    async def test_the_sample_workbook_reads_as_the_csv(self) -> None:
        from wattbook.interfaces.cli._import import read_rows

        from_xlsx = read_rows(SAMPLES / "households.xlsx")
        from_csv = read_rows(SAMPLES / "households.csv")

        assert [list(cells) for _, cells in from_xlsx] == [list(c) for _, c in from_csv]

    async def test_one_bad_row_writes_nothing_and_names_its_line(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))
        text = (
            HEADER
            + "051600002001,张三,13800138000,1栋101,,bus-1,10.00,\n"
            + "051600002002,李四,1380013800,1栋102,,bus-1,10.00,\n"
            + "051600002003,王五,,1栋103,,,5.555,\n"
        )

        with pytest.raises(InvalidHouseholdFile) as raised:
            await load(engine, clock, text)

        assert [line for line, _ in raised.value.problems] == [3, 4]
        assert _count(engine, "accounts") == 0
        assert _count(engine, "ledger_entries") == 0

    async def test_refuses_the_whole_file_when_an_account_exists(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))
        await load(engine, clock, HEADER + "051600003001,张三,,1栋101,,,1.00,\n")

        with pytest.raises(InvalidHouseholdFile) as raised:
            await load(
                engine,
                clock,
                HEADER + "051600003002,李四,,1栋102,,,2.00,\n051600003001,张三,,1栋101,,,1.00,\n",
            )

        assert raised.value.problems == ((3, "account 051600003001 exists already"),)
        assert _count(engine, "accounts") == 1

    async def test_reports_duplicates_within_the_file(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))
        text = HEADER + "051600004001,张三,,1栋101,,,,\n051600004001,张三,,1栋101,,,,\n"

        with pytest.raises(InvalidHouseholdFile) as raised:
            await import_households(
                uow=db.SqlUnitOfWork(engine), clock=clock, rows=csv_rows(text), by="clerk"
            )

        assert raised.value.problems == ((3, "account 051600004001 is on line 2 too"),)
        assert _count(engine, "accounts") == 0
