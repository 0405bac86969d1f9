"""Tell staff when a year's holiday schedule must be entered (run hourly).

The State Council publishes a year's schedule only in November or December. Until the centre
imports it, the calendar's fallback decides (it errs towards not cutting); from 1 November staff
see a HOLIDAY_SCHEDULE_UNCONFIRMED alarm for next year, and all year for the current one.
"""

from __future__ import annotations

from wattbook.application import ports
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import local_date, package_covers

_KIND = AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED
# From this month (local date) next year's schedule is due.
_NEXT_YEAR_FROM_MONTH = 11


def alarm_detail(year: int) -> str:
    """Return the alarm's text, zh-CN first."""
    return (
        f"请录入 {year} 年国务院节假日安排（wattbook calendar import） / "
        f"enter the official holiday schedule for {year} (wattbook calendar import)"
    )


async def check_holiday_schedule(*, uow: ports.UnitOfWork, clock: ports.Clock) -> tuple[int, ...]:
    """Raise the alarm for each year due and not confirmed; end it for the others.

    Return the years alarmed (open now). Idempotent: an open alarm stays one alarm.
    """
    now = clock.now()
    today = local_date(now)
    due = [today.year]
    if today.month >= _NEXT_YEAR_FROM_MONTH:
        due.append(today.year + 1)
    async with uow:
        confirmed = {year.year for year in await uow.calendar.confirmed_years()}
        missing = tuple(y for y in due if not package_covers(y) and y not in confirmed)
        for year in missing:
            await uow.alarms.raise_alarm(
                kind=_KIND, subject=str(year), detail=alarm_detail(year), at=now
            )
        still_due = {str(year) for year in missing}
        for alarm in await uow.alarms.alarms(open_only=True):
            if alarm.kind is _KIND and alarm.subject not in still_due:
                # Confirmed meanwhile, or a year gone by: nobody needs to enter it any more.
                await uow.alarms.end_alarm(kind=_KIND, subject=alarm.subject, at=now)
        await uow.commit()
    return missing
