"""The holiday calendar's use cases on both backends: the alarm, setting a day, importing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local

from wattbook.adapters import db
from wattbook.application.prepaid.calendar_ports import (
    InvalidCalendarChange,
    InvalidHolidaySchedule,
)
from wattbook.application.prepaid.check_holiday_schedule import check_holiday_schedule
from wattbook.application.prepaid.import_holiday_schedule import (
    import_holiday_schedule,
    parse_holiday_schedule,
)
from wattbook.application.prepaid.set_calendar_day import set_calendar_day

SAMPLE_2026 = Path(__file__).parents[3] / "docs" / "samples" / "holidays-2026.csv"

SCHEDULE_2027 = """date,type,name
2027-01-01,休,元旦
2027-02-05,休,春节
2027-02-06,休,春节
2027-02-07,休,春节
2027-02-08,休,春节
2027-02-09,休,春节
2027-02-10,休,春节
2027-02-11,休,春节
2027-02-12,休,春节
2027-02-20,班,春节调休
"""


def _uow(engine: Engine) -> db.SqlUnitOfWork:
    return db.SqlUnitOfWork(engine)


async def _open_alarms(engine: Engine) -> list[tuple[str, str]]:
    async with _uow(engine) as uow:
        return [(a.subject, a.detail) for a in await uow.alarms.alarms(open_only=True)]


async def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(sa.table(table))
        return int(connection.execute(query).scalar_one())


class TestCheckHolidaySchedule:
    async def test_raises_nothing_in_october_for_a_year_the_package_covers(
        self, engine: Engine
    ) -> None:
        alarmed = await check_holiday_schedule(
            uow=_uow(engine), clock=FakeClock(local(2026, 10, 31, 23, 59))
        )

        assert alarmed == ()
        assert await _open_alarms(engine) == []

    async def test_raises_next_years_alarm_from_1_november_local_time_once(
        self, engine: Engine
    ) -> None:
        clock = FakeClock(local(2026, 11, 1, 0, 5))  # still 31 October in UTC
        first = await check_holiday_schedule(uow=_uow(engine), clock=clock)
        clock.advance(timedelta(hours=1))
        again = await check_holiday_schedule(uow=_uow(engine), clock=clock)

        assert first == again == (2027,)
        (alarm,) = await _open_alarms(engine)
        assert alarm[0] == "2027"
        assert "请录入 2027 年国务院节假日安排" in alarm[1]
        assert "enter the official holiday schedule for 2027" in alarm[1]

    async def test_raises_it_for_the_current_year_while_unconfirmed(self, engine: Engine) -> None:
        alarmed = await check_holiday_schedule(uow=_uow(engine), clock=FakeClock(local(2027, 3, 1)))

        assert alarmed == (2027,)

    async def test_ends_the_alarm_once_the_year_is_imported(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 3, 9))
        await check_holiday_schedule(uow=_uow(engine), clock=clock)

        await import_holiday_schedule(uow=_uow(engine), clock=clock, text=SCHEDULE_2027, by="王工")
        after_import = await _open_alarms(engine)
        alarmed = await check_holiday_schedule(uow=_uow(engine), clock=clock)

        assert after_import == []
        assert alarmed == ()
        assert await _open_alarms(engine) == []

    async def test_ends_an_alarm_confirmed_some_other_way(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 3, 9))
        await check_holiday_schedule(uow=_uow(engine), clock=clock)
        async with _uow(engine) as uow:
            await uow.calendar.import_year(year=2027, days=(), note="", by="王工", at=clock.now())
            await uow.commit()

        await check_holiday_schedule(uow=_uow(engine), clock=clock)

        assert await _open_alarms(engine) == []


class TestSetCalendarDay:
    async def test_records_who_set_the_day(self, engine: Engine) -> None:
        change = await set_calendar_day(
            uow=_uow(engine),
            clock=FakeClock(local(2026, 12, 3, 9)),
            day=date(2027, 3, 2),
            working=False,
            by=" 王工 ",
            note="停电检修",
        )

        assert change is not None
        assert change.changed_by == "王工"
        assert await _count(engine, "calendar_changes") == 1

    @pytest.mark.parametrize(
        ("day", "by", "note"),
        [
            (date(2027, 3, 2), "  ", ""),
            (date(2150, 3, 2), "王工", ""),
            (date(2027, 3, 2), "王工", "x" * 201),
        ],
    )
    async def test_refuses_bad_input_and_writes_nothing(
        self, engine: Engine, day: date, by: str, note: str
    ) -> None:
        with pytest.raises(InvalidCalendarChange):
            await set_calendar_day(
                uow=_uow(engine),
                clock=FakeClock(local(2026, 12, 3, 9)),
                day=day,
                working=False,
                by=by,
                note=note,
            )

        assert await _count(engine, "calendar_overrides") == 0


class TestImportHolidaySchedule:
    async def test_imports_the_shipped_2026_sample_without_changing_an_answer(
        self, engine: Engine
    ) -> None:
        clock = FakeClock(local(2026, 1, 5, 9))
        async with _uow(engine) as uow:
            before = await uow.calendar.year(2026)

        year, changes = await import_holiday_schedule(
            uow=_uow(engine), clock=clock, text=SAMPLE_2026.read_text(encoding="utf-8"), by="王工"
        )
        async with _uow(engine) as uow:
            after = await uow.calendar.year(2026)

        assert year == 2026
        assert len(changes) > 30
        every_day = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
        assert [d for d in every_day if before.is_working_day(d) != after.is_working_day(d)] == []

    async def test_reports_every_bad_row_and_writes_nothing(self, engine: Engine) -> None:
        text = (
            "date,type,name\n"
            "2027-01-01,休,元旦\n"
            "2027-02-30,休,春节\n"
            "2027-02-08,rest,春节\n"
            "2027-02-09,班,调休\n"
            "2027-01-01,休,again\n"
            "2028-01-01,休,元旦\n"
        )

        with pytest.raises(InvalidHolidaySchedule) as raised:
            await import_holiday_schedule(
                uow=_uow(engine), clock=FakeClock(local(2026, 12, 3)), text=text, by="王工"
            )

        assert [line for line, _ in raised.value.problems] == [3, 4, 5, 6, 7]
        assert await _count(engine, "calendar_overrides") == 0
        assert await _count(engine, "calendar_years") == 0

    def test_parses_english_types_a_bom_comments_and_no_names(self) -> None:
        year, days = parse_holiday_schedule(
            "\ufeffdate,type\n# the 2027 schedule\n\n2027-02-20,working\n2027-01-01,off\n"
        )

        assert year == 2027
        assert [(d.day, d.working, d.imported) for d in days] == [
            (date(2027, 1, 1), False, True),
            (date(2027, 2, 20), True, True),
        ]

    @pytest.mark.parametrize(
        "text", ["", "day,kind\n2027-01-01,休\n", "date,type,name\n", "2027-01-01,休,元旦\n"]
    )
    def test_refuses_a_file_without_header_or_rows(self, text: str) -> None:
        with pytest.raises(InvalidHolidaySchedule):
            parse_holiday_schedule(text)
