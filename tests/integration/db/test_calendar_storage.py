"""The holiday calendar in storage: package data, confirmed years, overrides and who made them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.application.prepaid.calendar_ports import CalendarChangeSource
from wattbook.domain.values import CalendarOverride, CalendarSource

AT = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


class TestCalendarFromStorage:
    async def test_a_confirmed_year_follows_its_days_and_the_weekday_rule(
        self, engine: Engine
    ) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            await uow.calendar.import_year(
                year=2099,
                days=(CalendarOverride(day=date(2099, 1, 28), working=False, note="春节"),),
                note="",
                by="王工",
                at=AT,
            )
            await uow.commit()

        async with db.SqlUnitOfWork(engine) as uow:
            summer = await uow.prepaid.calendar(
                first_date=date(2099, 7, 1), last_date=date(2099, 8, 14)
            )
            spring = await uow.prepaid.calendar(
                first_date=date(2099, 1, 20), last_date=date(2099, 1, 31)
            )

        assert summer.is_working_day(date(2099, 7, 1))
        assert not summer.is_working_day(date(2099, 7, 4))  # a Saturday
        assert not spring.is_working_day(date(2099, 1, 28))
        assert spring.is_working_day(date(2099, 1, 22))  # inside the fallback's window
        assert spring.source(date(2099, 1, 28)) is CalendarSource.OFFICIAL

    async def test_a_year_nobody_entered_gets_the_provisional_fallback(
        self, engine: Engine
    ) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            calendar = await uow.prepaid.calendar(
                first_date=date(2026, 12, 1), last_date=date(2027, 3, 1)
            )

        assert calendar.is_provisional(date(2027, 2, 8))
        assert not calendar.is_working_day(date(2027, 2, 8))  # Spring Festival
        assert calendar.is_working_day(date(2027, 3, 1))
        assert not calendar.is_provisional(date(2026, 12, 31))


class TestSettingADay:
    async def test_records_who_and_the_history_and_does_not_confirm_the_year(
        self, engine: Engine
    ) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            first = await uow.calendar.set_day(
                day=date(2027, 3, 2), working=False, note="停电检修", by="王工", at=AT
            )
            again = await uow.calendar.set_day(
                day=date(2027, 3, 2), working=False, note="停电检修", by="王工", at=AT
            )
            back = await uow.calendar.set_day(
                day=date(2027, 3, 2), working=True, note="", by="李工", at=AT
            )
            await uow.commit()
        async with db.SqlUnitOfWork(engine) as uow:
            history = await uow.calendar.changes(year=2027)
            confirmed = await uow.calendar.confirmed_years()
            year = await uow.calendar.year(2027)
        with engine.connect() as connection:
            row = connection.execute(
                sa.text("SELECT working, changed_by FROM calendar_overrides")
            ).one()

        assert first is not None
        assert back is not None
        assert again is None
        assert [(c.working_before, c.working_after, c.changed_by) for c in history] == [
            (None, False, "王工"),
            (False, True, "李工"),
        ]
        assert history[0].source is CalendarChangeSource.SET
        assert (bool(row[0]), row[1]) == (True, "李工")
        assert confirmed == ()
        assert year.source(date(2027, 3, 2)) is CalendarSource.OVERRIDE
        assert year.is_provisional(date(2027, 3, 3))


class TestImportingAYear:
    async def test_replaces_the_years_days_confirms_it_and_records_only_changes(
        self, engine: Engine
    ) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            await uow.calendar.set_day(
                day=date(2027, 3, 2), working=False, note="停电检修", by="王工", at=AT
            )
            await uow.calendar.set_day(
                day=date(2028, 1, 3), working=False, note="next year", by="王工", at=AT
            )
            await uow.calendar.import_year(
                year=2027,
                days=(
                    CalendarOverride(day=date(2027, 1, 1), working=False, note="元旦"),
                    CalendarOverride(day=date(2027, 2, 20), working=True, note="调休"),
                ),
                note="国办发明电",
                by="李工",
                at=AT,
            )
            await uow.commit()
        async with db.SqlUnitOfWork(engine) as uow:
            again = await uow.calendar.import_year(
                year=2027,
                days=(
                    CalendarOverride(day=date(2027, 1, 1), working=False, note="元旦"),
                    CalendarOverride(day=date(2027, 2, 20), working=True, note="调休"),
                ),
                note="again",
                by="张工",
                at=AT,
            )
            await uow.commit()
        async with db.SqlUnitOfWork(engine) as uow:
            history = await uow.calendar.changes()
            (confirmed,) = await uow.calendar.confirmed_years()
            year = await uow.calendar.year(2027)
            next_year = await uow.calendar.year(2028)

        assert again == ()
        assert [(c.day, c.working_before, c.working_after, c.source) for c in history[2:]] == [
            (date(2027, 1, 1), None, False, CalendarChangeSource.IMPORT),
            (date(2027, 2, 20), None, True, CalendarChangeSource.IMPORT),
            (date(2027, 3, 2), False, None, CalendarChangeSource.IMPORT),
        ]
        assert (confirmed.year, confirmed.confirmed_by, confirmed.note) == (2027, "张工", "again")
        assert year.is_working_day(date(2027, 3, 2))
        assert year.is_working_day(date(2027, 2, 8))  # the fallback's window no longer holds
        assert year.is_working_day(date(2027, 2, 20))
        assert not year.is_provisional(date(2027, 7, 1))
        assert not next_year.is_working_day(date(2028, 1, 3))  # another year: untouched


class TestUpgradeFromRevision0008:
    def test_keeps_the_overrides_and_confirms_the_years_they_are_in(
        self, empty_engine: Engine
    ) -> None:
        db.upgrade(empty_engine, revision="0008")
        with empty_engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO calendar_overrides (day, working, note) VALUES "
                    "(:a, :f, '春节'), (:b, :t, '调休')"
                ),
                {"a": date(2099, 1, 28), "b": date(2098, 10, 11), "f": False, "t": True},
            )

        db.upgrade(empty_engine)

        with empty_engine.connect() as connection:
            overrides = connection.execute(
                sa.text("SELECT day, origin, changed_by FROM calendar_overrides ORDER BY day")
            ).all()
            years = connection.execute(
                sa.text("SELECT year, confirmed_by FROM calendar_years ORDER BY year")
            ).all()
        assert [(str(d), o, b) for d, o, b in overrides] == [
            ("2098-10-11", "SET", "migration"),
            ("2099-01-28", "SET", "migration"),
        ]
        assert [tuple(y) for y in years] == [(2098, "migration"), (2099, "migration")]

        db.downgrade(empty_engine, revision="0008")
        with empty_engine.connect() as connection:
            kept = connection.execute(sa.text("SELECT COUNT(*) FROM calendar_overrides")).scalar()
        assert kept == 2
