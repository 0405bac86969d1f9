"""The scheduled jobs every process runs: a held cut is made on schedule, not at a reading."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook import bootstrap
from wattbook.adapters import bank
from wattbook.application import scheduled_jobs
from wattbook.domain.values import Money


async def _run_jobs_briefly(engine: Engine, clock: FakeClock) -> None:
    from wattbook.adapters import db

    storage = bootstrap.Storage(
        engine=engine,
        uow_factory=db.unit_of_work_factory(engine),
        reader_factory=db.reader_factory(engine),
        clock=clock,
    )
    jobs = bootstrap.build_scheduled_jobs(
        storage=storage, clock=clock, bank_gateway=bank.NoBankGateway(), with_sms=False
    )
    stop = asyncio.Event()
    running = asyncio.create_task(jobs.run(stop))
    await asyncio.sleep(0.5)  # every job runs once at start
    stop.set()
    await running


class TestHeldCutsOnSchedule:
    async def test_a_trip_held_over_a_holiday_is_made_on_the_first_working_morning(
        self, engine: Engine
    ) -> None:
        home = Household(engine, FakeClock(local(2025, 10, 1, 10)))
        await home.open(opening=Money(fen=300))
        await home.use(3000)
        await home.use(3000)  # in arrears on National Day: held
        held = home.relay()
        home.clock.set(local(2025, 10, 9, 8, 1))

        await _run_jobs_briefly(engine, home.clock)

        assert held == []
        assert home.relay() == [("TRIP", "ARREARS")]


class TestTheList:
    def test_names_each_job_once_with_its_interval(self) -> None:
        jobs = scheduled_jobs.scheduled_jobs(
            uow_factory=lambda: None,  # type: ignore[arg-type,return-value]
            clock=FakeClock(local(2025, 10, 1)),
            bank_gateway=bank.NoBankGateway(),
        )

        assert {job.name: job.every for job in jobs} == {
            "prepaid: held cuts": timedelta(minutes=1),
            "kiosk recovery": timedelta(seconds=30),
            "bank auto top-up": timedelta(minutes=1),
            "holiday schedule check": timedelta(hours=1),
        }

    def test_adds_the_partition_upkeep_hourly_when_given_a_keeper(self, engine: Engine) -> None:
        from wattbook.adapters import db

        jobs = scheduled_jobs.scheduled_jobs(
            uow_factory=lambda: None,  # type: ignore[arg-type,return-value]
            clock=FakeClock(local(2025, 10, 1)),
            bank_gateway=bank.NoBankGateway(),
            partitions=db.SqlPartitionKeeper(engine),
        )

        assert [(job.name, job.every) for job in jobs][-1] == (
            "partition upkeep",
            timedelta(hours=1),
        )

    async def test_a_failing_job_does_not_stop_the_others(self) -> None:
        runs: list[str] = []

        async def broken() -> None:
            runs.append("broken")
            raise RuntimeError("boom")

        async def fine() -> None:
            runs.append("fine")

        stop = asyncio.Event()
        jobs = (
            scheduled_jobs.ScheduledJob(name="broken", every=timedelta(seconds=1), run=broken),
            scheduled_jobs.ScheduledJob(name="fine", every=timedelta(seconds=1), run=fine),
        )
        running = asyncio.create_task(scheduled_jobs.run_scheduled_jobs(jobs, stop, speed=1))
        await asyncio.sleep(0.1)
        stop.set()
        await running

        assert sorted(runs) == ["broken", "fine"]

    async def test_refuses_a_speed_that_is_not_positive(self) -> None:
        with pytest.raises(ValueError, match="speed"):
            await scheduled_jobs.run_scheduled_jobs((), asyncio.Event(), speed=0)
