"""Journey 6 (A3, A4): the 24-hour line gets a household's power back with a keep-power order,
recorded with who did it and why; the rules leave the power on while it lasts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.application.prepaid.keep_power import order_keep_power
from wattbook.domain.values import SHANGHAI, AccountNumber, Period

MONDAY_MORNING = dt.datetime(2025, 3, 10, 9, 0, tzinfo=SHANGHAI)
QUARTER = dt.timedelta(minutes=15)


async def test_an_operators_emergency_power_back(engine: Engine) -> None:
    (resident,) = residents(150)
    async with world(engine, [resident], start=MONDAY_MORNING) as campus:
        meter = campus.meter(resident.number)
        await campus.until(
            lambda: ("TRIP", "ARREARS", "CONFIRMED") in campus.relay_commands(resident.number),
            step=QUARTER,
        )

        now = campus.clock.now()
        await order_keep_power(
            uow=campus.uow_factory(),
            clock=campus.clock,
            number=AccountNumber(value=resident.number),
            period=Period(start_at=now, end_at=now + dt.timedelta(days=1)),
            ordered_by="值班员 duty officer 08",
            reason="elderly resident on oxygen, son pays tomorrow",
        )
        await campus.step(dt.timedelta(minutes=1))
        on_after_order = meter.relay_closed
        await campus.step(dt.timedelta(hours=6))

        assert on_after_order
        assert meter.relay_closed  # still on, in arrears, while the order lasts
        assert campus.balance_fen(resident.number) < 0
        assert campus.relay_commands(resident.number)[-1] == ("CLOSE", "KEEP_POWER", "CONFIRMED")
        orders = campus.rows("SELECT ordered_by, reason FROM keep_power_orders")
        assert [tuple(row) for row in orders] == [
            ("值班员 duty officer 08", "elderly resident on oxygen, son pays tomorrow")
        ]
