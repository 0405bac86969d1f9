"""Journey 1 (B4, B5, B6, P2): a resident runs low and gets the text, gets the warning cut and
the power back two minutes later, goes below zero and is cut, tops up at the kiosk and the
power comes back."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.domain.values import SHANGHAI

MONDAY_NOON = dt.datetime(2025, 3, 10, 12, 0, tzinfo=SHANGHAI)
QUARTER = dt.timedelta(minutes=15)
MINUTE = dt.timedelta(minutes=1)


async def test_low_text_warning_cut_arrears_trip_and_kiosk_close(engine: Engine) -> None:
    # 11.20 yuan: just above 20 kWh's worth (10.57); a 3 kW heater spends 1.58 yuan an hour.
    (resident,) = residents(1_120)
    async with world(engine, [resident], start=MONDAY_NOON) as campus:
        meter = campus.meter(resident.number)

        await campus.until(lambda: bool(campus.texts_to(resident)), step=QUARTER)
        low_text = campus.texts_to(resident)[0]
        await campus.until(lambda: campus.balance_fen(resident.number) < 400, step=QUARTER)
        await campus.until(lambda: not meter.relay_closed, step=MINUTE)
        cut_at = campus.clock.now()
        await campus.until(lambda: meter.relay_closed, step=MINUTE)
        back_after = campus.clock.now() - cut_at
        await campus.until(lambda: not meter.relay_closed, step=QUARTER)
        balance_at_trip = campus.balance_fen(resident.number)
        receipt = await campus.pay_at_kiosk(resident.number, 5_000, 2_000)
        await campus.step(MINUTE)

        assert resident.number in low_text
        assert dt.timedelta(minutes=2) <= back_after <= dt.timedelta(minutes=3)
        assert balance_at_trip < 0
        assert receipt["receipt"]["amount"] == "70.00"
        assert meter.relay_closed
        assert campus.balance_fen(
            resident.number
        ) == balance_at_trip + 7_000 - campus.charged_since(
            resident.number, receipt["receipt"]["number"]
        )
        assert campus.relay_commands(resident.number) == [
            ("TRIP", "WARNING_CUT", "CONFIRMED"),
            ("CLOSE", "WARNING_CUT_ENDED", "CONFIRMED"),
            ("TRIP", "ARREARS", "CONFIRMED"),
            ("CLOSE", "ARREARS_CLEARED", "CONFIRMED"),
        ]
        assert [kind for (kind,) in campus.rows("SELECT kind FROM sms_outbox ORDER BY id")] == [
            "LOW_BALANCE",
            "CUT_OFF",
            "POWER_RESTORED",
        ]
        # The demo's feed tells the same story.
        told = [(item.kind.value, item.code) for item in await campus.feed(MONDAY_NOON)]
        assert ("SMS_SENT", "LOW_BALANCE") in told
        assert ("RELAY_TRIPPED", "WARNING_CUT") in told
        assert ("RELAY_CLOSED", "WARNING_CUT_ENDED") in told
        assert ("RELAY_TRIPPED", "ARREARS") in told
        assert ("PAYMENT", "KIOSK/TOP_UP") in told
        assert ("RELAY_CLOSED", "ARREARS_CLEARED") in told
