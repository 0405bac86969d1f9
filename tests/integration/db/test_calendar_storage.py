"""The holiday calendar read from storage: package data plus the centre's own overrides (B7)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.domain.values import CalendarNotCovered


class TestCalendarFromStorage:
    async def test_a_year_the_package_lacks_is_covered_once_the_centre_enters_it(
        self, engine: Engine
    ) -> None:
        with engine.begin() as connection:
            connection.execute(
                db.metadata.tables["calendar_overrides"]
                .insert()
                .values(day=date(2099, 1, 28), working=False, note="春节")
            )

        async with db.SqlUnitOfWork(engine) as uow:
            summer = await uow.prepaid.calendar(
                first_date=date(2099, 7, 1), last_date=date(2099, 8, 14)
            )

        assert summer.is_working_day(date(2099, 7, 1))
        assert not summer.is_working_day(date(2099, 7, 4))  # a Saturday

    async def test_a_year_nobody_entered_is_not_guessed(self, engine: Engine) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            with pytest.raises(CalendarNotCovered):
                await uow.prepaid.calendar(first_date=date(2099, 7, 1), last_date=date(2099, 7, 2))
