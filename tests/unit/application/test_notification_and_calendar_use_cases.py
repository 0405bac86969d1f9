"""The holiday calendar, the SMS worker, the read-only queries and the scheduled jobs."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from tests.fakes import FakeBankGateway, FakeSmsSender
from tests.functional.household import local
from tests.integration.db.test_calendar_use_cases import SCHEDULE_2027
from tests.unit.application.world import World, meter_of

from wattbook.application import queries
from wattbook.application.notifications import ports as sp
from wattbook.application.notifications.send_pending_sms import (
    recover_sms_claims,
    send_pending_sms,
    sweep_sms_storage,
)
from wattbook.application.prepaid.calendar_ports import (
    InvalidCalendarChange,
    InvalidHolidaySchedule,
)
from wattbook.application.prepaid.check_holiday_schedule import check_holiday_schedule
from wattbook.application.prepaid.import_holiday_schedule import import_holiday_schedule
from wattbook.application.prepaid.read_calendar import read_calendar_year
from wattbook.application.prepaid.set_calendar_day import set_calendar_day
from wattbook.application.scheduled_jobs import ScheduledJob, run_scheduled_jobs, scheduled_jobs
from wattbook.domain import billing
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import BillingMonth


class TestCalendar:
    async def test_alarms_in_november_until_next_years_schedule_is_imported(self) -> None:
        world = World(at=local(2026, 11, 2, 9))

        alarmed = await check_holiday_schedule(uow=world.uow(), clock=world.clock)
        year, changes = await import_holiday_schedule(
            uow=world.uow(), clock=world.clock, text=SCHEDULE_2027, by="管理员 李"
        )
        after = await check_holiday_schedule(uow=world.uow(), clock=world.clock)

        assert alarmed == (2027,)
        assert (year, len(changes)) == (2027, 10)
        assert after == ()
        (alarm,) = world.db.tables.alarms
        assert alarm.kind is AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED
        assert alarm.ended_at == world.clock.now()

    async def test_a_schedule_with_a_bad_row_writes_nothing(self) -> None:
        world = World(at=local(2026, 11, 2, 9))

        with pytest.raises(InvalidHolidaySchedule):
            await import_holiday_schedule(
                uow=world.uow(),
                clock=world.clock,
                text=SCHEDULE_2027 + "2027-13-01,休,坏\n",
                by="管理员 李",
            )

        assert world.db.tables.calendar_overrides == {}
        assert world.db.tables.confirmed_years == {}

    async def test_a_day_set_by_hand_shows_in_the_year_and_setting_it_again_changes_nothing(
        self,
    ) -> None:
        world = World()
        day = date(2025, 6, 13)

        first = await set_calendar_day(
            uow=world.uow(), clock=world.clock, day=day, working=False, by="管理员 李", note="停水"
        )
        again = await set_calendar_day(
            uow=world.uow(), clock=world.clock, day=day, working=False, by="管理员 李", note="停水"
        )
        year = await read_calendar_year(uow=world.uow(), year=2025)

        assert first is not None
        assert again is None
        assert [(d.day, d.working) for d in year.days if d.day == day] == [(day, False)]
        assert year.confirmed is None

    async def test_a_change_by_nobody_or_out_of_range_is_refused(self) -> None:
        world = World()

        with pytest.raises(InvalidCalendarChange):
            await set_calendar_day(
                uow=world.uow(), clock=world.clock, day=date(2025, 6, 13), working=False, by=" "
            )
        with pytest.raises(InvalidCalendarChange):
            await read_calendar_year(uow=world.uow(), year=2100)

        assert world.db.tables.calendar_changes == []


class TestSendPendingSms:
    async def test_sends_a_queued_text_and_records_its_reference(self) -> None:
        world = World()
        await world.household(1, opening_fen=500)  # low at once: one LOW_BALANCE queued
        sender = FakeSmsSender()

        report = await send_pending_sms(uow_factory=world.db, clock=world.clock, sender=sender)

        (row,) = world.db.sms()
        assert report.sent == (row.id,)
        assert row.status is sp.SmsStatus.SENT
        assert row.message_refs == ("fake-1",)
        assert [part.phone for part in sender.sent] == ["13800138000"]
        assert "5.00" in sender.sent[0].text

    async def test_an_account_without_a_phone_fails_at_once_and_is_listed_for_the_counter(
        self,
    ) -> None:
        world = World()
        account = await world.household(1, opening_fen=500, phone=None)

        report = await send_pending_sms(
            uow_factory=world.db, clock=world.clock, sender=FakeSmsSender()
        )
        listed = await queries.accounts_without_phone(uow=world.uow())
        failed = await queries.failed_sms(uow=world.uow(), since=world.clock.now())

        assert report.failed == (1,)
        assert [(a.account_number, a.unsent) for a in listed] == [(account, 1)]
        assert [f.error for f in failed] == ["NO_PHONE"]

    async def test_no_modem_touches_no_message(self) -> None:
        world = World()
        await world.household(1, opening_fen=500)
        sender = FakeSmsSender()
        sender.unavailable = True

        report = await send_pending_sms(uow_factory=world.db, clock=world.clock, sender=sender)

        assert report.sender_unavailable
        (row,) = world.db.sms()
        assert (row.status, row.attempts) == (sp.SmsStatus.PENDING, 0)

    async def test_a_refused_text_is_retried_after_the_back_off(self) -> None:
        world = World()
        await world.household(1, opening_fen=500)
        sender = FakeSmsSender()
        sender.reject.add("13800138000")

        report = await send_pending_sms(uow_factory=world.db, clock=world.clock, sender=sender)

        (row,) = world.db.sms()
        assert report.retrying == (row.id,)
        assert row.next_attempt_at == world.clock.now() + timedelta(seconds=60)

    async def test_a_claim_left_by_a_stopped_worker_is_resumed(self) -> None:
        world = World()
        await world.household(1, opening_fen=500)
        async with world.uow() as uow:
            await uow.sms.claim(1, at=world.clock.now(), sender="FAKE", body="x")
            await uow.commit()

        recovered = await recover_sms_claims(uow_factory=world.db, clock=world.clock)

        assert recovered.resumed == (1,)
        assert world.db.sms()[0].claimed_at is None

    async def test_the_sweep_deletes_stored_copies_the_outbox_does_not_know(self) -> None:
        world = World()
        sender = FakeSmsSender(with_storage=True)
        storage = sender.storage
        assert storage is not None
        stray = sp.OutgoingSms(phone=None, text="x", reference=99)  # type: ignore[arg-type]
        index = await storage.store_part(stray, part=0)

        swept = await sweep_sms_storage(uow_factory=world.db, sender=sender)

        assert swept == (index,)
        assert await storage.stored() == ()


class TestQueries:
    async def test_the_statement_shows_each_month_charged(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=10_000)
        await world.use(account, 3_000)

        lines = await queries.monthly_statement(uow=world.uow(), number=account)
        glances = await queries.account_glances(
            uow=world.uow(), accounts=[(account, meter_of(account))]
        )

        assert [(str(line.month), line.amount.fen) for line in lines] == [("2025-06", 158)]
        assert [g.balance.fen for g in glances] == [10_000 - 158]

    async def test_month_end_reads_only_accounts_charged_that_month(self) -> None:
        world = World()
        charged = await world.household(1, opening_fen=10_000)
        await world.household(2, opening_fen=10_000)
        await world.use(charged, 3_000)

        found = [
            (number, lines)
            async for number, lines in queries.month_end_statements(
                reader=world.db.statement_reader(),
                tariffs=await _tariffs(world),
                month=BillingMonth.parse("2025-06"),
                page_size=1,
            )
        ]

        assert [number for number, _lines in found] == [charged]
        assert [line.amount.fen for line in found[0][1]] == [158]


async def _tariffs(world: World) -> billing.TariffHistory:
    async with world.uow() as uow:
        return await uow.tariffs.history()


class TestScheduledJobs:
    async def test_every_job_runs_and_a_failing_one_does_not_stop_the_others(self) -> None:
        world = World(at=local(2026, 11, 2, 9))
        jobs = scheduled_jobs(
            uow_factory=world.db, clock=world.clock, bank_gateway=FakeBankGateway()
        )
        ran: list[str] = []

        async def broken() -> None:
            ran.append("broken")
            raise RuntimeError("boom")

        stop = asyncio.Event()
        failing = ScheduledJob(name="broken", every=timedelta(hours=1), run=broken)
        task = asyncio.create_task(run_scheduled_jobs((failing, *jobs), stop, speed=1e9))
        await asyncio.sleep(0.1)
        stop.set()
        await task

        assert [j.name for j in jobs] == [
            "prepaid: held cuts",
            "kiosk recovery",
            "bank auto top-up",
            "holiday schedule check",
        ]
        assert ran == ["broken"]
        # The holiday check ran after the broken job: next year's alarm is open.
        assert [a.subject for a in world.db.tables.alarms] == ["2027"]

    async def test_a_speed_of_zero_is_refused(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            await run_scheduled_jobs((), asyncio.Event(), speed=0)
