"""P5: payment records with business type, amounts due and paid, balance, method, cumulative."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer

from wattbook.application.payments import corrections, records
from wattbook.domain import payments
from wattbook.domain.values import Money

ID = payments.IdentityShown(document_type="居民身份证", number_masked="320311********1234")


class TestP5PaymentRecords:
    async def test_lists_every_channel_with_cumulative_amounts(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 9, 8)))
        await home.open(opening=Money(fen=300))
        await home.use(8000)  # -123 fen
        home.clock.set(local(2025, 6, 9, 10))
        await home.at_counter(1000)
        home.clock.set(local(2025, 6, 10, 21))
        paid = await home.at_kiosk(2000, transaction_id="K01-records1")
        assert paid.receipt is not None
        home.clock.set(local(2025, 6, 11, 9))
        await corrections.refund_top_up(
            uow=home.uow(),
            clock=home.clock,
            receipt_number=str(paid.receipt.payment.receipt_number),
            operator="窗口 王丽",
            identity=ID,
            reason="wrong amount",
        )

        all_records = await records.payment_records(uow=home.uow(), number=home.number)
        from_10th = await records.payment_records(
            uow=home.uow(), number=home.number, first_date=date(2025, 6, 10)
        )

        assert [
            (
                r.kind,
                r.channel,
                r.at_date.day,
                r.amount_due.fen,
                r.amount_paid.fen,
                r.balance_after.fen,
                r.cumulative_paid.fen,
            )
            for r in all_records
        ] == [
            (payments.PaymentKind.TOP_UP, payments.Channel.COUNTER, 9, 123, 1000, 877, 1000),
            (payments.PaymentKind.TOP_UP, payments.Channel.KIOSK, 10, 0, 2000, 2877, 3000),
            (payments.PaymentKind.REFUND, payments.Channel.COUNTER, 11, 0, -2000, 877, 1000),
        ]
        assert [r.cumulative_paid.fen for r in from_10th] == [3000, 1000]
