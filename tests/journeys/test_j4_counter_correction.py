"""Journey 4 (P4, A4): a resident tops up the wrong account at the kiosk; at the counter, with
the receipt and an ID, a cashier moves the top-up to the right account in the staff console;
the power of the right account comes back, and both sides of the move are recorded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from tests.journeys.world import residents, world

from wattbook.domain.values import SHANGHAI

TUESDAY_MORNING = dt.datetime(2025, 3, 11, 9, 0, tzinfo=SHANGHAI)
REASON = "typed the neighbour's meter number at the kiosk"


async def test_a_counter_correction(engine: Engine) -> None:
    payer, stranger = residents(-300, 20_000, heater_w=0)
    async with world(engine, [payer, stranger], start=TUESDAY_MORNING) as campus:
        await campus.step(dt.timedelta(minutes=5))
        payer_off = not campus.meter(payer.number).relay_closed
        receipt = await campus.pay_at_kiosk(stranger.number, 10_000)
        await campus.step(dt.timedelta(minutes=5))
        stranger_before = campus.balance_fen(stranger.number)
        payer_before = campus.balance_fen(payer.number)

        async with campus.console("cashier") as cashier:
            moved = await cashier.post(
                "/counter/move",
                receipt_number=receipt["receipt"]["number"],
                to=payer.number,
                document_type="ID card",
                document_number="110101197001010011",
                reason=REASON,
            )
        await campus.step(dt.timedelta(minutes=1))

        assert payer_off  # in arrears on a working day: cut
        assert moved.status_code in (200, 303), moved.text[:800]
        assert campus.balance_fen(stranger.number) == stranger_before - 10_000
        assert campus.balance_fen(payer.number) == payer_before + 10_000
        assert campus.meter(payer.number).relay_closed  # the moved money brings the power back
        kinds = campus.rows("SELECT kind, amount_fen, operator FROM payments ORDER BY id")
        assert [tuple(row) for row in kinds] == [
            ("TOP_UP", 10_000, None),
            ("MOVE_OUT", -10_000, "cashier"),
            ("MOVE_IN", 10_000, "cashier"),
        ]
        audit = campus.rows(
            "SELECT actor, detail FROM audit_log WHERE action = 'payments.top-up.moved'"
        )
        assert [row[0] for row in audit] == ["cashier"]
        balances_off_journal = campus.rows(
            "SELECT COUNT(*) FROM balances b WHERE b.balance_fen <> "
            "(SELECT COALESCE(SUM(e.amount_fen), 0) FROM ledger_entries e "
            "WHERE e.account_id = b.account_id)"
        )
        assert balances_off_journal[0][0] == 0
