"""Journey 6 (A3, A4): the 24-hour line gets a household's power back: an engineer orders the
emergency power-back in the staff console, with the reason; the relay closes through the
head-end, the power stays on while the order lasts, and who did it and why are recorded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.domain.values import SHANGHAI

MONDAY_MORNING = dt.datetime(2025, 3, 10, 9, 0, tzinfo=SHANGHAI)
QUARTER = dt.timedelta(minutes=15)
REASON = "elderly resident on oxygen, son pays tomorrow"


async def test_an_operators_emergency_power_back(engine: Engine) -> None:
    (resident,) = residents(150)
    async with world(engine, [resident], start=MONDAY_MORNING) as campus:
        meter = campus.meter(resident.number)
        await campus.until(
            lambda: ("TRIP", "ARREARS", "CONFIRMED") in campus.relay_commands(resident.number),
            step=QUARTER,
        )

        async with campus.console("viewer") as viewer:
            refused = await viewer.post(
                f"/meters/{resident.number}/power-back", reason=REASON, hours="24"
            )
        async with campus.console("engineer") as engineer:
            ordered = await engineer.post(
                f"/meters/{resident.number}/power-back", reason=REASON, hours="24"
            )
        await campus.step(dt.timedelta(minutes=1))
        on_after_order = meter.relay_closed
        await campus.step(dt.timedelta(hours=6))

        assert refused.status_code == 403
        assert ordered.status_code == 303, ordered.text[:500]
        assert on_after_order
        assert meter.relay_closed  # still on, in arrears, while the order lasts
        assert campus.balance_fen(resident.number) < 0
        assert campus.relay_commands(resident.number)[-1] == ("CLOSE", "KEEP_POWER", "CONFIRMED")
        orders = campus.rows("SELECT ordered_by, reason FROM keep_power_orders")
        assert [tuple(row) for row in orders] == [("engineer", REASON)]
        audit = campus.rows(
            "SELECT actor, action, target, detail FROM audit_log "
            "WHERE action = 'prepaid.power-back.ordered'"
        )
        assert [tuple(row) for row in audit] == [
            ("engineer", "prepaid.power-back.ordered", resident.number, REASON)
        ]
