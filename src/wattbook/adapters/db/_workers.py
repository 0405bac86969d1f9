"""The database's own worker threads and the admission gate in front of them.

Every blocking database call of the async side runs on a thread pool owned by its engine (not
the event loop's default pool, which name lookups and other libraries share). A unit of work
is admitted through an asyncio semaphore of the same size as that pool, on the event loop,
before it begins and so before it can hold any database lock; it gives its slot back only once
its connection is back in the pool. At most N units of work are then active, each runs one
call at a time, and so each always finds a free thread: one waiting on a row lock can never
keep the holder of that lock from a thread to commit.

On SQLite a unit of work that writes also takes the engine's one-writer lock first (ADR 5),
since every one of them begins IMMEDIATE. Read-only units of work do not.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Enough for the kiosks, the bank's callbacks and the jobs of one site on a small machine; the
# connection pool is made at least this large (see create_engine).
DEFAULT_WORKERS = 8
# How long a unit of work waits to be admitted before it gives up with DatabaseBusy: as long as
# SQLite's busy timeout, so that a batch of readings can finish first.
DEFAULT_QUEUE_TIMEOUT_S = 10.0
# The most workers one engine may have (each also holds a database connection), and the
# longest a unit of work may be told to wait for one.
MAX_WORKERS = 64
MAX_QUEUE_TIMEOUT_S = 300.0


class DatabaseBusy(RuntimeError):
    """Every database worker of this process stayed busy for longer than the queue timeout."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerLimits:
    """How many units of work an engine runs at once, and how long others wait to start."""

    workers: int = DEFAULT_WORKERS
    queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"database workers must be 1 to {MAX_WORKERS}, not {self.workers}")
        if not 0 < self.queue_timeout_s <= MAX_QUEUE_TIMEOUT_S:
            raise ValueError(
                f"the database queue timeout must be above 0 and at most"
                f" {MAX_QUEUE_TIMEOUT_S:g} s, not {self.queue_timeout_s:g}"
            )


class _Gates:
    """One event loop's admission semaphore and, on SQLite, its one-writer lock."""

    def __init__(self, workers: int, *, sqlite: bool) -> None:
        self.slots = asyncio.Semaphore(workers)
        self.writer = asyncio.Lock() if sqlite else None


