"""Units of work on SQLite queue on the event loop, so waiting ones cannot starve the holder."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import UTC, datetime
from pathlib import Path

from wattbook.adapters import db
from wattbook.domain.alarms import AlarmKind

AT = datetime(2027, 1, 5, 1, 0, tzinfo=UTC)


async def test_more_units_of_work_than_threads_all_finish(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'wattbook.sqlite3'}")
    db.upgrade(engine)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=2))

    async def work(index: int) -> None:
        async with db.SqlUnitOfWork(engine) as uow:
            await uow.alarms.raise_alarm(
                kind=AlarmKind.BUS_UNREACHABLE, subject=f"bus-{index}", detail="", at=AT
            )
            await asyncio.sleep(0.01)  # another task gets the loop while this one holds the lock
            await uow.alarms.alarms()
            await uow.commit()

    try:
        # Without the queue this deadlocked until SQLite's 10 s busy timeout, then failed.
        await asyncio.wait_for(asyncio.gather(*(work(i) for i in range(12))), timeout=8)
        async with db.SqlUnitOfWork(engine) as uow:
            alarms = await uow.alarms.alarms()
    finally:
        engine.dispose()

    assert len(alarms) == 12
