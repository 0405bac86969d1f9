"""The jobs every wattbook process runs on a schedule: listed once, with their intervals.

``wattbook headend run``, ``wattbook serve`` and ``wattbook demo`` all run this same list
(through ``bootstrap.build_scheduled_jobs``); in a deployment of several processes, run it in
one of them and pass ``--no-jobs`` to the others. Each job is idempotent, so a job that runs
twice (two processes, a restart) does no harm; the SMS worker alone must be one per modem.

| job                                   | every  | what it does                              |
|---------------------------------------|--------|-------------------------------------------|
| prepaid: held cuts and due re-checks  | 1 min  | ``apply_prepaid_policy``: cuts held for a |
|                                       |        | holiday or keep-power, once allowed       |
| kiosk recovery                        | 30 s   | credits or abandons idle kiosk sessions   |
| bank auto top-up                      | 1 min  | the daily debits and immediate triggers   |
| holiday schedule check                | 1 h    | alarm while a year's holidays are not     |
|                                       |        | confirmed (from 1 November for next year) |
| partition upkeep (PostgreSQL)         | 1 h    | makes next months' partitions of readings |
|                                       |        | and the ledger; alarm if next month's is  |
|                                       |        | missing (ADR 21; nothing on SQLite)       |
| SMS worker                            | 5 s    | sends the outbox (continuous; idle wait)  |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from wattbook.application import ports
from wattbook.application.keep_partitions import keep_partitions
from wattbook.application.partition_ports import PartitionKeeper
from wattbook.application.payments import bank, kiosk
from wattbook.application.payments import ports as payment_ports
from wattbook.application.prepaid.apply_prepaid_policy import apply_prepaid_policy
from wattbook.application.prepaid.check_holiday_schedule import check_holiday_schedule

logger = logging.getLogger(__name__)

HELD_CUTS_EVERY = timedelta(minutes=1)
KIOSK_RECOVERY_EVERY = timedelta(seconds=30)
AUTO_TOP_UP_EVERY = timedelta(minutes=1)
HOLIDAY_SCHEDULE_EVERY = timedelta(hours=1)
PARTITION_UPKEEP_EVERY = timedelta(hours=1)
SMS_IDLE = timedelta(seconds=5)
HELD_CUTS_PER_RUN = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledJob:
    """One job: its name, how often it runs, and one run of it."""

    name: str
    every: timedelta
    run: Callable[[], Awaitable[object]]


def scheduled_jobs(
    *,
    uow_factory: ports.UnitOfWorkFactory,
    clock: ports.Clock,
    bank_gateway: payment_ports.BankGateway,
    kiosk_idle: timedelta = kiosk.KIOSK_IDLE_LIMIT,
    partitions: PartitionKeeper | None = None,
) -> tuple[ScheduledJob, ...]:
    """Return the interval jobs (everything but the SMS worker, which loops on its own).

    ``partitions`` adds the partition upkeep (the storage's keeper; it does nothing on SQLite).
    """

    async def held_cuts() -> None:
        # Up to HELD_CUTS_PER_RUN accounts a run: after a long holiday a campus's held cuts
        # all come due at 08:00 and are worked through over a few minutes.
        await apply_prepaid_policy(uow=uow_factory(), clock=clock, limit=HELD_CUTS_PER_RUN)

    async def recover() -> None:
        await kiosk.recover_kiosk_sessions(
            uow_factory=uow_factory, clock=clock, idle_for=kiosk_idle
        )

    async def top_up() -> None:
        await bank.run_auto_top_up(uow_factory=uow_factory, clock=clock, bank=bank_gateway)

    async def holidays() -> None:
        await check_holiday_schedule(uow=uow_factory(), clock=clock)

    jobs = (
        ScheduledJob(name="prepaid: held cuts", every=HELD_CUTS_EVERY, run=held_cuts),
        ScheduledJob(name="kiosk recovery", every=KIOSK_RECOVERY_EVERY, run=recover),
        ScheduledJob(name="bank auto top-up", every=AUTO_TOP_UP_EVERY, run=top_up),
        ScheduledJob(name="holiday schedule check", every=HOLIDAY_SCHEDULE_EVERY, run=holidays),
    )
    if partitions is None:
        return jobs
    keeper = partitions

    async def upkeep() -> None:
        await keep_partitions(keeper=keeper, uow=uow_factory(), clock=clock)

    return (
        *jobs,
        ScheduledJob(name="partition upkeep", every=PARTITION_UPKEEP_EVERY, run=upkeep),
    )


# However fast the demo's world runs, a job waits at least this long between runs.
MIN_WAIT_S = 1.0


async def _every(job: ScheduledJob, stop: asyncio.Event, speed: float) -> None:
    wait_s = max(job.every.total_seconds() / speed, MIN_WAIT_S)
    while not stop.is_set():
        try:
            await job.run()
        except Exception:
            # Loud, and the next run tries again: one failing job must not stop the others.
            logger.exception("Unable to run the scheduled job %r", job.name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait_s)


async def run_scheduled_jobs(
    jobs: Sequence[ScheduledJob],
    stop: asyncio.Event,
    *,
    speed: float = 1.0,
    workers: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = (),
) -> None:
    """Run each job at its interval (divided by ``speed``, for the demo's fast world) and the
    continuous ``workers`` (the SMS worker) until ``stop`` is set."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    tasks = [asyncio.create_task(_every(job, stop, speed), name=job.name) for job in jobs]
    tasks += [asyncio.create_task(worker(stop)) for worker in workers]
    try:
        await stop.wait()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
