"""The household import and the reports' use cases, on the fakes and a recording reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pytest
from tests.fakes import FakeClock, FakeDatabase
from tests.functional.household import local

from wattbook.application import queries
from wattbook.application.accounts.import_households import (
    InvalidHouseholdFile,
    import_households,
    parse_households,
)
from wattbook.application.queries import report_ports as rp
from wattbook.domain import metering, prepaid
from wattbook.domain.values import AccountNumber, Energy, Money

HEADER = ["户号", "户名", "手机号", "地址", "总线", "期初余额", "迁移电量"]


def _rows(*rows: list[str]) -> list[tuple[int, list[str]]]:
    return list(enumerate([HEADER, *rows], start=1))


class TestParseHouseholds:
    def test_reads_chinese_headers_and_defaults_the_meter_to_the_account(self) -> None:
        (found,) = parse_households(
            _rows(["051600001001", "张伟", "138 0013 8001", "1栋101", "bus-1", "-3.5", "12.3"])
        )

        assert found.meter_number.value == "051600001001"
        assert found.phone is not None
        assert found.phone.digits == "13800138001"
        assert found.opening_balance == Money(fen=-350)
        assert found.migration_energy == Energy(wh=12_300)

    def test_reports_every_bad_row_with_its_line(self) -> None:
        with pytest.raises(InvalidHouseholdFile) as raised:
            parse_households(
                _rows(
                    ["05160000100", "张伟", "", "1栋101", "", "", ""],
                    ["051600001002", "王芳", "", "1栋102", "", "", "-2"],
                    ["051600001003", "李娜", "", "", "", "", ""],
                    ["051600001004", "刘洋", "", "1栋104", "", "", ""],
                )
            )

        assert [line for line, _ in raised.value.problems] == [2, 3, 4]

    def test_refuses_an_unknown_column(self) -> None:
        with pytest.raises(InvalidHouseholdFile) as raised:
            parse_households([(1, ["户号", "户名", "地址", "余额"])])

        assert raised.value.problems == ((1, "unknown column '余额'"),)

    def test_refuses_an_empty_file(self) -> None:
        with pytest.raises(InvalidHouseholdFile):
            parse_households([(1, ["", ""])])


class TestImportHouseholds:
    async def test_opens_every_household_with_its_opening_balance(self) -> None:
        db, clock = FakeDatabase(), FakeClock(local(2026, 12, 1, 9))

        report = await import_households(
            uow=db(),
            clock=clock,
            by="clerk",
            rows=_rows(
                ["051600001001", "张伟", "", "1栋101", "bus-1", "50", ""],
                ["051600001002", "王芳", "", "1栋102", "", "", "10"],
            ),
        )

        assert (report.accounts, report.meters) == (2, 1)
        ((stored),) = db.tables.audit_log
        assert (stored.record.actor, stored.record.action) == (
            "clerk",
            "accounts.households.imported",
        )
        assert db.balance(AccountNumber(value="051600001001")) == Money(fen=5000)
        # 10 kWh at 0.5283 yuan, credited (B8).
        assert db.balance(AccountNumber(value="051600001002")) == Money(fen=528)

    async def test_writes_nothing_when_an_account_exists(self) -> None:
        db, clock = FakeDatabase(), FakeClock(local(2026, 12, 1, 9))
        await import_households(
            uow=db(),
            clock=clock,
            by="clerk",
            rows=_rows(["051600001001", "张伟", "", "1栋101", "", "", ""]),
        )
        commits = db.commits

        with pytest.raises(InvalidHouseholdFile) as raised:
            await import_households(
                uow=db(),
                clock=clock,
                by="clerk",
                rows=_rows(
                    ["051600001002", "王芳", "", "1栋102", "", "5", ""],
                    ["051600001001", "张伟", "", "1栋101", "", "", ""],
                ),
            )

        assert raised.value.problems == ((3, "account 051600001001 exists already"),)
        assert db.commits == commits
        assert AccountNumber(value="051600001002") not in db.tables.accounts


@dataclass
class RecordingReader:
    """A ReportReader that answers what it is given and records what it was asked."""

    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    idle: tuple[rp.UsageAround, ...] = ()
    covers: tuple[rp.UsageAround, ...] = ()
    open_relays: tuple[rp.UsageAround, ...] = ()
    accounts: tuple[rp.AccountRow, ...] = ()

    async def accounts_page(self, **kwargs: Any) -> tuple[rp.AccountRow, ...]:
        self.asked.append(("accounts_page", kwargs))
        return self.accounts[: kwargs["limit"]]

    async def account(self, number: AccountNumber) -> rp.AccountRow:
        self.asked.append(("account", {"number": number}))
        return next(row for row in self.accounts if row.account_number == number)

    async def readings_page(self, **kwargs: Any) -> tuple[rp.ReadingRow, ...]:
        self.asked.append(("readings_page", kwargs))
        return ()

    async def payments_page(self, **kwargs: Any) -> tuple[rp.PaymentRow, ...]:
        self.asked.append(("payments_page", kwargs))
        return ()

    async def balances_below(self, **kwargs: Any) -> tuple[rp.AccountRow, ...]:
        self.asked.append(("balances_below", kwargs))
        return ()

    async def idle_meters(self, **kwargs: Any) -> tuple[rp.UsageAround, ...]:
        self.asked.append(("idle_meters", kwargs))
        return self.idle

    async def use_around_cover_events(self, **kwargs: Any) -> tuple[rp.UsageAround, ...]:
        self.asked.append(("use_around_cover_events", kwargs))
        return self.covers

    async def use_while_relay_open(self) -> tuple[rp.UsageAround, ...]:
        return self.open_relays


class ReportingFake:
    """A fake read-only unit of work with the recording reader as its reports."""

    def __init__(self, db: FakeDatabase, reader: RecordingReader) -> None:
        self._inner = db()
        self.reports = reader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> ReportingFake:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.__aexit__(None, None, None)


def _usage(number: str, before: int, after: int, at: datetime | None = None) -> rp.UsageAround:
    return rp.UsageAround(
        account_number=AccountNumber(value=number),
        meter_number=number,
        holder="甲",
        address="1栋",
        before=Energy(wh=before),
        after=Energy(wh=after),
        at=at,
    )


class TestBalanceLists:
    async def test_the_low_balance_line_is_the_rules_own(self) -> None:
        reader = RecordingReader()
        db = FakeDatabase()
        now = local(2026, 12, 1, 9)

        found = await queries.low_balance_list(uow=ReportingFake(db, reader), now=now)  # type: ignore[arg-type]

        settings = prepaid.PrepaidSettings()
        line = prepaid.low_balance_line_fen(db.tables.tariffs[0].bands[0].price, settings)
        assert found.line == Money(fen=line)
        assert reader.asked == [
            (
                "balances_below",
                {
                    "below_fen": line,
                    "at_least_fen": prepaid.arrears_line_fen(),
                    "after": None,
                    "limit": rp.MAX_PAGE,
                },
            )
        ]

    async def test_refuses_a_range_longer_than_a_quarter(self) -> None:
        with pytest.raises(queries.InvalidReportRange):
            queries.check_range(date(2026, 1, 1), date(2026, 6, 1))


class TestSuspectMeters:
    async def test_keeps_only_what_the_domain_calls_suspect(self) -> None:
        reader = RecordingReader(
            idle=(_usage("051600000001", 7_000, 0), _usage("051600000002", 500, 0)),
            covers=(
                _usage("051600000003", 20_000, 5_000, local(2026, 12, 3, 2)),
                _usage("051600000004", 20_000, 15_000, local(2026, 12, 3, 2)),
            ),
            open_relays=(_usage("051600000005", 0, 30), _usage("051600000006", 0, 10)),
        )

        found = await queries.suspect_meters(
            uow=ReportingFake(FakeDatabase(), reader),  # type: ignore[arg-type]
            now=local(2026, 12, 15, 9),
        )

        assert [(s.kind, str(s.usage.account_number)) for s in found] == [
            (metering.SuspectKind.ZERO_USE_WHILE_OCCUPIED, "051600000001"),
            (metering.SuspectKind.DROP_AFTER_COVER_OPENED, "051600000003"),
            (metering.SuspectKind.USE_WHILE_RELAY_OPEN, "051600000005"),
        ]
        idle_asked = dict(reader.asked)["idle_meters"]
        assert (idle_asked["first_date"], idle_asked["last_date"]) == (
            date(2026, 12, 8),
            date(2026, 12, 14),
        )


def _account_row(serial: int) -> rp.AccountRow:
    return rp.AccountRow(
        account_number=AccountNumber(value=f"0516{serial:08d}"),
        holder="甲",
        phone=None,
        address="1栋",
        status="OPEN",
        opened_at=local(2026, 1, 1, 9),
        balance=Money(fen=serial),
    )


class TestFeeds:
    async def test_a_page_reads_one_more_than_asked_to_say_whether_more_follow(self) -> None:
        reader = RecordingReader(accounts=tuple(_account_row(serial) for serial in (1, 2, 3)))
        uow = ReportingFake(FakeDatabase(), reader)

        page = await queries.account_page(uow=uow, after=None, limit=2)  # type: ignore[arg-type]
        last = await queries.account_page(uow=uow, after=None, limit=3)  # type: ignore[arg-type]

        assert ([row.balance.fen for row in page.items], page.more) == ([1, 2], True)
        assert (len(last.items), last.more) == (3, False)
        assert [kwargs["limit"] for _name, kwargs in reader.asked] == [3, 4]

    async def test_the_cursor_is_passed_on_and_one_account_is_read_by_number(self) -> None:
        reader = RecordingReader(accounts=(_account_row(1),))
        uow = ReportingFake(FakeDatabase(), reader)
        number = AccountNumber(value="051600000001")

        readings = await queries.reading_page(uow=uow, number=number, after_id=41, limit=10)  # type: ignore[arg-type]
        payments = await queries.payment_page(uow=uow, number=None, after_id=7, limit=1)  # type: ignore[arg-type]
        row = await queries.account_detail(uow=uow, number=number)  # type: ignore[arg-type]

        assert (readings.more, payments.more, row.account_number) == (False, False, number)
        assert reader.asked == [
            ("readings_page", {"number": number, "after_id": 41, "limit": 11}),
            ("payments_page", {"number": None, "after_id": 7, "limit": 2}),
            ("account", {"number": number}),
        ]

    @pytest.mark.parametrize("limit", [0, rp.MAX_PAGE + 1])
    async def test_a_limit_out_of_range_is_refused_before_reading(self, limit: int) -> None:
        reader = RecordingReader()
        uow = ReportingFake(FakeDatabase(), reader)

        with pytest.raises(queries.InvalidPage):
            await queries.account_page(uow=uow, after=None, limit=limit)  # type: ignore[arg-type]
        with pytest.raises(queries.InvalidPage):
            await queries.payment_page(uow=uow, number=None, after_id=None, limit=limit)  # type: ignore[arg-type]

        assert reader.asked == []
