"""`wattbook billing month-end | statements` against a migrated SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.domain.values import Money
from wattbook.interfaces.cli import main
from wattbook.settings import Settings


@pytest.fixture
async def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'wattbook.sqlite3'}"
    bootstrap.migrate(Settings(database_url=database))
    engine = db.create_engine(database)
    clock = FakeClock(local(2025, 6, 1, 8))
    paid = Household(engine, clock, number="051600000001")
    behind = Household(engine, clock, number="051600000002")
    await paid.open(opening=Money(fen=10_000))
    await behind.open(opening=Money(fen=100))
    await paid.use(10_000)
    await behind.use(10_000)
    engine.dispose()
    return database


def _lines(url: str) -> int:
    engine = db.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(sa.text("SELECT COUNT(*) FROM statement_lines")).scalar_one()
            )
    finally:
        engine.dispose()


def test_month_end_writes_once_and_statements_lists_it(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["billing", "month-end", "2025-06", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrote 2025-06: 2 accounts, 2 lines, 10.56 yuan, 1 unpaid lines")
    assert "the domain agreed on 2 accounts" in out

    assert main(["billing", "month-end", "2025-06", "--database-url", url]) == 0
    assert capsys.readouterr().out.startswith("already written, nothing changed: 2025-06")
    assert _lines(url) == 2

    assert main(["billing", "statements", "2025-06", "--database-url", url]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1:] == [
        "051600000001\tRESIDENTIAL_LIGHTING\t0.5283\t10.00\t5.28\tPAID",
        "051600000002\tRESIDENTIAL_LIGHTING\t0.5283\t10.00\t5.28\tUNPAID",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["billing", "month-end", "2999-01"], "has not ended yet"),
        (["billing", "month-end", "2025-13"], "YYYY-MM"),
        (["billing", "statements", "2025-06"], "no statements written for 2025-06"),
        (["billing", "statements", "2025-06", "--after", "x"], "--after"),
    ],
)
def test_bad_input_ends_in_one_line_and_writes_nothing(
    url: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main([*argv, "--database-url", url])
    except SystemExit as exit_:  # argparse's own usage error
        code = int(str(exit_.code))

    assert code == 2
    assert message in capsys.readouterr().err
    assert _lines(url) == 0
