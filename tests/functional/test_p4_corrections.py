"""P4: a mistaken top-up is moved or refunded at the counter with the receipt and an ID."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer

from wattbook.application.payments import Receipt, corrections, counter
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Period

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
        (audit,) = wrong.rows(
            "SELECT action, actor, receipt_number, detail FROM payment_audit"
            " WHERE receipt_number IS NOT NULL"
        )
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
        assert [
            r[0]
            for r in wrong.rows(
                "SELECT action FROM payment_audit"
                " WHERE action NOT LIKE 'payments.kiosk.%' ORDER BY id"
            )
        ] == [
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


Correction = Callable[[Payer, str], Awaitable[Receipt]]


async def move(home: Payer, number: str) -> Receipt:
    return await corrections.move_top_up(
        uow=home.uow(),
        clock=home.clock,
        receipt_number=number,
        to=AccountNumber(value=RIGHT),
        operator="窗口 王丽",
        identity=ID,
        reason="typed the neighbour's number",
    )


async def refund(home: Payer, number: str) -> Receipt:
    return await corrections.refund_top_up(
        uow=home.uow(),
        clock=home.clock,
        receipt_number=number,
        operator="窗口 王丽",
        identity=ID,
        reason="paid twice",
    )


async def reprint(home: Payer, number: str) -> Receipt:
    return await corrections.reprint_receipt(
        uow=home.uow(), clock=home.clock, receipt_number=number, operator="窗口 王丽"
    )


CORRECTIONS = [
    pytest.param(move, id="move"),
    pytest.param(refund, id="refund"),
    pytest.param(reprint, id="reprint"),
]


async def paid_at_kiosk(engine: Engine) -> tuple[Payer, str]:
    wrong, _right = await two_homes(engine)
    paid = await wrong.at_kiosk(5000, transaction_id="K01-hours1")
    assert paid.receipt is not None
    return wrong, str(paid.receipt.payment.receipt_number)


class TestP4CorrectionsKeepCounterHours:
    @pytest.mark.parametrize("correct", CORRECTIONS)
    @pytest.mark.parametrize(
        "at",
        [
            local(2025, 6, 11, 7, 59),  # before opening, a Wednesday
            local(2025, 6, 11, 12, 0),  # lunch starts
            local(2025, 6, 11, 17, 30),  # closing time
            local(2025, 6, 11, 23, 0),  # night
            local(2025, 6, 14, 10, 0),  # a Saturday
            local(2025, 10, 1, 10, 0),  # National Day, a Wednesday
        ],
    )
    async def test_refused_outside_working_hours_and_change_nothing(
        self, engine: Engine, correct: Correction, at: datetime
    ) -> None:
        home, number = await paid_at_kiosk(engine)
        home.clock.set(at)

        with pytest.raises(payments.CounterClosed, match="closed"):
            await correct(home, number)

        assert home.rows("SELECT kind, amount_fen FROM ledger_entries ORDER BY id") == [
            ("TOP_UP", 5000)
        ]
        assert home.rows("SELECT COUNT(*) FROM payments") == [(1,)]
        assert home.rows(
            "SELECT COUNT(*) FROM payment_audit WHERE action NOT LIKE 'payments.kiosk.%'"
        ) == [(0,)]
        assert home.rows(
            "SELECT a.account_number, b.balance_fen FROM balances b JOIN accounts a"
            " ON a.id = b.account_id ORDER BY 1"
        ) == [(WRONG, 5000), (RIGHT, 0)]

    @pytest.mark.parametrize("correct", CORRECTIONS)
    async def test_allowed_on_an_adjusted_working_saturday(
        self, engine: Engine, correct: Correction
    ) -> None:
        home, number = await paid_at_kiosk(engine)
        home.clock.set(local(2025, 9, 28, 10))  # 调休: Saturday 2025-09-28 is a working day

        await correct(home, number)

        ((action, detail),) = home.rows(
            "SELECT action, detail FROM payment_audit WHERE receipt_number IS NOT NULL"
        )
        assert action.startswith("payments.")
        assert "out of hours" not in detail

    @pytest.mark.parametrize("correct", CORRECTIONS)
    async def test_an_administrator_opening_allows_it_and_is_recorded(
        self, engine: Engine, correct: Correction
    ) -> None:
        home, number = await paid_at_kiosk(engine)
        home.clock.set(local(2025, 6, 14, 9))  # Saturday
        await counter.open_counter(
            uow=home.uow(),
            clock=home.clock,
            period=Period(start_at=home.clock.now(), end_at=home.clock.now() + timedelta(hours=2)),
            opened_by="admin 李",
            reason="typhoon week backlog",
        )
        home.clock.advance(timedelta(minutes=30))

        await correct(home, number)
        home.clock.advance(timedelta(hours=2))

        opened, corrected = home.rows(
            "SELECT action, actor, detail FROM payment_audit"
            " WHERE action NOT LIKE 'payments.kiosk.%' ORDER BY id"
        )
        assert opened[:2] == ("payments.counter.opened", "admin 李")
        assert corrected[1] == "窗口 王丽"
        assert "out of hours, counter opened by admin 李" in corrected[2]
        assert "typhoon week backlog" in corrected[2]
        with pytest.raises(payments.CounterClosed):
            await reprint(home, number)
