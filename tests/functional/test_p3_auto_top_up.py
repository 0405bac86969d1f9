"""P3: bank auto top-up: once a day below the threshold, callbacks credited exactly once."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer

from wattbook.application import alarm_ports
from wattbook.application.billing import reconcile
from wattbook.application.payments import bank
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money


async def tripped_home(engine: Engine) -> Payer:
    home = Payer(engine, FakeClock(local(2025, 6, 10, 8)))
    await home.open(opening=Money(fen=1500))
    return home


class TestP3AutoTopUp:
    async def test_debits_once_a_day_below_the_threshold(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement(threshold_fen=2000, amount_fen=5000))

        first = await home.run_auto_top_up()
        second = await home.run_auto_top_up()
        (debit,) = first.requested
        await home.callback(home.failure(debit, "F-1", payments.DebitStatus.INSUFFICIENT_FUNDS))
        same_day = await home.run_auto_top_up()
        home.clock.advance(timedelta(days=1))
        next_day = await home.run_auto_top_up()

        assert [d.debit_id for d in first.requested] == ["D20250610051600001234"]
        assert first.sent == ("D20250610051600001234",)
        assert second.requested == second.sent == same_day.requested == ()
        assert [d.debit_id for d in next_day.requested] == ["D20250611051600001234"]
        assert [d.amount for d in home.bank.requests] == [Money(fen=5000)] * 2

    async def test_no_new_debit_while_the_last_one_awaits_the_bank(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement(threshold_fen=2000, amount_fen=5000))
        (pending,) = (await home.run_auto_top_up()).requested
        home.clock.advance(timedelta(days=1))

        held = await home.run_auto_top_up()
        (late,) = await home.callback(home.success(pending, "BANK-LATE"))
        after = await home.run_auto_top_up()

        assert held.requested == held.sent == held.unsent == ()
        assert [d.debit_id for d in held.held] == ["D20250610051600001234"]
        assert late.settlement is payments.Settlement.CREDIT
        assert after.requested == after.held == ()
        assert [d.debit_id for d in home.bank.requests] == ["D20250610051600001234"]
        assert home.balance_fen() == home.journal_fen() == 1500 + 5000

    async def test_a_debit_the_bank_never_answers_raises_an_alarm_until_it_does(
        self, engine: Engine
    ) -> None:
        # The hold above would otherwise stop this account's auto top-up silently for good.
        home = await tripped_home(engine)
        await home.sign(home.agreement(threshold_fen=2000, amount_fen=5000))
        (pending,) = (await home.run_auto_top_up()).requested
        home.clock.advance(payments.DEBIT_ANSWER_DUE - timedelta(minutes=1))
        in_time = await home.run_auto_top_up()
        home.clock.advance(timedelta(minutes=2))
        overdue = await home.run_auto_top_up()
        again = await home.run_auto_top_up()
        alarms_while_overdue = await home.open_system_alarms()
        await home.callback(replace(home.success(pending, "BANK-LATE"), at=home.clock.now()))
        answered = await home.run_auto_top_up()

        assert in_time.unanswered == ()
        assert [d.debit_id for d in overdue.unanswered] == [pending.debit_id]
        assert [d.debit_id for d in again.unanswered] == [pending.debit_id]
        assert [(a.kind, a.subject) for a in alarms_while_overdue] == [
            (alarm_ports.AlarmKind.BANK_DEBIT_UNANSWERED, pending.debit_id)
        ]
        assert answered.unanswered == ()
        assert await home.open_system_alarms() == ()
        assert home.balance_fen() == home.journal_fen() == 1500 + 5000

    async def test_debits_again_once_the_pending_debit_failed(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (pending,) = (await home.run_auto_top_up()).requested
        home.clock.advance(timedelta(days=1))
        held = await home.run_auto_top_up()

        await home.callback(home.failure(pending, "F-7", payments.DebitStatus.INSUFFICIENT_FUNDS))
        again = await home.run_auto_top_up()

        assert [d.debit_id for d in held.held] == ["D20250610051600001234"]
        assert [d.debit_id for d in again.requested] == ["D20250611051600001234"]
        assert again.sent == ("D20250611051600001234",)
        assert again.held == ()

    async def test_an_unsent_debit_of_yesterday_is_sent_instead_of_a_new_one(
        self, engine: Engine
    ) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        home.bank.unavailable = True
        await home.run_auto_top_up()
        home.bank.unavailable = False
        home.clock.advance(timedelta(days=1))

        run = await home.run_auto_top_up()

        assert run.requested == ()
        assert run.sent == ("D20250610051600001234",)
        assert [d.debit_id for d in home.bank.requests] == ["D20250610051600001234"]

    async def test_a_pending_debit_holds_only_its_own_account(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        other = Payer(engine, home.clock, "051600009999")
        await other.open(opening=Money(fen=1000))
        await home.sign(home.agreement(accounts=(str(home.number), "051600009999")))
        mine, theirs = (await home.run_auto_top_up()).requested
        await home.callback(home.failure(theirs, "F-8", payments.DebitStatus.INSUFFICIENT_FUNDS))
        home.clock.advance(timedelta(days=1))

        run = await home.run_auto_top_up()

        assert mine.account_number == home.number
        assert [d.debit_id for d in run.held] == [mine.debit_id]
        assert [d.debit_id for d in run.requested] == ["D20250611051600009999"]

    async def test_a_callback_credits_and_its_replays_do_not(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        callback = home.success(debit, "BANK-0001")

        (first,) = await home.callback(callback)
        replays = await home.callback(callback, callback)
        (late,) = await home.callback(callback)

        assert first.settlement is payments.Settlement.CREDIT
        assert first.receipt_number == "BK20250610000001"
        assert [r.settlement for r in replays] == [payments.Settlement.REPLAY] * 2
        assert {r.receipt_number for r in replays} == {late.receipt_number} == {"BK20250610000001"}
        assert home.balance_fen() == home.journal_fen() == 1500 + 5000
        assert home.rows("SELECT kind, amount_fen FROM sms_outbox") == [
            ("AUTO_TOP_UP_SUCCEEDED", 5000)
        ]

    async def test_shuffled_duplicated_callbacks_credit_each_debit_once(
        self, engine: Engine
    ) -> None:
        home = Payer(engine, FakeClock(local(2025, 6, 10, 8)))
        numbers = [f"0516000020{i:02d}" for i in range(6)]
        for number in numbers:
            other = Payer(engine, home.clock, number)
            await other.open()
        await home.sign(home.agreement(accounts=tuple(numbers)))
        run = await home.run_auto_top_up()
        callbacks = [home.success(d, f"S{i}") for i, d in enumerate(run.requested)] * 3
        random.Random(5).shuffle(callbacks)

        for start in range(0, len(callbacks), 4):
            await home.callback(*callbacks[start : start + 4])

        assert len(run.requested) == 6
        assert home.rows("SELECT COUNT(*), SUM(amount_fen) FROM payments") == [(6, 6 * 5000)]
        assert home.rows("SELECT SUM(balance_fen) FROM balances") == [(6 * 5000,)]

    async def test_a_success_after_a_failure_notice_still_credits(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested

        (failed,) = await home.callback(
            home.failure(debit, "F-1", payments.DebitStatus.INSUFFICIENT_FUNDS)
        )
        (late,) = await home.callback(home.success(debit, "S-2"))

        assert failed.settlement is payments.Settlement.RECORD_FAILURE
        assert late.settlement is payments.Settlement.LATE_SUCCESS
        assert home.balance_fen() == 6500
        with pytest.raises(payments.CallbackConflict):
            await home.callback(home.success(debit, "S-3"))
        assert home.balance_fen() == 6500

    @pytest.mark.parametrize("batched", [False, True])
    async def test_one_serial_failing_then_succeeding_and_another_success_credit_once(
        self, engine: Engine, batched: bool
    ) -> None:
        # Issue 16, defect 1: this sequence used to credit 100.00 for one 50.00 debit.
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        sequence = (
            home.failure(debit, "SAME-1", payments.DebitStatus.INSUFFICIENT_FUNDS),
            home.success(debit, "SAME-1"),
            home.success(debit, "SAME-2"),
        )

        if batched:
            with pytest.raises(payments.CallbackConflict):
                await home.callback(*sequence)
            outcomes = [(await home.callback(c))[0].settlement for c in sequence[:2]]
        else:
            outcomes = [(await home.callback(c))[0].settlement for c in sequence[:2]]
            with pytest.raises(payments.CallbackConflict):
                await home.callback(sequence[2])
        replays = [o.settlement for c in sequence[:2] for o in await home.callback(c)]

        assert outcomes == [payments.Settlement.RECORD_FAILURE, payments.Settlement.LATE_SUCCESS]
        assert replays == [payments.Settlement.REPLAY] * 2
        assert home.balance_fen() == 1500 + 5000
        assert home.rows("SELECT status, bank_serial FROM bank_debits") == [("SUCCEEDED", "SAME-1")]
        assert (await reconcile.reconcile_ledger(uow=home.uow())).debits == ()

    async def test_both_reconciliations_report_a_debit_credited_twice(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        await home.callback(home.failure(debit, "F-1", payments.DebitStatus.INSUFFICIENT_FUNDS))
        await home.callback(home.success(debit, "S-1"))
        # A second credit as the defect made it (before the state machine, or by hand).
        await home.at_bank_by_hand(debit, "S-2")
        statement = (
            payments.StatementLine(
                serial="F-1",
                debit_id=debit.debit_id,
                account_number=debit.account_number,
                amount=debit.amount,
                status=payments.DebitStatus.INSUFFICIENT_FUNDS,
            ),
        )

        ledger = await reconcile.reconcile_ledger(uow=home.uow())
        mismatches = await bank.reconcile_bank_statement(
            uow=home.uow(), day=debit.day, statement=statement
        )

        assert [(m.kind, m.serial) for m in ledger.debits] == [
            (payments.MismatchKind.CREDITED_TWICE, "S-1,S-2")
        ]
        assert {m.kind for m in mismatches} >= {
            payments.MismatchKind.CREDITED_TWICE,
            payments.MismatchKind.CREDITED_WHILE_FAILED,
        }

    @pytest.mark.parametrize(
        ("dated", "received"),
        [
            (local(1999, 6, 10, 8), local(2025, 6, 10, 8)),
            (local(2999, 6, 10, 8), local(2025, 6, 10, 8)),
            (local(2025, 6, 10, 8), local(2025, 6, 12, 8, 1)),  # 48 h and a minute late
            (local(2025, 6, 10, 8, 11), local(2025, 6, 10, 8)),  # 11 minutes ahead
            (local(2025, 6, 9, 23, 59), local(2025, 6, 10, 8)),  # before the debit's day
        ],
    )
    async def test_refuses_callbacks_dated_outside_the_window(
        self, engine: Engine, dated: datetime, received: datetime
    ) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        home.clock.set(received)
        stale = replace(home.success(debit, "OLD-1"), at=dated)

        with pytest.raises(payments.CallbackOutsideWindow):
            await home.callback(stale)

        assert home.balance_fen() == 1500
        assert home.rows("SELECT status FROM bank_debits") == [("REQUESTED",)]

    async def test_a_closed_card_credits_nothing(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested

        (outcome,) = await home.callback(
            home.failure(debit, "F-9", payments.DebitStatus.CARD_CLOSED)
        )

        assert outcome.receipt_number is None
        assert home.balance_fen() == 1500
        assert home.rows("SELECT status FROM bank_debits") == [("CARD_CLOSED",)]
        assert home.rows("SELECT kind FROM sms_outbox") == [("AUTO_TOP_UP_FAILED",)]

    async def test_refuses_unknown_debits_and_wrong_amounts(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        wrong = payments.BankCallback(
            serial="X1",
            debit_id=debit.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=Money(fen=1),
            at=home.clock.now(),
        )
        unknown = payments.BankCallback(
            serial="X2",
            debit_id="D20250610999999999999",
            status=payments.DebitStatus.SUCCEEDED,
            amount=Money(fen=5000),
            at=home.clock.now(),
        )

        with pytest.raises(payments.CallbackMismatch):
            await home.callback(wrong)
        with pytest.raises(payments.UnknownDebit):
            await home.callback(unknown)
        assert home.balance_fen() == 1500

    async def test_effective_the_day_signed_and_ends_when_cancelled(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        tomorrow = home.clock.now().date() + timedelta(days=1)
        await home.sign(home.agreement(signed_on=tomorrow))

        today = await home.run_auto_top_up()
        await bank.cancel_agreement(
            uow=home.uow(), clock=home.clock, agreement_number="AG0001", on=tomorrow
        )
        home.clock.advance(timedelta(days=1))
        after = await home.run_auto_top_up()

        assert today.requested == after.requested == ()

    async def test_an_unreachable_bank_gets_the_debit_next_run(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        home.bank.unavailable = True
        first = await home.run_auto_top_up()
        home.bank.unavailable = False

        second = await home.run_auto_top_up()

        assert first.unsent == second.sent == ("D20250610051600001234",)

    async def test_one_card_many_accounts(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        other = Payer(engine, home.clock, "051600009999")
        await other.open(opening=Money(fen=50000))
        await home.sign(home.agreement(accounts=(str(home.number), "051600009999")))

        run = await home.run_auto_top_up()

        assert [d.account_number for d in run.requested] == [home.number]


class TestP3Reconciliation:
    async def test_reports_every_mismatch(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        for number in ("051600003001", "051600003002", "051600003003"):
            await Payer(engine, home.clock, number).open()
        await home.sign(home.agreement(accounts=("051600003001", "051600003002", "051600003003")))
        debits = (await home.run_auto_top_up()).requested
        await home.callback(home.success(debits[0], "S1"), home.success(debits[1], "S2"))
        day = home.clock.now().date()
        statement = [
            payments.StatementLine(
                serial="S1",
                debit_id=debits[0].debit_id,
                account_number=debits[0].account_number,
                amount=Money(fen=5000),
                status=payments.DebitStatus.SUCCEEDED,
            ),
            payments.StatementLine(
                serial="S3",
                debit_id=debits[2].debit_id,
                account_number=debits[2].account_number,
                amount=Money(fen=5000),
                status=payments.DebitStatus.SUCCEEDED,
            ),
        ]

        mismatches = await bank.reconcile_bank_statement(
            uow=home.uow(), day=day, statement=statement
        )

        assert [(m.kind, m.serial) for m in mismatches] == [
            (payments.MismatchKind.NOT_CREDITED, "S3"),
            (payments.MismatchKind.NOT_DEBITED, "S2"),
        ]
        assert AccountNumber(value="051600003001") == debits[0].account_number

    async def test_a_late_success_within_the_window_credits(self, engine: Engine) -> None:
        home = await tripped_home(engine)
        await home.sign(home.agreement())
        (debit,) = (await home.run_auto_top_up()).requested
        await home.callback(home.failure(debit, "F-1", payments.DebitStatus.INSUFFICIENT_FUNDS))
        late = replace(home.success(debit, "S-1"), at=local(2025, 6, 10, 8))
        home.clock.set(local(2025, 6, 12, 7, 59))

        (outcome,) = await home.callback(late)

        assert outcome.settlement is payments.Settlement.LATE_SUCCESS
        assert home.balance_fen() == 6500
