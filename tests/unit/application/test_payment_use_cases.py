"""Counter, corrections, records and bank auto top-up, on the fakes (P1, P3, P4, P5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes import FakeBankGateway
from tests.functional.household import local
from tests.unit.application.world import World

from wattbook.application import alarm_ports
from wattbook.application.accounts import ports as account_ports
from wattbook.application.payments import Receipt, bank, corrections, counter, records
from wattbook.application.payments import ports as payment_ports
from wattbook.domain import payments
from wattbook.domain.values import SHANGHAI, AccountNumber, Money, Period

OPERATOR = "窗口 王丽"
IDENTITY = payments.IdentityShown(document_type="身份证", number_masked="3203**********1234")


async def pay(world: World, account: AccountNumber, fen: int, reference: str) -> Receipt:
    return await counter.pay_at_counter(
        uow=world.uow(),
        clock=world.clock,
        number=account,
        amount=Money(fen=fen),
        operator=OPERATOR,
        reference=reference,
    )


class TestPayAtCounter:
    async def test_credits_the_cash_and_numbers_the_receipt_by_channel_and_day(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)

        first = await pay(world, account, 5_000, "FORM-1")
        second = await pay(world, account, 1_000, "FORM-2")

        assert [str(r.payment.receipt_number) for r in (first, second)] == [
            "CT20250610000001",
            "CT20250610000002",
        ]
        assert world.balance_fen(account) == 6_000

    async def test_the_same_form_twice_returns_the_first_receipt_and_credits_once(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)
        first = await pay(world, account, 5_000, "FORM-1")

        again = await pay(world, account, 5_000, "FORM-1")

        assert again.payment.receipt_number == first.payment.receipt_number
        assert world.balance_fen(account) == 5_000

    async def test_a_closed_counter_takes_no_money(self) -> None:
        world = World(at=local(2025, 6, 10, 12, 30))  # lunch break
        account = await world.household(1, opening_fen=0)

        with pytest.raises(payments.CounterClosed):
            await pay(world, account, 5_000, "FORM-1")

        assert world.balance_fen(account) == 0

    async def test_an_administrators_opening_lets_it_take_money(self) -> None:
        world = World(at=local(2025, 6, 10, 12, 30))
        account = await world.household(1, opening_fen=0)
        await counter.open_counter(
            uow=world.uow(),
            clock=world.clock,
            period=Period(
                start_at=world.clock.now(), end_at=world.clock.now() + timedelta(hours=1)
            ),
            opened_by="管理员 李",
            reason="停电后补缴",
        )

        await pay(world, account, 5_000, "FORM-1")

        assert world.balance_fen(account) == 5_000
        assert [a.action for a in world.db.tables.audit] == ["payments.counter.opened"]

    async def test_an_opening_without_an_end_is_refused(self) -> None:
        world = World()

        with pytest.raises(ValueError, match="ends"):
            await counter.open_counter(
                uow=world.uow(),
                clock=world.clock,
                period=Period(start_at=world.clock.now(), end_at=None),
                opened_by="管理员 李",
                reason="x",
            )

        assert world.db.tables.counter_openings == []


class TestCorrections:
    async def test_a_refund_reverses_the_top_up_and_is_audited(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)
        paid = await pay(world, account, 5_000, "FORM-1")

        await corrections.refund_top_up(
            uow=world.uow(),
            clock=world.clock,
            receipt_number=str(paid.payment.receipt_number),
            operator=OPERATOR,
            identity=IDENTITY,
            reason="多缴",
        )

        assert world.balance_fen(account) == 0
        assert [p.payment.kind for p in world.db.tables.payments] == [
            payments.PaymentKind.TOP_UP,
            payments.PaymentKind.REFUND,
        ]
        assert len(world.db.tables.audit) == 1

    async def test_a_move_takes_the_money_to_the_other_account_once(self) -> None:
        world = World()
        wrong = await world.household(1, opening_fen=0)
        right = await world.household(2, opening_fen=0)
        paid = await pay(world, wrong, 5_000, "FORM-1")
        receipt_number = str(paid.payment.receipt_number)

        await corrections.move_top_up(
            uow=world.uow(),
            clock=world.clock,
            receipt_number=receipt_number,
            to=right,
            operator=OPERATOR,
            identity=IDENTITY,
            reason="户号填错",
        )
        with pytest.raises(payments.CannotCorrect):
            await corrections.move_top_up(
                uow=world.uow(),
                clock=world.clock,
                receipt_number=receipt_number,
                to=right,
                operator=OPERATOR,
                identity=IDENTITY,
                reason="户号填错",
            )

        assert (world.balance_fen(wrong), world.balance_fen(right)) == (0, 5_000)

    async def test_an_unknown_receipt_cannot_be_reprinted(self) -> None:
        world = World()

        with pytest.raises(payments.UnknownReceipt):
            await corrections.reprint_receipt(
                uow=world.uow(),
                clock=world.clock,
                receipt_number="CT20250610000009",
                operator=OPERATOR,
            )


class TestPaymentRecords:
    async def test_counts_the_cumulative_paid_and_the_amount_owed(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=0)
        await world.use(account, 2_000)  # -1.06 yuan: in arrears
        await pay(world, account, 5_000, "FORM-1")
        await pay(world, account, 1_000, "FORM-2")

        found = await records.payment_records(uow=world.uow(), number=account)

        assert [(r.amount_due.fen, r.amount_paid.fen, r.cumulative_paid.fen) for r in found] == [
            (106, 5_000, 5_000),
            (0, 1_000, 6_000),
        ]

    async def test_an_unknown_account_has_no_records(self) -> None:
        world = World()

        with pytest.raises(account_ports.UnknownAccount):
            await records.payment_records(
                uow=world.uow(), number=AccountNumber(value="051600000009")
            )


def agreement(account: AccountNumber, *, signed_on: object) -> payments.Agreement:
    return payments.Agreement(
        agreement_number="AG0001",
        holder="张三",
        id_number_masked=payments.mask_id_number("320311199001011234"),
        card_token="TOKEN-AG0001",  # noqa: S106 - a test token
        card_masked=payments.mask_card("6217000011112222333"),
        phone="13800138000",
        account_numbers=(account,),
        threshold=Money(fen=2_000),
        amount=Money(fen=5_000),
        signed_on=signed_on,  # type: ignore[arg-type]
    )


class TestAutoTopUp:
    async def _signed(self, world: World, opening_fen: int) -> AccountNumber:
        account = await world.household(1, opening_fen=opening_fen)
        await bank.register_agreement(
            uow=world.uow(),
            clock=world.clock,
            agreement=agreement(account, signed_on=world.clock.now().astimezone(SHANGHAI).date()),
        )
        return account

    async def test_debits_once_a_day_and_credits_once_on_the_banks_word(self) -> None:
        world = World()
        account = await self._signed(world, opening_fen=1_000)
        gateway = FakeBankGateway()

        run = await bank.run_auto_top_up(uow_factory=world.db, clock=world.clock, bank=gateway)
        again = await bank.run_auto_top_up(uow_factory=world.db, clock=world.clock, bank=gateway)
        (debit,) = run.requested
        callback = payments.BankCallback(
            serial="S1",
            debit_id=debit.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=debit.amount,
            at=world.clock.now(),
        )
        settled = await bank.settle_bank_callbacks(
            uow=world.uow(), clock=world.clock, callbacks=[callback]
        )
        replay = await bank.settle_bank_callbacks(
            uow=world.uow(), clock=world.clock, callbacks=[callback]
        )

        assert [r.debit_id for r in gateway.requests] == [debit.debit_id]
        assert again.requested == ()
        assert settled[0].settlement is payments.Settlement.CREDIT
        assert replay[0].receipt_number == settled[0].receipt_number
        assert world.balance_fen(account) == 6_000
        assert world.sms_kinds()[-1] == "AUTO_TOP_UP_SUCCEEDED"

    async def test_a_bank_offline_leaves_the_debit_to_send_next_run(self) -> None:
        world = World()
        await self._signed(world, opening_fen=1_000)
        gateway = FakeBankGateway()
        gateway.unavailable = True

        first = await bank.run_auto_top_up(uow_factory=world.db, clock=world.clock, bank=gateway)
        gateway.unavailable = False
        second = await bank.run_auto_top_up(uow_factory=world.db, clock=world.clock, bank=gateway)

        assert (len(first.requested), first.sent) == (1, ())
        assert second.sent == (first.requested[0].debit_id,)

    async def test_a_callback_for_a_debit_never_requested_is_refused(self) -> None:
        world = World()
        await self._signed(world, opening_fen=1_000)

        with pytest.raises(payments.UnknownDebit):
            await bank.settle_bank_callbacks(
                uow=world.uow(),
                clock=world.clock,
                callbacks=[
                    payments.BankCallback(
                        serial="S1",
                        debit_id="NOPE",
                        status=payments.DebitStatus.SUCCEEDED,
                        amount=Money(fen=5_000),
                        at=world.clock.now(),
                    )
                ],
            )

        assert world.db.tables.payments == []

    async def test_a_cancelled_agreement_debits_no_more(self) -> None:
        world = World()
        await self._signed(world, opening_fen=1_000)

        cancelled = await bank.cancel_agreement(
            uow=world.uow(), clock=world.clock, agreement_number="AG0001"
        )
        run = await bank.run_auto_top_up(
            uow_factory=world.db, clock=world.clock, bank=FakeBankGateway()
        )

        assert cancelled.cancelled_on is not None
        assert run.requested == ()

    async def test_the_statement_of_a_credited_day_reconciles_cleanly(self) -> None:
        world = World()
        await self._signed(world, opening_fen=1_000)
        run = await bank.run_auto_top_up(
            uow_factory=world.db, clock=world.clock, bank=FakeBankGateway()
        )
        (debit,) = run.requested
        await bank.settle_bank_callbacks(
            uow=world.uow(),
            clock=world.clock,
            callbacks=[
                payments.BankCallback(
                    serial="S1",
                    debit_id=debit.debit_id,
                    status=payments.DebitStatus.SUCCEEDED,
                    amount=debit.amount,
                    at=world.clock.now(),
                )
            ],
        )
        line = payments.StatementLine(
            serial="S1",
            debit_id=debit.debit_id,
            account_number=debit.account_number,
            amount=debit.amount,
            status=payments.DebitStatus.SUCCEEDED,
        )

        clean = await bank.reconcile_bank_statement(
            uow=world.uow(), day=debit.day, statement=[line]
        )
        missing = await bank.reconcile_bank_statement(uow=world.uow(), day=debit.day, statement=[])

        assert clean == ()
        assert len(missing) == 1


class TestBankAlarms:
    async def test_a_refused_callback_opens_one_alarm_however_often_it_comes(self) -> None:
        world = World()
        callback = payments.BankCallback(
            serial="S-REFUSED",
            debit_id="D20250610051600000001",
            status=payments.DebitStatus.SUCCEEDED,
            amount=Money(fen=5_000),
            at=world.clock.now(),
        )
        error = payments.UnknownDebit(callback.debit_id)

        first = await bank.report_refused_callback(
            uow=world.uow(), clock=world.clock, callback=callback, error=error
        )
        again = await bank.report_refused_callback(
            uow=world.uow(), clock=world.clock, callback=callback, error=error
        )

        async with world.uow() as uow:
            alarms = await uow.alarms.alarms()
        assert (first, again) == (True, False)
        assert [(a.kind, a.subject) for a in alarms] == [
            (alarm_ports.AlarmKind.BANK_CALLBACK_REFUSED, "S-REFUSED")
        ]

    async def test_a_debit_left_unanswered_raises_an_alarm_until_the_bank_answers(self) -> None:
        world = World()
        account = await TestAutoTopUp()._signed(world, opening_fen=1_000)
        gateway = FakeBankGateway()
        (debit,) = (
            await bank.run_auto_top_up(uow_factory=world.db, clock=world.clock, bank=gateway)
        ).requested
        world.clock.advance(payments.DEBIT_ANSWER_DUE + timedelta(minutes=1))

        overdue = await bank.run_auto_top_up(uow_factory=world.db, clock=world.clock, bank=gateway)
        await bank.settle_bank_callbacks(
            uow=world.uow(),
            clock=world.clock,
            callbacks=[
                payments.BankCallback(
                    serial="S-LATE",
                    debit_id=debit.debit_id,
                    status=payments.DebitStatus.SUCCEEDED,
                    amount=debit.amount,
                    at=world.clock.now(),
                )
            ],
        )
        answered = await bank.run_auto_top_up(uow_factory=world.db, clock=world.clock, bank=gateway)

        async with world.uow() as uow:
            still_open = await uow.alarms.alarms()
        assert [d.debit_id for d in overdue.unanswered] == [debit.debit_id]
        assert answered.unanswered == ()
        assert still_open == ()
        assert world.balance_fen(account) == 6_000


class TestNewPayment:
    def test_a_counter_payment_without_its_operator_is_refused_as_such(self) -> None:
        # It used to reach the database's CHECK and come back as a "duplicate" payment.
        with pytest.raises(ValueError, match="operator"):
            payment_ports.NewPayment(
                entry_reference="E1",
                channel=payments.Channel.COUNTER,
                channel_reference="FORM-1",
                kind=payments.PaymentKind.TOP_UP,
            )
