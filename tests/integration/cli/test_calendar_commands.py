"""`wattbook calendar show | set | import` and `wattbook alarms` against a migrated SQLite file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wattbook import bootstrap
from wattbook.domain.alarms import AlarmKind
from wattbook.interfaces.cli import main
from wattbook.settings import Settings

SAMPLE_2026 = Path(__file__).parents[3] / "docs" / "samples" / "holidays-2026.csv"


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'wattbook.sqlite3'}"
    bootstrap.migrate(Settings(database_url=database))
    return database


def _show(url: str, year: int, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["calendar", "show", "--year", str(year), "--json", "--database-url", url]) == 0
    shown: dict[str, object] = json.loads(capsys.readouterr().out)
    return shown


class TestCalendarShow:
    def test_says_a_year_nobody_confirmed_is_provisional(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["calendar", "show", "--year", "2027", "--database-url", url]) == 0
        out = capsys.readouterr().out

        assert out.splitlines()[0].startswith("2027: NOT CONFIRMED")
        assert "2027-02-08\tMon\t休 off" in out
        assert "provisional fallback" in out

    def test_lists_the_package_years_days_with_their_source_in_json(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        shown = _show(url, 2026, capsys)

        assert shown["confirmed"] is True
        days = {d["date"]: d for d in shown["days"]}  # type: ignore[attr-defined]
        assert days["2026-10-01"]["source"] == "PACKAGE"
        assert days["2026-10-10"]["working"] is True

    def test_refuses_a_year_out_of_range(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["calendar", "show", "--year", "2150", "--database-url", url]) == 2
        assert "outside the years" in capsys.readouterr().err


class TestCalendarSet:
    def test_sets_a_day_and_shows_it_as_an_override(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["calendar", "set", "2027-03-02", "--day-off", "--by", "王工", "--note", "检修"]
        assert main([*argv, "--database-url", url]) == 0
        assert "2027-03-02 is now a day off" in capsys.readouterr().out

        days = {d["date"]: d for d in _show(url, 2027, capsys)["days"]}  # type: ignore[attr-defined]

        assert days["2027-03-02"] == {
            "date": "2027-03-02",
            "working": False,
            "name": "检修",
            "source": "OVERRIDE",
        }

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["2027-02-30", "--working", "--by", "王工"], "is not a date"),
            (["2027-03-02", "--working", "--by", " "], "records who made it"),
        ],
    )
    def test_refuses_bad_input_in_one_line(
        self, url: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
    ) -> None:
        assert main(["calendar", "set", *argv, "--database-url", url]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


class TestCalendarImport:
    def test_imports_the_sample_and_confirms_the_year(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["calendar", "import", str(SAMPLE_2026), "--by", "王工", "--database-url", url]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.startswith("2026: imported and confirmed, 39 day(s) changed")

        days = {d["date"]: d for d in _show(url, 2026, capsys)["days"]}  # type: ignore[attr-defined]
        assert days["2026-02-16"]["source"] == "OFFICIAL"

    def test_reports_each_bad_line_and_imports_nothing(
        self, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = tmp_path / "2027.csv"
        bad.write_text(
            "date,type,name\n2027-01-01,休,元旦\n2027-13-01,休,x\n2027-02-08,rest,春节\n",
            encoding="utf-8",
        )

        code = main(["calendar", "import", str(bad), "--by", "王工", "--database-url", url])
        err = capsys.readouterr().err

        assert code == 2
        assert f"{bad}:3: '2027-13-01' is not a date" in err
        assert f"{bad}:4: type 'rest'" in err
        assert "nothing imported" in err
        assert _show(url, 2027, capsys)["confirmed"] is False

    def test_refuses_a_missing_file(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        argv = ["calendar", "import", "/nonexistent.csv", "--by", "王工", "--database-url", url]
        assert main(argv) == 2
        assert "cannot read" in capsys.readouterr().err


class TestAlarms:
    def test_lists_the_open_holiday_schedule_alarm(
        self, url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        storage = bootstrap.build_storage(Settings(database_url=url))

        async def raise_it() -> None:
            async with storage.uow_factory() as uow:
                await uow.alarms.raise_alarm(
                    kind=AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED,
                    subject="2027",
                    detail="请录入 2027 年国务院节假日安排",
                    at=datetime(2026, 11, 1, tzinfo=UTC),
                )
                await uow.commit()

        asyncio.run(raise_it())
        storage.close()

        assert main(["alarms", "--database-url", url]) == 0
        out = capsys.readouterr().out
        assert "HOLIDAY_SCHEDULE_UNCONFIRMED\t2027" in out
        assert main(["alarms", "--json", "--database-url", url]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert [(a["scope"], a["subject"]) for a in shown["alarms"]] == [("SYSTEM", "2027")]
        assert main(["alarms", "--scope", "meter", "--database-url", url]) == 0
        assert "HOLIDAY_SCHEDULE_UNCONFIRMED" not in capsys.readouterr().out
