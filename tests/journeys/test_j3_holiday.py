"""Journey 3 (B7): a balance that runs out on a holiday is not cut; the cut waits for the next
working day at 08:00."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.domain.values import SHANGHAI

# National Day 2025: 1-8 October off; Thursday 9 October is a working day again.
HOLIDAY_NOON = dt.datetime(2025, 10, 7, 12, 0, tzinfo=SHANGHAI)
QUARTER = dt.timedelta(minutes=15)


async def test_a_holiday_with_no_cut(engine: Engine) -> None:
    (resident,) = residents(150)
    async with world(engine, [resident], start=HOLIDAY_NOON) as campus:
        meter = campus.meter(resident.number)

        await campus.until(lambda: campus.balance_fen(resident.number) < 0, step=QUARTER)
        ran_out_at = campus.clock.now()
        await campus.until(
            lambda: campus.clock.now() >= dt.datetime(2025, 10, 9, 6, 45, tzinfo=SHANGHAI),
            step=dt.timedelta(hours=1),
        )
        on_through_the_holiday = meter.relay_closed
        commands_during_holiday = campus.relay_commands(resident.number)
        # The demo's feed shows the hold, and until when.
        held = [item for item in await campus.feed(HOLIDAY_NOON) if item.kind.value == "CUT_HELD"]
        await campus.until(lambda: not meter.relay_closed, step=QUARTER, limit=12)
        cut_at = campus.clock.now().astimezone(SHANGHAI)

        assert ran_out_at.astimezone(SHANGHAI).date() <= dt.date(2025, 10, 8)
        assert on_through_the_holiday
        assert commands_during_holiday == []
        assert cut_at.date() == dt.date(2025, 10, 9)
        assert dt.time(8, 0) <= cut_at.time() <= dt.time(8, 30)
        assert campus.relay_commands(resident.number) == [("TRIP", "ARREARS", "CONFIRMED")]
        assert [item.code for item in held] == ["2025-10-09T00:00:00+00:00"]  # 08:00 local
