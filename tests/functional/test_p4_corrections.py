"""P4: a mistaken top-up is moved or refunded at the counter with the receipt and an ID."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer

from wattbook.application.payments import corrections
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber

ID = payments.IdentityShown(document_type="居民身份证", number_masked="320311********1234")
WRONG = "051600001234"
RIGHT = "051600005678"


async def two_homes(engine: Engine) -> tuple[Payer, Payer]:
    clock = FakeClock(local(2025, 6, 10, 9))
    wrong, right = Payer(engine, clock, WRONG), Payer(engine, clock, RIGHT)
    await wrong.open()
    await right.open()
    return wrong, right


class TestP4Corrections:
    async def test_moves_a_top_up_to_the_right_account(self, engine: Engine) -> None:
        wrong, _right = await two_homes(engine)
        paid = await wrong.at_kiosk(5000, transaction_id="K01-mistake1")
        assert paid.receipt is not None
        number = str(paid.receipt.payment.receipt_number)

        moved = await corrections.move_top_up(
            uow=wrong.uow(),
            clock=wrong.clock,
            receipt_number=number,
            to=AccountNumber(value=RIGHT),
            operator="窗口 王丽",
            identity=ID,
            reason="typed the neighbour's number",
        )

        assert moved.payment.account_number == AccountNumber(value=RIGHT)
        assert str(moved.payment.receipt_number) == "CT20250610000002"
        assert wrong.rows(
            "SELECT a.account_number, b.balance_fen FROM balances b JOIN accounts a"
            " ON a.id = b.account_id ORDER BY 1"
        ) == [(WRONG, 0), (RIGHT, 5000)]
        assert wrong.rows("SELECT kind, amount_fen FROM ledger_entries ORDER BY id") == [
            ("TOP_UP", 5000),
            ("CORRECTION", -5000),
            ("TOP_UP", 5000),
        ]
        (audit,) = wrong.rows("SELECT action, actor, receipt_number, detail FROM payment_audit")
        assert audit[:3] == ("payments.top-up.moved", "窗口 王丽", number)
        assert "320311********1234" in audit[3]
        with pytest.raises(payments.CannotCorrect):
            await corrections.refund_top_up(
                uow=wrong.uow(),
                clock=wrong.clock,
                receipt_number=number,
                operator="窗口 王丽",
                identity=ID,
                reason="again",
            )

    async def test_refunds_and_reprints(self, engine: Engine) -> None:
        wrong, _right = await two_homes(engine)
        paid = await wrong.at_counter(3000)
        number = str(paid.payment.receipt_number)

        refund = await corrections.refund_top_up(
            uow=wrong.uow(),
            clock=wrong.clock,
            receipt_number=number,
            operator="窗口 王丽",
            identity=ID,
            reason="paid twice",
        )
        reprint = await corrections.reprint_receipt(
            uow=wrong.uow(), clock=wrong.clock, receipt_number=number, operator="窗口 王丽"
        )

        assert refund.payment.kind is payments.PaymentKind.REFUND
        assert refund.payment.corrects_receipt == number
        assert reprint.reprint
        assert reprint.payment.receipt_number == paid.payment.receipt_number
        assert wrong.balance_fen() == wrong.journal_fen() == 0
        assert [r[0] for r in wrong.rows("SELECT action FROM payment_audit ORDER BY id")] == [
            "payments.top-up.refunded",
            "payments.receipt.reprinted",
        ]

    async def test_needs_an_id_and_a_real_receipt(self, engine: Engine) -> None:
        wrong, _right = await two_homes(engine)

        with pytest.raises(payments.IdentityRequired):
            payments.IdentityShown(document_type="", number_masked="")
        with pytest.raises(payments.UnknownReceipt):
            await corrections.refund_top_up(
                uow=wrong.uow(),
                clock=wrong.clock,
                receipt_number="CT20250610000099",
                operator="窗口 王丽",
                identity=ID,
                reason="no such",
            )
