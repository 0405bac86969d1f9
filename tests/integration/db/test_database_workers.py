"""Units of work cannot starve each other of threads (issue 16): the engine's own workers.

Each test restricts the event loop's default thread pool to two threads, the situation of a
small machine where a few requests wait on a lock in their threads. Before issue 16 every
database call hopped to that pool, so a unit of work holding a lock could not get a thread to
commit while the ones waiting for the lock held every thread. The waits are bounded so that a
regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from tests.integration.db.databases import same_database

from wattbook.adapters import db
from wattbook.domain import accounts, ledger
from wattbook.domain.values import AccountNumber, Money

AT = datetime(2027, 1, 5, 1, 0, tzinfo=UTC)
NUMBER = AccountNumber(value="051600000001")
_references = itertools.count(1)


@pytest.fixture
async def small_default_pool() -> AsyncIterator[concurrent.futures.ThreadPoolExecutor]:
    """Give the running loop a default thread pool of two threads."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    asyncio.get_running_loop().set_default_executor(pool)
    yield pool
    pool.shutdown(wait=False)


async def _open_account(engine: Engine) -> None:
    async with db.SqlUnitOfWork(engine) as uow:
        await uow.accounts.add(
            accounts.open_account(
                number=NUMBER,
                holder=accounts.Holder(name="李四"),
                phone=None,
                address=accounts.Address(text="丙6-1-801"),
                at=AT,
            )
        )
        await uow.commit()


def _top_up(fen: int) -> ledger.Entry:
    return ledger.Entry(
        account_number=NUMBER,
        reference=f"TEST:{next(_references)}",
        kind=ledger.EntryKind.TOP_UP,
        amount=Money(fen=fen),
        at=AT,
    )


def _same_database(engine: Engine) -> list[Engine]:
    """Return two more engines on the database behind ``engine``.

    On PostgreSQL they give up waiting for a row lock after 5 s, and a transaction left idle
    (its commit never got a thread) is ended after 6 s, so that the old code failed instead of
    hanging for ever; SQLite's busy timeout does that on its own.
    """
    options = "-c lock_timeout=5000 -c idle_in_transaction_session_timeout=6000"
    return [same_database(engine, options=options) for _ in range(2)]


async def test_units_of_work_waiting_on_a_lock_leave_the_holder_a_thread(
    engine: Engine, small_default_pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    # Every unit of work credits the same account, so each waits for the one before it: a
    # row lock on PostgreSQL (balances FOR UPDATE), the write lock on SQLite. Three engines on
    # one database, as when the demo runs the web app and the head-end in one process; on
    # PostgreSQL the lock waits of one engine alone starved the pool.
    await _open_account(engine)
    extra = _same_database(engine)
    engines = [engine, *extra] if engine.dialect.name == "sqlite" else extra

    async def credit(on: Engine, fen: int) -> None:
        async with db.SqlUnitOfWork(on) as uow:
            await uow.ledger.post((_top_up(fen),))
            await asyncio.sleep(0.02)  # the others queue for the lock meanwhile
            await uow.commit()

    amounts = list(range(1, 13))
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(credit(engines[i % len(engines)], fen) for i, fen in enumerate(amounts))
            ),
            timeout=8,
        )
        async with db.SqlUnitOfWork(engine) as uow:
            balances = await uow.ledger.balances((NUMBER,))
            differences = await uow.ledger.reconcile()
    finally:
        for other in extra:
            other.dispose()

    assert balances[NUMBER] == Money(fen=sum(amounts))
    assert differences == ()


async def test_a_full_default_thread_pool_does_not_stop_the_database(
    engine: Engine, small_default_pool: concurrent.futures.ThreadPoolExecutor
) -> None:
    # Other code (name lookups, file reads) may fill the loop's default pool for a while; the
    # database keeps answering on its own workers.
    await _open_account(engine)
    release = threading.Event()
    loop = asyncio.get_running_loop()
    blockers = [loop.run_in_executor(None, release.wait, 30) for _ in range(2)]

    async def credit() -> Money:
        async with db.SqlUnitOfWork(engine) as uow:
            balances = await uow.ledger.post((_top_up(500),))
            await uow.commit()
        return balances[NUMBER]

    try:
        balance = await asyncio.wait_for(credit(), timeout=5)
    finally:
        release.set()
        await asyncio.gather(*blockers)

    assert balance == Money(fen=500)
