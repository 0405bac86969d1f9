"""Group concurrent bank callbacks into one transaction each (group commit).

Each callback's HTTP answer waits for the commit that holds it: an acknowledged callback is
a durable one. If a batch fails on an anticipated error (one bad callback), its callbacks are
settled one by one so that only the bad one is refused.

Banks replay callbacks a lot. A callback identical to one this process has already seen
committed is answered from memory as the replay it is: a committed settlement never changes,
and anything not remembered (another process, a restart, a different body) goes to the
database, which stays the authority. A callback identical to one still waiting for its
commit waits for that commit and is answered as its replay (if that settlement fails, the
replay is settled on its own), so a replay costs the database nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from wattbook.application import ports
from wattbook.application.payments import bank
from wattbook.domain import payments

logger = logging.getLogger(__name__)

T = TypeVar("T")


class UseCaseRunner(Protocol):
    """Run a use case and return its result (on SQL storage: in one database hand-off)."""

    async def __call__(self, use_case: Callable[[], Coroutine[Any, Any, T]], /) -> T:
        """Return ``await use_case()``."""
        ...


async def _await(use_case: Callable[[], Coroutine[Any, Any, T]], /) -> T:
    return await use_case()


# A batch this big means callbacks are streaming in: the next batch may wait a moment.
_BUSY_BATCH = 16

_Item = tuple[payments.BankCallback, asyncio.Future[bank.CallbackOutcome]]


class CallbackBatcher:
    """Settle bank callbacks in batches of up to ``max_batch``, one batch at a time."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], ports.UnitOfWork],
        clock: ports.Clock,
        max_batch: int = 256,
        remembered: int = 100_000,
        gather_s: float = 0.002,
        window: timedelta = payments.CALLBACK_WINDOW,
        runner: UseCaseRunner = _await,
    ) -> None:
        self._uow_factory = uow_factory
        self._runner = runner
        self._window = window
        self._clock = clock
        self._max_batch = max_batch
        self._gather_s = gather_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._remembered = remembered
        # serial -> (callback, the answer to its replays), for callbacks committed.
        self._settled: OrderedDict[str, tuple[payments.BankCallback, bank.CallbackOutcome]] = (
            OrderedDict()
        )
        # serial -> the first callback with that serial still waiting for its commit.
        self._pending: dict[str, _Item] = {}

    async def settle(self, callback: payments.BankCallback) -> bank.CallbackOutcome:
        """Return the outcome of ``callback`` once its batch has committed.

        :raises payments.PaymentError: if this callback is refused.
        """
        known = self._settled.get(callback.serial)
        if known is not None and known[0] == callback:
            return known[1]
        pending = self._pending.get(callback.serial)
        if pending is not None and pending[0] == callback:
            first = pending[1]
            # asyncio.wait neither cancels the first request's future if this one is
            # cancelled nor raises its error: a first that failed (or was cancelled) leaves
            # this replay to be settled on its own.
            await asyncio.wait((first,))
            if not first.cancelled() and first.exception() is None:
                return replace(first.result(), settlement=payments.Settlement.REPLAY)
        return await self._enqueue(callback)

    async def _enqueue(self, callback: payments.BankCallback) -> bank.CallbackOutcome:
        future: asyncio.Future[bank.CallbackOutcome] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(callback.serial, (callback, future))
        await self._queue.put((callback, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        return await future

    async def close(self) -> None:
        """Stop the worker (callbacks still queued are answered first)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        busy = False
        while not self._queue.empty():
            if busy and self._queue.qsize() < self._max_batch // 2:
                # Under load, let the callbacks already on their way join this batch: a
                # transaction's fixed cost (rules' calendar, tariffs, commit) is paid once.
                await asyncio.sleep(self._gather_s)
            batch = [self._queue.get_nowait()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._settle(batch)
            busy = len(batch) >= _BUSY_BATCH

    async def _settle(self, batch: list[_Item]) -> None:
        try:
            await self._settle_batch(batch)
        finally:
            for callback, future in batch:
                if self._pending.get(callback.serial, (None, None))[1] is future:
                    del self._pending[callback.serial]

    async def _settle_batch(self, batch: list[_Item]) -> None:
        try:
            outcomes = await self._runner(
                lambda: bank.settle_bank_callbacks(
                    uow=self._uow_factory(),
                    clock=self._clock,
                    callbacks=[c for c, _f in batch],
                    window=self._window,
                )
            )
        except payments.PaymentError as error:
            if len(batch) == 1:
                await self._report(batch[0][0], error)
                _fail(batch[0][1], error)
                return
            for item in batch:
                await self._settle_batch([item])
            return
        except Exception as error:  # handed to each waiting request
            for _callback, future in batch:
                _fail(future, error)
            return
        for (callback, future), outcome in zip(batch, outcomes, strict=True):
            self._settled[callback.serial] = (
                callback,
                replace(outcome, settlement=payments.Settlement.REPLAY),
            )
            if len(self._settled) > self._remembered:
                self._settled.popitem(last=False)
            if not future.done():
                future.set_result(outcome)

    async def _report(self, callback: payments.BankCallback, error: payments.PaymentError) -> None:
        try:
            await self._runner(
                lambda: bank.report_refused_callback(
                    uow=self._uow_factory(), clock=self._clock, callback=callback, error=error
                )
            )
        except Exception:  # the refusal is still answered; the log keeps what the alarm lost
            logger.exception("Could not raise the alarm for refused callback %s", callback.serial)


def _fail(future: asyncio.Future[bank.CallbackOutcome], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
