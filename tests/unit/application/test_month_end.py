"""Month-end (B3) on the fakes: written once, only after the month, checked by the domain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.functional.household import local
from tests.unit.application.world import World, number

from wattbook.application import queries
from wattbook.application.accounts.open_account import open_account
from wattbook.application.billing.month_end import (
    MonthEndMismatch,
    MonthEndOutcome,
    MonthNotOver,
    write_month_end,
)
from wattbook.domain import accounts, billing
from wattbook.domain.values import AccountNumber, BillingMonth, Energy, Money

JUNE = BillingMonth(year=2025, month=6)
PAID = billing.StatementStatus.PAID
UNPAID = billing.StatementStatus.UNPAID


class June:
    """Three households through June and into July: one in credit, one in arrears, one with a
    B8 migration credit."""

    def __init__(self) -> None:
        self.world = World()

    async def live(self) -> None:
        world = self.world
        self.paid = await world.household(1, opening_fen=10_000)
        self.arrears = await world.household(2, opening_fen=100)
        self.credited = number(3)
        await open_account(
            uow=world.uow(),
            clock=world.clock,
            number=self.credited,
            holder=accounts.Holder(name="李四"),
            phone=None,
            address=accounts.Address(text="丙6-1-802"),
            migration_energy=Energy(wh=10_000),
        )
        await world.use(self.paid, 10_000)
        await world.use(self.arrears, 40_000)  # 21.13 yuan against 1 yuan
        world.clock.set(local(2025, 7, 2, 9))

    async def write(self, **kwargs: int) -> MonthEndOutcome:
        return await write_month_end(
            uow_factory=self.world.db, clock=self.world.clock, month=JUNE, **kwargs
        )

    async def domain(self, account: AccountNumber) -> list[billing.StatementLine]:
        lines = await queries.monthly_statement(uow=self.world.uow(), number=account)
        return sorted((line for line in lines if line.month == JUNE), key=repr)

    async def written(self) -> dict[AccountNumber, list[billing.StatementLine]]:
        async with self.world.uow() as uow:
            page = await uow.statements.lines(month=JUNE, after=None, limit=10)
        return {account: sorted(lines, key=repr) for account, lines in page}


async def june() -> June:
    lived = June()
    await lived.live()
    return lived


class TestWriteMonthEnd:
    async def test_writes_every_account_charged_or_credited_as_the_domain_does(self) -> None:
        campus = await june()

        outcome = await campus.write(seed=7)

        written = await campus.written()
        assert list(written) == [campus.paid, campus.arrears, campus.credited]
        for account, lines in written.items():
            assert lines == await campus.domain(account)
        assert [line.status for line in written[campus.arrears]] == [UNPAID]
        assert [line.amount.fen for line in written[campus.credited]] == [-528]
        assert outcome.written
        assert outcome.checked == 3
        run = outcome.run
        assert (run.month, run.accounts, run.lines, run.unpaid_lines) == (JUNE, 3, 3, 1)
        assert run.amount == sum(
            (line.amount for lines in written.values() for line in lines), Money.zero()
        )
        assert run.written_at == campus.world.clock.now()

    async def test_a_second_call_returns_the_first_run_and_writes_nothing(self) -> None:
        campus = await june()
        first = await campus.write()
        commits = campus.world.db.commits
        campus.world.clock.advance(timedelta(days=1))

        again = await campus.write()

        assert (again.run, again.written, again.checked) == (first.run, False, 0)
        assert campus.world.db.commits == commits

    async def test_a_month_not_over_is_refused_and_nothing_written(self) -> None:
        campus = World()
        account = await campus.household(1)
        await campus.use(account, 1_000)
        campus.clock.set(JUNE.end_at - timedelta(seconds=1))

        with pytest.raises(MonthNotOver, match="2025-06"):
            await write_month_end(uow_factory=campus.db, clock=campus.clock, month=JUNE)

        assert campus.db.tables.month_end_runs == {}
        assert campus.db.tables.statement_lines == {}

    async def test_a_sampled_line_the_domain_disagrees_with_writes_nothing(self) -> None:
        campus = await june()
        campus.world.db.wrong_statement_of = campus.arrears
        commits = campus.world.db.commits

        with pytest.raises(MonthEndMismatch) as raised:
            await campus.write()

        assert raised.value.accounts == (campus.arrears,)
        assert str(campus.arrears) in str(raised.value)
        assert campus.world.db.commits == commits
        assert campus.world.db.tables.month_end_runs == {}
        assert campus.world.db.tables.statement_lines == {}
        # Once the fault is gone the month can be written.
        campus.world.db.wrong_statement_of = None
        assert (await campus.write()).written

    async def test_a_negative_sample_size_is_refused_and_nothing_written(self) -> None:
        campus = await june()

        with pytest.raises(ValueError, match="sample size"):
            await campus.write(sample_size=-1)

        assert campus.world.db.tables.month_end_runs == {}

    async def test_a_sample_size_of_zero_checks_none_and_writes(self) -> None:
        campus = await june()

        outcome = await campus.write(sample_size=0)

        assert (outcome.written, outcome.checked) == (True, 0)
