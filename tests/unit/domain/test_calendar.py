"""The calendar that never runs out: the package, confirmed years, and the provisional fallback."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import holidays
import pytest

from wattbook.domain.values import (
    CalendarOverride,
    CalendarSource,
    WorkingCalendar,
    fallback_days_off,
    package_covers,
)

# Official working days the fallback holds (printed by
# test_the_fallback_never_cuts_on_an_official_day_off when run with -s), measured with holidays
# 0.109 and chinese-calendar 1.11, as weekdays / all (the rest are adjusted working weekends,
# 调休, which the fallback never works): 2020: 11/17, 2021: 11/18, 2022: 9/16, 2023: 12/19,
# 2024: 13/21, 2025: 9/14, 2026: 9/15. About two weeks of late cuts a year, never a cut on an
# official day off.
EXTRA_DAYS_AT_MOST = 15


def _days(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def _fallback(year: int) -> WorkingCalendar:
    """Return the fallback's calendar of ``year``, whatever the package knows."""
    off = fallback_days_off(year)
    return WorkingCalendar(
        first_date=date(year, 1, 1),
        last_date=date(year, 12, 31),
        holidays=frozenset(off),
        working_days=frozenset(),
    )


class TestTheFallbackAgainstTheOfficialSchedules:
    @pytest.mark.parametrize("year", range(2020, 2027))
    def test_the_fallback_never_cuts_on_an_official_day_off(self, year: int) -> None:
        fallback = _fallback(year)

        official_off = [d for d in _days(year) if not chinese_calendar.is_workday(d)]
        cut_on_a_day_off = [d for d in official_off if fallback.is_working_day(d)]
        extra = [
            d
            for d in _days(year)
            if chinese_calendar.is_workday(d) and not fallback.is_working_day(d)
        ]
        weekday_extra = [d for d in extra if d.weekday() < 5]
        print(f"{year}: fallback holds {len(weekday_extra)} extra weekdays, {len(extra)} in all")

        assert cut_on_a_day_off == []
        assert len(weekday_extra) <= EXTRA_DAYS_AT_MOST

    @pytest.mark.parametrize("year", [2025, 2026])
    def test_the_holidays_package_gets_the_festival_dates_right(self, year: int) -> None:
        # What the fallback relies on: every day the holidays package calls a CN public
        # holiday is an official day off, and each lunar festival falls where the State
        # Council put it.
        listed = holidays.country_holidays("CN", years=year, language="en_US")
        official = {
            d: name
            for d in _days(year)
            for holiday, name in [chinese_calendar.get_holiday_detail(d)]
            if holiday and name
        }

        assert [d for d in listed if chinese_calendar.is_workday(d)] == []
        festival = {name: d for d, name in sorted(listed.items(), reverse=True)}
        assert official[festival["Chinese New Year (Spring Festival)"]] == "Spring Festival"
        assert official[festival["Tomb-Sweeping Day"]] == "Tomb-sweeping Day"
        assert official[festival["Dragon Boat Festival"]] == "Dragon Boat Festival"
        assert official[festival["Mid-Autumn Festival"]] in {"Mid-autumn Festival", "National Day"}


