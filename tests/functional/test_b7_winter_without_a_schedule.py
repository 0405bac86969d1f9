"""B4-B7 and P1 from 2026-12-01 to 2027-03-01 with no 2027 holiday schedule entered (issue 9).

chinese-calendar ends on 2026-12-31 and the State Council publishes the next year's schedule
late in the year. The rules must go on: working days cut, the 2027 Spring Festival week and
every weekend hold (the provisional fallback errs towards not cutting), every low-balance text
goes out, the counter takes money in working hours, and staff see an alarm asking for the
official schedule. Importing that schedule then changes exactly the days it names.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import chinese_calendar
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local
from tests.integration.db.test_calendar_use_cases import SCHEDULE_2027

from wattbook.adapters import db
from wattbook.application.payments import counter
from wattbook.application.prepaid.check_holiday_schedule import check_holiday_schedule
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money

FIRST = dt.date(2026, 12, 1)
LAST = dt.date(2027, 3, 1)
# Lunar new year 2027 falls on Saturday 6 February; the fallback holds two days before it
# through the seventh day, and 1 January.
SPRING_FESTIVAL_2027 = {dt.date(2027, 2, 4) + dt.timedelta(days=n) for n in range(9)}
# A schedule of the kind the State Council publishes (the real 2027 one was not out yet).
OFFICIAL_2027 = SCHEDULE_2027


def _days() -> list[dt.date]:
    return [FIRST + dt.timedelta(days=n) for n in range((LAST - FIRST).days + 1)]


def _expected_working(day: dt.date) -> bool:
    if day.year == 2026:
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5 and day != dt.date(2027, 1, 1) and day not in SPRING_FESTIVAL_2027


class TestWinterWithoutASchedule:
    async def test_cuts_on_working_days_holds_on_the_rest_and_texts_every_time(
        self, engine: Engine
    ) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))
        cut: dict[dt.date, bool] = {}
        texted: dict[dt.date, int] = {}
        for index, day in enumerate(_days()):
            clock.set(local(day.year, day.month, day.day, 9))
            home = Household(engine, clock, f"0516001{index:05d}")
            await home.open(opening=Money(fen=300))  # low from the start: texted at install
            await home.use(8_000)  # 10:00, about -123 fen: an arrears trip is due
            trips = home.rows(
                "SELECT COUNT(*) FROM relay_commands c JOIN accounts a ON a.id = c.account_id"
                " WHERE a.account_number = :n AND c.reason = 'ARREARS'",
                n=str(home.number),
            )
            cut[day] = trips[0][0] == 1
            texted[day] = home.rows(
                "SELECT COUNT(*) FROM sms_outbox o JOIN accounts a ON a.id = o.account_id"
                " WHERE a.account_number = :n AND o.kind = 'LOW_BALANCE'",
                n=str(home.number),
            )[0][0]

        wrong = {day: was for day, was in cut.items() if was != _expected_working(day)}
        assert wrong == {}
        assert not any(cut[day] for day in SPRING_FESTIVAL_2027)
        assert set(texted.values()) == {1}

    async def test_the_counter_takes_money_in_working_hours(self, engine: Engine) -> None:
        clock = FakeClock(local(2027, 1, 5, 10))  # a Tuesday nobody confirmed
        home = Household(engine, clock)
        await home.open()

        receipt = await counter.pay_at_counter(
            uow=db.SqlUnitOfWork(engine),
            clock=clock,
            number=AccountNumber(value=str(home.number)),
            amount=Money(fen=5000),
            operator="窗口 王丽",
            reference="FORM-2027-1",
        )
        clock.set(local(2027, 2, 8, 10))  # Spring Festival, by the fallback
        with pytest.raises(payments.CounterClosed):
            await counter.pay_at_counter(
                uow=db.SqlUnitOfWork(engine),
                clock=clock,
                number=AccountNumber(value=str(home.number)),
                amount=Money(fen=5000),
                operator="窗口 王丽",
                reference="FORM-2027-2",
            )

        assert receipt.payment.amount == Money(fen=5000)

    async def test_staff_are_asked_for_the_schedule_and_importing_it_changes_its_days(
        self, engine: Engine, tmp_path: Path
    ) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))
        await check_holiday_schedule(uow=db.SqlUnitOfWork(engine), clock=clock)
        async with db.SqlUnitOfWork(engine) as uow:
            asked = [(a.kind.value, a.subject) for a in await uow.alarms.alarms()]
            before = await uow.prepaid.calendar(
                first_date=dt.date(2027, 1, 1), last_date=dt.date(2027, 12, 31)
            )
        schedule = tmp_path / "holidays-2027.csv"
        schedule.write_text(OFFICIAL_2027, encoding="utf-8")
        # The URL names the test's own database, as a deployment would name its database.
        imported = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wattbook",
            "calendar",
            "import",
            str(schedule),
            "--by",
            "管理员 李",
            "--database-url",
            engine.url.render_as_string(hide_password=False),
        )

        assert await imported.wait() == 0

        await check_holiday_schedule(uow=db.SqlUnitOfWork(engine), clock=clock)
        async with db.SqlUnitOfWork(engine) as uow:
            still_open = await uow.alarms.alarms()
            after = await uow.prepaid.calendar(
                first_date=dt.date(2027, 1, 1), last_date=dt.date(2027, 12, 31)
            )
        official = {
            dt.date.fromisoformat(line.split(",")[0]): line.split(",")[1] == "班"
            for line in OFFICIAL_2027.splitlines()[1:]
        }
        year = [dt.date(2027, 1, 1) + dt.timedelta(days=n) for n in range(365)]
        should = {d: official.get(d, d.weekday() < 5) for d in year}
        changed = {d for d in year if before.is_working_day(d) != after.is_working_day(d)}

        assert asked == [("HOLIDAY_SCHEDULE_UNCONFIRMED", "2027")]
        assert still_open == ()
        assert all(after.is_working_day(d) == should[d] for d in year)
        assert changed == {d for d in year if before.is_working_day(d) != should[d]}
        assert changed >= {dt.date(2027, 2, 4), dt.date(2027, 2, 20)}
