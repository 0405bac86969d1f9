"""The callback batcher: replays of a callback still waiting for its commit cost no SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer

from wattbook.adapters import db
from wattbook.application import ports
from wattbook.application.payments import bank
from wattbook.domain import payments
from wattbook.domain.values import Money
from wattbook.interfaces.web import _batcher
from wattbook.interfaces.web._batcher import CallbackBatcher

_settle = bank.settle_bank_callbacks


class _Spy:
    """Record what reaches the database; optionally fail the first transaction."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.settled: list[str] = []
        self._fail = fail_first

    async def __call__(
        self,
        *,
        uow: ports.UnitOfWork,
        clock: ports.Clock,
        callbacks: Sequence[payments.BankCallback],
        window: timedelta,
    ) -> tuple[bank.CallbackOutcome, ...]:
        if self._fail:
            self._fail = False
            raise RuntimeError("database went away")
        self.settled.extend(c.serial for c in callbacks)
        return await _settle(uow=uow, clock=clock, callbacks=callbacks, window=window)


async def _debit(engine: Engine, clock: FakeClock) -> tuple[Payer, payments.DebitRequest]:
    home = Payer(engine, clock)
    await home.open()
    await home.sign(home.agreement())
    (debit,) = (await home.run_auto_top_up()).requested
    return home, debit


class TestCallbackBatcher:
    async def test_a_replay_waiting_for_the_first_commit_is_answered_from_it(
        self, engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home, debit = await _debit(engine, clock)
        spy = _Spy()
        monkeypatch.setattr(_batcher.bank, "settle_bank_callbacks", spy)
        batcher = CallbackBatcher(uow_factory=db.unit_of_work_factory(engine), clock=clock)
        callback = home.success(debit, "SER1")

        first, replay = await asyncio.gather(batcher.settle(callback), batcher.settle(callback))
        later = await batcher.settle(callback)
        await batcher.close()

        assert spy.settled == ["SER1"]
        assert first.settlement is payments.Settlement.CREDIT
        assert replay.settlement is later.settlement is payments.Settlement.REPLAY
        assert first.receipt_number == replay.receipt_number == later.receipt_number
        assert home.rows("SELECT COUNT(*), SUM(amount_fen) FROM payments") == [(1, 5000)]

    async def test_a_replay_of_a_failed_first_is_settled_on_its_own(
        self, engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home, debit = await _debit(engine, clock)
        spy = _Spy(fail_first=True)
        monkeypatch.setattr(_batcher.bank, "settle_bank_callbacks", spy)
        batcher = CallbackBatcher(uow_factory=db.unit_of_work_factory(engine), clock=clock)
        callback = home.success(debit, "SER1")

        first, replay = await asyncio.gather(
            batcher.settle(callback), batcher.settle(callback), return_exceptions=True
        )
        await batcher.close()

        assert isinstance(first, RuntimeError)
        assert isinstance(replay, bank.CallbackOutcome)
        assert replay.settlement is payments.Settlement.CREDIT
        assert spy.settled == ["SER1"]
        assert home.rows("SELECT COUNT(*), SUM(amount_fen) FROM payments") == [(1, 5000)]

    async def test_a_different_callback_under_a_pending_serial_goes_to_the_database(
        self, engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home, debit = await _debit(engine, clock)
        spy = _Spy()
        monkeypatch.setattr(_batcher.bank, "settle_bank_callbacks", spy)
        batcher = CallbackBatcher(uow_factory=db.unit_of_work_factory(engine), clock=clock)
        callback = home.success(debit, "SER1")
        other = payments.BankCallback(
            serial="SER1",
            debit_id=debit.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=Money(fen=debit.amount.fen + 100),
            at=callback.at,
        )

        answers = await asyncio.gather(
            batcher.settle(callback), batcher.settle(other), return_exceptions=True
        )
        await batcher.close()

        assert isinstance(answers[0], bank.CallbackOutcome)
        assert isinstance(answers[1], payments.PaymentError)
        assert spy.settled.count("SER1") >= 2
        assert home.rows("SELECT COUNT(*), SUM(amount_fen) FROM payments") == [(1, 5000)]