class Admission:
    """A slot among the engine's workers: run blocking calls with it, then release it."""

    def __init__(
        self,
        executor: concurrent.futures.ThreadPoolExecutor,
        gates: _Gates,
        *,
        writer: bool,
    ) -> None:
        self._executor = executor
        self._gates = gates
        self._writer = writer
        self._released = False

    async def run(self, function: Callable[..., T], /, *args: Any) -> T:
        """Run ``function(*args)`` on a worker thread and return its result.

        If the caller is cancelled, the call still runs to its end before the cancellation
        goes on: the connection is then idle when the unit of work rolls back, and this slot
        never uses two threads at once.
        """
        context = contextvars.copy_context()
        future = asyncio.wrap_future(self._executor.submit(context.run, function, *args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            while not future.done():
                try:
                    await asyncio.shield(future)
                except asyncio.CancelledError:
                    continue
                except Exception:
                    break
            if not future.cancelled() and future.exception() is not None:
                # Retrieved, so that asyncio does not log it as never retrieved.
                logger.debug("A cancelled database call failed", exc_info=future.exception())
            raise

    async def run_bounded(self, function: Callable[..., T], /, *args: Any, timeout_s: float) -> T:
        """Run ``function(*args)`` like :meth:`run`, but stop waiting after ``timeout_s``.

        On a timeout the slot is released only when the call has really ended.

        :raises TimeoutError: if the call took longer than ``timeout_s``.
        """
        context = contextvars.copy_context()
        submitted = self._executor.submit(context.run, function, *args)
        future = asyncio.wrap_future(submitted)
        try:
            done, _pending = await asyncio.wait({future}, timeout=timeout_s)
        except asyncio.CancelledError:
            self._release_when_done(submitted, future)
            raise
        if not done:
            self._release_when_done(submitted, future)
            raise TimeoutError(f"no answer from the database within {timeout_s:g} s")
        return future.result()

    def _release_when_done(
        self, submitted: concurrent.futures.Future[Any], future: asyncio.Future[Any]
    ) -> None:
        """Release the slot once the call handed to a thread has ended (not before)."""
        if self._released:
            return
        self._released = True
        loop = asyncio.get_running_loop()

        def release(_finished: concurrent.futures.Future[Any]) -> None:
            # A loop already closed has no gates left to release.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._release_now)

        # Mark a late failure as seen, so that asyncio does not log it as never retrieved.
        future.add_done_callback(lambda finished: finished.cancelled() or finished.exception())
        submitted.add_done_callback(release)

    def _release_now(self) -> None:
        self._gates.slots.release()
        if self._writer and self._gates.writer is not None:
            self._gates.writer.release()

    def release(self) -> None:
        """Give the slot back (once; later calls do nothing)."""
        if self._released:
            return
        self._released = True
        self._release_now()


class EngineWorkers:
    """An engine's worker threads and, per event loop, the gates in front of them."""

    def __init__(self, engine: Engine, limits: WorkerLimits) -> None:
        self.limits = limits
        self._sqlite = engine.dialect.name == "sqlite"
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=limits.workers, thread_name_prefix="wattbook-db"
        )
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gates] = (
            weakref.WeakKeyDictionary()
        )

    def _gates_here(self) -> _Gates:
        loop = asyncio.get_running_loop()
        gates = self._gates.get(loop)
        if gates is None:
            gates = self._gates[loop] = _Gates(self.limits.workers, sqlite=self._sqlite)
        return gates

    async def admit(self, *, writer: bool, timeout_s: float | None = None) -> Admission:
        """Wait for a free worker (and on SQLite, for a writer, the write turn); return it.

        :raises DatabaseBusy: if none came free within the queue timeout (or ``timeout_s``).
        """
        gates = self._gates_here()
        limit = self.limits.queue_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        needs_writer = writer and gates.writer is not None
        try:
            # The write turn first: a writer waiting for it holds no slot, so readers go on.
            if needs_writer:
                assert gates.writer is not None  # noqa: S101 - checked just above
                await asyncio.wait_for(gates.writer.acquire(), limit)
            try:
                await asyncio.wait_for(
                    gates.slots.acquire(), max(deadline - time.monotonic(), 0.001)
                )
            except BaseException:
                if needs_writer:
                    assert gates.writer is not None  # noqa: S101 - taken above
                    gates.writer.release()
                raise
        except TimeoutError:
            logger.warning(
                "Database busy: no worker came free within %.1f s (%d workers)",
                limit,
                self.limits.workers,
            )
            raise DatabaseBusy(
                f"every database worker stayed busy for {limit:g} s; try again shortly"
            ) from None
        return Admission(self._executor, gates, writer=needs_writer)

    def close(self) -> None:
        """Stop the threads once the calls already handed to them have run."""
        self._executor.shutdown(wait=False)


_registry_lock = threading.Lock()
_limits: weakref.WeakKeyDictionary[Engine, WorkerLimits] = weakref.WeakKeyDictionary()
_workers: weakref.WeakKeyDictionary[Engine, EngineWorkers] = weakref.WeakKeyDictionary()


def configure(engine: Engine, limits: WorkerLimits) -> None:
    """Give ``engine`` its worker limits (before first use; create_engine does it)."""
    with _registry_lock:
        _limits[engine] = limits
        old = _workers.pop(engine, None)
    if old is not None:
        old.close()


def limits_of(engine: Engine) -> WorkerLimits:
    """Return the worker limits of ``engine`` (the defaults if it was never configured)."""
    with _registry_lock:
        return _limits.get(engine, WorkerLimits())


def workers_of(engine: Engine) -> EngineWorkers:
    """Return the workers of ``engine``, starting them on first use."""
    with _registry_lock:
        found = _workers.get(engine)
        if found is None:
            if not event.contains(engine, "engine_disposed", _on_dispose):
                event.listen(engine, "engine_disposed", _on_dispose)
            found = _workers[engine] = EngineWorkers(engine, _limits.get(engine, WorkerLimits()))
        return found


def _on_dispose(engine: Engine) -> None:
    # The engine may be used again after dispose (SQLAlchemy makes a new pool); its workers
    # then start afresh.
    with _registry_lock:
        found = _workers.pop(engine, None)
    if found is not None:
        found.close()
