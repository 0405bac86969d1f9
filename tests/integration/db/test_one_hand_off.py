"""A use case run in one hand-off: one trip to the database's threads per transaction.

The engine's worker pool is instrumented: each call handed to it is counted. A bank callback
(any batch size), a counter payment and the JSON API's three units of work each take one
hand-off, and idempotency holds as before. A use case that waits on anything but its units
of work is refused and rolled back. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer

from wattbook.adapters import db
from wattbook.adapters.db import _workers
from wattbook.application.payments import bank, counter
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money

ACCOUNT = AccountNumber(value="051600001234")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(local(2025, 6, 10, 9))


@pytest.fixture
def hand_offs(engine: Engine) -> Iterator[list[int]]:
    """Yield a one-item list holding how many calls went to the engine's worker threads."""
    workers = _workers.workers_of(engine)
    executor: Any = workers._executor
    original = executor.submit
    counted = [0]

    def submit(*args: Any, **kwargs: Any) -> Any:
        counted[0] += 1
        return original(*args, **kwargs)

    executor.submit = submit
    yield counted
    executor.submit = original


async def _debits(engine: Engine, clock: FakeClock, count: int) -> tuple[Payer, list[Any]]:
    numbers = [AccountNumber(value=f"05160000{n:04d}") for n in range(1, count + 1)]
    home = Payer(engine, clock, str(numbers[0]))
    for number in numbers:
        await Payer(engine, clock, str(number)).open()
    await home.sign(home.agreement(accounts=tuple(str(n) for n in numbers)))
    return home, list((await home.run_auto_top_up()).requested)


class TestBankCallbacks:
    @pytest.mark.parametrize("count", [1, 20])
    async def test_a_batch_takes_one_hand_off_and_a_replay_credits_nothing(
        self, engine: Engine, clock: FakeClock, hand_offs: list[int], count: int
    ) -> None:
        home, debits = await _debits(engine, clock, count)
        callbacks = [home.success(d, f"SER{i}") for i, d in enumerate(debits)]
        uow_factory = db.unit_of_work_factory(engine)

        def settle() -> Any:
            return bank.settle_bank_callbacks(uow=uow_factory(), clock=clock, callbacks=callbacks)

        hand_offs[0] = 0
        first = await db.run_in_one_hand_off(engine, settle)
        first_hand_offs = hand_offs[0]
        again = await db.run_in_one_hand_off(engine, settle)

        assert first_hand_offs == 1
        assert hand_offs[0] == 2
        assert {o.settlement for o in first} == {payments.Settlement.CREDIT}
        assert {o.settlement for o in again} == {payments.Settlement.REPLAY}
        assert [o.receipt_number for o in again] == [o.receipt_number for o in first]
        async with db.reader_factory(engine)() as reader:
            paid = await reader.payments.by_channel_reference(
                payments.Channel.BANK_AUTO, [c.serial for c in callbacks]
            )
            balances = await reader.ledger.balances([d.account_number for d in debits])
        assert len(paid) == count
        assert all(balance == debits[0].amount for balance in balances.values())


class TestCounterAndApi:
    async def test_a_counter_payment_takes_one_hand_off(
        self, engine: Engine, clock: FakeClock, hand_offs: list[int]
    ) -> None:
        await Payer(engine, clock).open(opening=None)
        hand_offs[0] = 0

        receipt = await db.run_in_one_hand_off(
            engine,
            lambda: counter.pay_at_counter(
                uow=db.SqlUnitOfWork(engine),
                clock=clock,
                number=ACCOUNT,
                amount=Money(fen=5000),
                operator="cashier",
                reference="cashier:once",
            ),
        )

        assert hand_offs[0] == 1
        assert receipt.payment.balance_after == Money(fen=5000)

    async def test_units_of_work_one_after_another_share_the_hand_off(
        self, engine: Engine, clock: FakeClock, hand_offs: list[int]
    ) -> None:
        await Payer(engine, clock).open(opening=None)

        async def pay_then_read() -> Money:
            await counter.pay_at_counter(
                uow=db.SqlUnitOfWork(engine),
                clock=clock,
                number=ACCOUNT,
                amount=Money(fen=700),
                operator="cashier",
                reference="cashier:twice",
            )
            async with db.SqlUnitOfWork(engine) as uow:
                return (await uow.ledger.balances([ACCOUNT]))[ACCOUNT]

        hand_offs[0] = 0
        balance = await db.run_in_one_hand_off(engine, pay_then_read)

        assert (hand_offs[0], balance) == (1, Money(fen=700))


class TestRefusals:
    async def test_a_use_case_that_waits_on_something_else_is_refused_and_rolled_back(
        self, engine: Engine, clock: FakeClock
    ) -> None:
        await Payer(engine, clock).open(opening=None)

        async def pay_then_wait() -> None:
            async with db.SqlUnitOfWork(engine) as uow:
                await uow.payments.audit(())
                await asyncio.sleep(0)  # not a unit of work's call: cannot run on the thread
                await uow.commit()

        with pytest.raises(db.HandOffSuspended):
            await db.run_in_one_hand_off(engine, pay_then_wait)

        # The worker slot and the write turn were given back: the next unit of work runs.
        async with db.SqlUnitOfWork(engine) as uow:
            balance = (await uow.ledger.balances([ACCOUNT]))[ACCOUNT]
        assert balance == Money(fen=0)

    async def test_a_unit_of_work_inside_another_is_refused(
        self, engine: Engine, clock: FakeClock
    ) -> None:
        async def nested() -> None:
            async with db.SqlUnitOfWork(engine), db.SqlUnitOfWork(engine):
                pass

        with pytest.raises(db.HandOffSuspended):
            await db.run_in_one_hand_off(engine, nested)
