"""The staff's reports over SQL (issue 12, item 7), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.integration.reports.campus import (
    account_id,
    answered,
    daily_use,
    insert,
    installation_id,
    load,
    open_counter_for,
    pay,
)

from wattbook.adapters import db
from wattbook.application import queries
from wattbook.domain import metering, prepaid
from wattbook.domain.values import Money

HEADER = "account_number,holder,phone,address,bus,opening_balance\n"
CAMPUS = (
    HEADER
    + "051600005001,甲,13800138001,1栋101,bus-1,-3.50\n"
    + "051600005002,乙,13800138002,1栋102,bus-1,5.00\n"
    + "051600005003,丙,,1栋103,bus-2,50.00\n"
    + "051600005004,丁,13800138004,1栋104,bus-2,-12.00\n"
    + "051600005005,戊,13800138005,1栋105,bus-2,10.56\n"
)


async def _campus(engine: Engine, clock: FakeClock) -> None:
    await load(engine, clock, CAMPUS)


class TestDailyCollections:
    async def test_adds_up_per_day_channel_and_operator(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))  # a Tuesday, the counter open
        await _campus(engine, clock)
        await pay(engine, clock, "051600005001", 1000, operator="王", reference="R1")
        await pay(engine, clock, "051600005002", 2000, operator="王", reference="R2")
        await pay(engine, clock, "051600005003", 500, operator="李", reference="R3")
        # 23:30 local is 15:30 UTC: it belongs to the local day, not the UTC one's next.
        await open_counter_for(engine, clock, local(2026, 12, 1, 23), local(2026, 12, 2, 1))
        clock.set(local(2026, 12, 1, 23, 30))
        await pay(engine, clock, "051600005004", 300, operator="李", reference="R4")
        clock.set(local(2026, 12, 2, 0, 30))
        await pay(engine, clock, "051600005004", 700, operator="李", reference="R5")

        report = await queries.daily_collections(
            uow=db.SqlReadOnlyUnitOfWork(engine),
            first_date=date(2026, 12, 1),
            last_date=date(2026, 12, 2),
        )

        assert [(r.day, r.operator, r.count, r.amount.fen) for r in report.rows] == [
            (date(2026, 12, 1), "李", 2, 800),
            (date(2026, 12, 1), "王", 2, 3000),
            (date(2026, 12, 2), "李", 1, 700),
        ]
        assert report.total == Money(fen=4500)
        assert report.by(lambda r: r.channel) == {"COUNTER": Money(fen=4500)}


class TestBalanceLists:
    async def test_the_arrears_list_is_every_account_below_zero_most_owed_first(
        self, engine: Engine
    ) -> None:
        await _campus(engine, FakeClock(local(2026, 12, 1, 9)))

        found = await queries.arrears_list(uow=db.SqlReadOnlyUnitOfWork(engine))

        assert [(str(r.account_number), r.balance.fen) for r in found.rows] == [
            ("051600005004", -1200),
            ("051600005001", -350),
        ]
        assert found.line == Money(fen=prepaid.arrears_line_fen())

    async def test_the_low_balance_list_takes_the_rules_own_line(self, engine: Engine) -> None:
        clock = FakeClock(local(2026, 12, 1, 9))
        await _campus(engine, clock)

        found = await queries.low_balance_list(
            uow=db.SqlReadOnlyUnitOfWork(engine), now=clock.now()
        )

        # 20 kWh at 0.5283 yuan is 1056.6 fen: 10.56 yuan is low, 50.00 is not, arrears are
        # on the other list.
        assert found.line == Money(fen=1057)
        assert [(str(r.account_number), r.balance.fen) for r in found.rows] == [
            ("051600005002", 500),
            ("051600005005", 1056),
        ]

    async def test_pages_by_balance_then_number(self, engine: Engine) -> None:
        await _campus(engine, FakeClock(local(2026, 12, 1, 9)))

        first = await queries.arrears_list(uow=db.SqlReadOnlyUnitOfWork(engine), limit=1)
        second = await queries.arrears_list(
            uow=db.SqlReadOnlyUnitOfWork(engine), after=first.next_after, limit=1
        )

        assert [str(r.account_number) for r in first.rows + second.rows] == [
            "051600005004",
            "051600005001",
        ]


class TestUsageReports:
    async def test_ranks_accounts_by_use_over_the_days(self, engine: Engine) -> None:
        await _campus(engine, FakeClock(local(2026, 12, 1, 9)))
        daily_use(engine, "051600005001", date(2026, 11, 1), [1000, 2000])
        daily_use(engine, "051600005003", date(2026, 11, 1), [5000, 10])
        daily_use(engine, "051600005002", date(2026, 10, 31), [90_000])

        found = await queries.consumption_ranking(
            uow=db.SqlReadOnlyUnitOfWork(engine),
            first_date=date(2026, 11, 1),
            last_date=date(2026, 11, 30),
        )

        assert [(str(r.account_number), r.energy.wh) for r in found] == [
            ("051600005003", 5010),
            ("051600005001", 3000),
        ]

    async def test_collection_success_by_bus(self, engine: Engine) -> None:
        answered(engine, "bus-1", "", date(2026, 11, 1), 100, 90)
        answered(engine, "bus-1", "", date(2026, 11, 2), 100, 100)
        answered(engine, "bus-1", "051600005001", date(2026, 11, 2), 10, 10)
        answered(engine, "bus-2", "", date(2026, 11, 2), 50, 0)

        found = await queries.collection_success_by_bus(
            uow=db.SqlReadOnlyUnitOfWork(engine),
            first_date=date(2026, 11, 1),
            last_date=date(2026, 11, 30),
        )

        assert [(b.bus, b.attempts, b.successes, b.percent) for b in found] == [
            ("bus-1", 200, 190, 95.0),
            ("bus-2", 50, 0, 0.0),
        ]


class TestSuspectMeters:
    async def test_finds_zero_use_while_occupied(self, engine: Engine) -> None:
        now = local(2026, 12, 15, 9)
        await _campus(engine, FakeClock(local(2026, 12, 1, 9)))
        first = date(2026, 12, 1)
        daily_use(engine, "051600005001", first, [500] * 7 + [0] * 7)
        daily_use(engine, "051600005002", first, [500] * 14)
        # An empty flat: nothing before either.
        daily_use(engine, "051600005003", first, [0] * 14)
        for meter in ("051600005001", "051600005002", "051600005003"):
            answered(engine, "bus-1", meter, date(2026, 12, 10), 5, 5)

        found = await queries.suspect_meters(uow=db.SqlReadOnlyUnitOfWork(engine), now=now)

        assert [(s.kind, str(s.usage.account_number)) for s in found] == [
            (metering.SuspectKind.ZERO_USE_WHILE_OCCUPIED, "051600005001")
        ]

    async def test_finds_a_sudden_drop_after_a_cover_was_opened(self, engine: Engine) -> None:
        now = local(2026, 12, 22, 9)
        await _campus(engine, FakeClock(local(2026, 12, 1, 9)))
        daily_use(engine, "051600005002", date(2026, 12, 1), [3000] * 7 + [0] + [1000] * 13)
        daily_use(engine, "051600005003", date(2026, 12, 1), [3000] * 21)
        for meter in ("051600005002", "051600005003"):
            insert(
                engine,
                "meter_events",
                [
                    {
                        "meter_number": meter,
                        "kind": "METER_COVER_OPENED",
                        "occurred_at": local(2026, 12, 8, 3),
                        "detail": "",
                        "recorded_at": local(2026, 12, 8, 4),
                    }
                ],
            )

        found = await queries.suspect_meters(uow=db.SqlReadOnlyUnitOfWork(engine), now=now)

        drops = [s for s in found if s.kind is metering.SuspectKind.DROP_AFTER_COVER_OPENED]
        assert [
            (str(s.usage.account_number), s.usage.before.wh, s.usage.after.wh) for s in drops
        ] == [("051600005002", 21_000, 7_000)]

    async def test_finds_use_while_the_relay_is_open(self, engine: Engine) -> None:
        now = local(2026, 12, 22, 9)
        await _campus(engine, FakeClock(local(2026, 12, 1, 9)))
        tripped_at = local(2026, 12, 20, 10)
        for number, moved in (("051600005001", 500), ("051600005004", 10)):
            insert(
                engine,
                "relay_commands",
                [
                    {
                        "account_id": account_id(engine, number),
                        "meter_number": number,
                        "action": "TRIP",
                        "reason": "ARREARS",
                        "not_before_at": tripped_at,
                        "created_at": tripped_at,
                        "status": "CONFIRMED",
                        "done_at": tripped_at,
                    }
                ],
            )
            insert(
                engine,
                "meter_latest",
                [
                    {
                        "meter_number": number,
                        "read_at": local(2026, 12, 21, 10),
                        "relay_open": True,
                        "relay_command_open": True,
                        "keep_power": False,
                    }
                ],
            )
            ident = installation_id(engine, number)
            insert(
                engine,
                "readings",
                [
                    _reading(ident, tripped_at + timedelta(hours=hours), total)
                    for hours, total in ((-1, 0), (1, 100), (20, 100 + moved))
                ],
            )

        found = await queries.suspect_meters(uow=db.SqlReadOnlyUnitOfWork(engine), now=now)

        assert [
            (s.kind, str(s.usage.account_number), s.usage.after.wh)
            for s in found
            if s.kind is metering.SuspectKind.USE_WHILE_RELAY_OPEN
        ] == [(metering.SuspectKind.USE_WHILE_RELAY_OPEN, "051600005001", 500)]


def _reading(installation: int, at: object, total: int) -> dict[str, object]:
    return {
        "installation_id": installation,
        "meter_time_at": at,
        "received_at": at,
        "total_wh": total,
        "sharp_wh": 0,
        "peak_wh": 0,
        "flat_wh": total,
        "valley_wh": 0,
        "outcome": "ACCEPTED",
    }
