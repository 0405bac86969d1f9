"""P1: staff take cash at the counter during working hours; outside them it is closed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer

from wattbook.application.payments import counter
from wattbook.domain import payments
from wattbook.domain.values import Money, Period


class TestP1Counter:
    async def test_credits_cash_with_operator_and_numbered_receipts(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9, 15)))  # a Tuesday
        await home.open()

        first = await home.at_counter(5000)
        second = await home.at_counter(2000)

        assert str(first.payment.receipt_number) == "CT20250610000001"
        assert str(second.payment.receipt_number) == "CT20250610000002"
        assert first.payment.operator == "窗口 王丽"
        assert first.holder_masked == "张*"
        assert second.payment.balance_after == Money(fen=7000)
        assert home.balance_fen() == home.journal_fen() == 7000

    async def test_a_resubmitted_form_returns_the_first_receipt(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9, 15)))
        await home.open()

        first = await home.at_counter(5000, reference="FORM-A")
        again = await home.at_counter(5000, reference="FORM-A")

        assert again.payment.receipt_number == first.payment.receipt_number
        assert home.balance_fen() == 5000

    async def test_the_same_form_token_for_other_money_is_refused(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 9, 15)))
        await home.open()
        await home.at_counter(5000, reference="FORM-A")

        with pytest.raises(payments.DuplicatePayment):
            await home.at_counter(6000, reference="FORM-A")

    @pytest.mark.parametrize(
        "at",
        [
            local(2025, 6, 10, 7, 59),  # before opening
            local(2025, 6, 10, 12, 0),  # lunch starts
            local(2025, 6, 10, 17, 30),  # closing time
            local(2025, 6, 14, 10, 0),  # a Saturday
            local(2025, 10, 1, 10, 0),  # National Day, a Wednesday
        ],
    )
    async def test_refuses_outside_working_hours(self, engine: Engine, at: object) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 1, 9)))
        await home.open()
        home.clock.set(at)  # type: ignore[arg-type]

        with pytest.raises(payments.CounterClosed, match="closed"):
            await home.at_counter(5000)

        assert home.balance_fen() == 0

    async def test_opens_on_an_adjusted_working_saturday(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 9, 27, 10)))  # 调休: Saturday 2025-09-28
        await home.open()
        home.clock.set(local(2025, 9, 28, 10))

        receipt = await home.at_counter(5000)

        assert receipt.payment.amount == Money(fen=5000)

    async def test_an_administrator_can_open_it_outside_hours(self, engine: Engine) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 14, 9)))  # Saturday
        await home.open()
        await counter.open_counter(
            uow=home.uow(),
            clock=home.clock,
            period=Period(start_at=home.clock.now(), end_at=home.clock.now() + timedelta(hours=2)),
            opened_by="admin 李",
            reason="typhoon week backlog",
        )

        receipt = await home.at_counter(5000)
        home.clock.advance(timedelta(hours=2))

        assert receipt.payment.amount == Money(fen=5000)
        with pytest.raises(payments.CounterClosed):
            await home.at_counter(100)
        assert home.rows("SELECT action, actor FROM payment_audit") == [
            ("payments.counter.opened", "admin 李")
        ]
