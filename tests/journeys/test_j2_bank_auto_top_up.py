"""Journey 2 (P3, N1): a bank auto top-up when the balance falls below the threshold, at most
once a day, each with its text."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.domain.values import SHANGHAI

MONDAY_MORNING = dt.datetime(2025, 3, 10, 9, 0, tzinfo=SHANGHAI)
QUARTER = dt.timedelta(minutes=15)


async def test_bank_auto_top_up_at_most_once_a_day_with_its_text(engine: Engine) -> None:
    # Threshold 20 yuan, amount 30 yuan: a 9 kW heater (about 5 yuan an hour) brings the
    # balance under the threshold again within the day; the bank is not asked again that day.
    (resident,) = residents(2_100, heater_w=9_000)
    async with world(engine, [resident], start=MONDAY_MORNING) as campus:
        await campus.sign_agreement(resident, threshold_fen=2_000, amount_fen=3_000, card_yuan=500)

        await campus.until(lambda: len(campus.bank_gateway.requests) == 1, step=QUARTER)
        await campus.step(QUARTER)
        after_first = campus.balance_fen(resident.number)
        await campus.until(lambda: campus.balance_fen(resident.number) < 2_000, step=QUARTER)
        first_day = campus.clock.now().astimezone(SHANGHAI).date()
        await campus.until(
            lambda: campus.clock.now().astimezone(SHANGHAI).date() > first_day, step=QUARTER
        )
        requests_on_first_day = len([r for r in campus.bank_gateway.requests if r.day == first_day])
        await campus.until(lambda: len(campus.bank_gateway.requests) == 2, step=QUARTER)
        await campus.step(QUARTER)

        assert after_first >= 2_000 + 3_000 - 400  # the top-up, less half an hour of heating
        assert requests_on_first_day == 1
        days = [request.day for request in campus.bank_gateway.requests]
        assert days == [first_day, first_day + dt.timedelta(days=1)]
        top_ups = campus.rows("SELECT channel, amount_fen FROM payments ORDER BY id")
        assert [tuple(row) for row in top_ups] == [("BANK_AUTO", 3_000), ("BANK_AUTO", 3_000)]
        texts = campus.texts_to(resident)
        assert sum("30.00" in text for text in texts) == 2  # one text per top-up
        assert campus.bank.cards[f"CARD-{resident.number}"].balance.fen == 50_000 - 6_000
        check = await campus.statements_check("2025-03")
        assert check, check
        assert check.statements_total == check.journal_total
        assert check.journal_total.fen > 0