class TestAYearNobodyConfirmed:
    calendar = WorkingCalendar.from_chinese_calendar(
        first_date=date(2026, 12, 1), last_date=date(2027, 3, 1)
    )

    def test_answers_every_date_past_the_package(self) -> None:
        assert not package_covers(2027)
        assert package_covers(2026)
        day = date(2027, 1, 1)
        while day <= date(2027, 3, 1):
            self.calendar.is_working_day(day)
            day += timedelta(days=1)

    def test_holds_the_2027_spring_festival_week(self) -> None:
        # Lunar new year 2027 is Saturday 6 February: hold from the Thursday before (the eve is
        # on Friday) through the 7th day.
        week = [date(2027, 2, 4) + timedelta(days=n) for n in range(9)]

        assert [d for d in week if self.calendar.is_working_day(d)] == []
        assert self.calendar.is_working_day(date(2027, 2, 3))
        assert self.calendar.is_working_day(date(2027, 2, 15))
        assert "Spring Festival" in self.calendar.name(date(2027, 2, 8))

    def test_holds_every_weekend_and_works_no_adjusted_day(self) -> None:
        day = date(2027, 1, 1)
        while day <= date(2027, 3, 1):
            if day.weekday() >= 5:
                assert not self.calendar.is_working_day(day), day
            day += timedelta(days=1)
        assert not any(d.year == 2027 for d in self.calendar.working_days)

    def test_holds_new_years_day(self) -> None:
        assert not self.calendar.is_working_day(date(2027, 1, 1))

    def test_says_which_dates_are_provisional(self) -> None:
        assert self.calendar.source(date(2026, 12, 31)) is CalendarSource.PACKAGE
        assert not self.calendar.is_provisional(date(2026, 12, 31))
        assert self.calendar.is_provisional(date(2027, 1, 4))
        assert self.calendar.is_confirmed(2026)
        assert not self.calendar.is_confirmed(2027)

    def test_overrides_win_over_the_fallback(self) -> None:
        calendar = WorkingCalendar.from_chinese_calendar(
            first_date=date(2027, 2, 1),
            last_date=date(2027, 2, 28),
            overrides=(
                CalendarOverride(day=date(2027, 2, 4), working=True, note="worked here"),
                CalendarOverride(day=date(2027, 2, 20), working=True, note="调休"),
                CalendarOverride(day=date(2027, 2, 24), working=False, note="campus closed"),
            ),
        )

        assert calendar.is_working_day(date(2027, 2, 4))
        assert calendar.is_working_day(date(2027, 2, 20))  # a Saturday worked
        assert not calendar.is_working_day(date(2027, 2, 24))
        assert calendar.source(date(2027, 2, 24)) is CalendarSource.OVERRIDE
        assert calendar.name(date(2027, 2, 24)) == "campus closed"
        assert calendar.is_provisional(date(2027, 2, 25))


class TestAConfirmedYear:
    def test_follows_its_imported_days_and_the_weekday_rule(self) -> None:
        spring_festival = CalendarOverride(
            day=date(2099, 1, 28), working=False, note="春节", imported=True
        )
        worked_sunday = CalendarOverride(
            day=date(2099, 1, 25), working=True, note="调休", imported=True
        )

        calendar = WorkingCalendar.from_chinese_calendar(
            first_date=date(2099, 1, 20),
            last_date=date(2099, 2, 10),
            overrides=(spring_festival, worked_sunday),
            confirmed_years=(2099,),
        )

        assert not calendar.is_working_day(date(2099, 1, 28))
        assert calendar.is_working_day(date(2099, 1, 25))
        # An ordinary Wednesday, inside the fallback's Spring Festival window (new year is
        # 2099-01-21): the confirmed schedule says work.
        assert calendar.is_working_day(date(2099, 1, 22))
        assert not calendar.is_working_day(date(2099, 1, 31))  # an ordinary Saturday
        assert calendar.source(date(2099, 1, 28)) is CalendarSource.OFFICIAL
        assert calendar.source(date(2099, 1, 22)) is CalendarSource.OFFICIAL
        assert not calendar.is_provisional(date(2099, 1, 22))

    def test_an_override_alone_does_not_confirm_a_year(self) -> None:
        calendar = WorkingCalendar.from_chinese_calendar(
            first_date=date(2099, 1, 20),
            last_date=date(2099, 2, 10),
            overrides=(CalendarOverride(day=date(2099, 1, 28), working=False, note="春节"),),
        )

        assert not calendar.is_working_day(date(2099, 1, 22))  # the fallback's window
        assert calendar.is_provisional(date(2099, 1, 22))
