"""Month-end statements written set-based, on SQLite and PostgreSQL, against the domain.

A small campus lives through June 2025 by the use cases (readings, top-ups, a tariff change on
16 June, a B8 credit) and into July; month-end then writes June's statements in SQL. Every
account's written lines must equal the domain's ``monthly_statement`` of June for that account,
and the campus holds every case the paid rule and the lines distinguish.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.adapters import db
from wattbook.adapters.db.billing._month_end import charge_lines_select, status_case
from wattbook.application import queries
from wattbook.application.billing import month_end
from wattbook.application.billing.set_tariff import set_tariff
from wattbook.domain import billing
from wattbook.domain.values import AccountNumber, BillingMonth, Energy, Money, Price, TimeOfUse

JUNE = BillingMonth(year=2025, month=6)
OLD = "RESIDENTIAL_LIGHTING@2000-01-01"
NEW = "RESIDENTIAL_LIGHTING@2025-06-16"

PAID = billing.StatementStatus.PAID
UNPAID = billing.StatementStatus.UNPAID


class Campus:
    """Households named by what their June statement shows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = FakeClock(local(2025, 6, 1, 8))
        names = (
            "paid",
            "unpaid",
            "partly",
            "arrears_both",
            "zero",
            "tariff_change",
            "credit",
            "topped_up",
            "idle",
        )
        self.homes = {
            name: Household(engine, self.clock, number=f"0516{index:08d}")
            for index, name in enumerate(names, start=1)
        }

    def number(self, name: str) -> AccountNumber:
        return self.homes[name].number

    async def live(self) -> None:
        h = self.homes
        await set_tariff(
            uow=db.SqlUnitOfWork(self.engine),
            tariff=billing.flat_tariff(
                price=Price.parse("0.6000"), effective_from=date(2025, 6, 16)
            ),
        )
        await h["paid"].open(opening=Money(fen=10_000))
        await h["unpaid"].open(opening=Money(fen=100))
        await h["partly"].open(opening=Money(fen=1_000))
        await h["arrears_both"].open(opening=Money(fen=100))
        await h["zero"].open(opening=Money(fen=5_000))
        await h["tariff_change"].open(opening=Money(fen=10_000))
        await h["credit"].open(migration=Energy(wh=50_000))
        await h["topped_up"].open(opening=Money(fen=100))
        await h["idle"].open(opening=Money(fen=100))
        # First half of June, at the old price (0.5283).
        await h["paid"].use(10_000)  # 10 kWh
        await h["unpaid"].use(40_000)  # 21.13 yuan against 1 yuan
        await h["partly"].use(10_000)  # 5.28 yuan against 10 yuan
        await h["arrears_both"].use(40_000)
        await h["zero"].use(0)
        await h["tariff_change"].use(20_000)
        await h["credit"].use(10_000)
        await h["topped_up"].use(40_000)
        # The new price from 16 June: a reading at its first instant ends the old price's part.
        self.clock.set(local(2025, 6, 16))
        for name in ("tariff_change", "partly", "arrears_both"):
            await h[name].use(0, over=timedelta(0))
        self.clock.set(local(2025, 6, 20, 9))
        # Second half of June, at the new price.
        await h["tariff_change"].use(30_000)
        await h["zero"].use(0)
        await h["topped_up"].top_up(5_000)
        # July: later charges decide whether June counts as paid.
        # Readings at the month's first instant close June for the two that use power in July.
        self.clock.set(local(2025, 7, 1))
        for name in ("partly", "arrears_both"):
            await h[name].use(0, over=timedelta(0))
        self.clock.set(local(2025, 7, 2, 9))
        await h["partly"].use(20_000, over=timedelta(hours=2))  # 12 yuan: balance goes negative
        await h["arrears_both"].use(10_000, over=timedelta(hours=2))
        self.clock.set(local(2025, 7, 10, 9))

    async def domain_june(self, name: str) -> tuple[billing.StatementLine, ...]:
        lines = await queries.monthly_statement(
            uow=db.SqlReadOnlyUnitOfWork(self.engine), number=self.number(name)
        )
        return tuple(line for line in lines if line.month == JUNE)

    async def written_june(self) -> dict[AccountNumber, tuple[billing.StatementLine, ...]]:
        async with db.SqlMonthEndUnitOfWork(self.engine) as uow:
            page = await uow.statements.lines(month=JUNE, after=None, limit=100)
        return dict(page)

    def count(self, query: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.text(query)).scalar_one())


def _sorted(lines: tuple[billing.StatementLine, ...]) -> list[billing.StatementLine]:
    return sorted(lines, key=repr)


async def _write(campus: Campus, **kwargs: object) -> month_end.MonthEndOutcome:
    return await month_end.write_month_end(
        uow_factory=db.month_end_factory(campus.engine),
        clock=campus.clock,
        month=JUNE,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_the_written_lines_equal_the_domain_for_every_case(engine: Engine) -> None:
    campus = Campus(engine)
    await campus.live()

    outcome = await _write(campus, seed=7)

    written = await campus.written_june()
    for name in campus.homes:
        assert _sorted(written.get(campus.number(name), ())) == _sorted(
            await campus.domain_june(name)
        ), name
    # The campus really holds each case (else the equality above would prove little).
    summary = {
        name: [line.status for line in written[campus.number(name)] if line.amount.fen > 0]
        for name in ("paid", "unpaid", "partly", "arrears_both", "topped_up")
    }
    assert summary == {
        "paid": [PAID],
        "unpaid": [UNPAID],
        "partly": [PAID],  # negative now, but July's charges cover it: June is paid
        "arrears_both": [UNPAID],  # so far behind that July's charges do not cover it
        "topped_up": [PAID],
    }
    tariff_lines = written[campus.number("tariff_change")]
    assert [(line.price, line.energy.wh) for line in tariff_lines] == [
        (Price.parse("0.5283"), 20_000),
        (Price.parse("0.6000"), 30_000),
    ]
    credit_line = written[campus.number("credit")][0]
    assert (credit_line.energy.kwh, credit_line.amount.fen, credit_line.status) == (
        Decimal("-50.00"),
        -2642,
        PAID,
    )
    zero = written.get(campus.number("zero"), ())
    assert zero
    assert all(line.energy.wh == 0 and line.amount.fen == 0 for line in zero)
    assert campus.number("idle") not in written
    assert outcome.written
    assert outcome.run.lines == sum(len(lines) for lines in written.values())
    assert outcome.run.accounts == len(written)
    assert outcome.run.unpaid_lines == sum(
        line.status is UNPAID for lines in written.values() for line in lines
    )
    assert outcome.run.amount == Money(
        fen=sum(line.amount.fen for lines in written.values() for line in lines)
    )
    assert outcome.checked == len(written)


async def test_a_second_month_end_writes_nothing_more(engine: Engine) -> None:
    campus = Campus(engine)
    await campus.live()
    first = await _write(campus)
    lines_before = campus.count("SELECT COUNT(*) FROM statement_lines")
    await campus.homes["unpaid"].top_up(50_000)  # the status would now differ
    campus.clock.advance(timedelta(days=1))

    again = await _write(campus)

    assert not again.written
    assert again.run == first.run
    assert campus.count("SELECT COUNT(*) FROM statement_lines") == lines_before
    assert campus.count("SELECT COUNT(*) FROM month_end_runs") == 1
    written = await campus.written_june()
    assert [line.status for line in written[campus.number("unpaid")]] == [UNPAID]


async def test_a_month_not_over_is_refused_and_nothing_written(engine: Engine) -> None:
    campus = Campus(engine)
    await campus.homes["paid"].open(opening=Money(fen=100))
    campus.clock.set(local(2025, 6, 30, 23, 59))

    with pytest.raises(month_end.MonthNotOver, match="2025-06"):
        await _write(campus)

    assert campus.count("SELECT COUNT(*) FROM month_end_runs") == 0


async def test_a_line_the_domain_disagrees_with_writes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    campus = Campus(engine)
    await campus.live()
    right = month_end.statement_tariffs

    def wrong_price(
        history: billing.TariffHistory,
    ) -> tuple[month_end.billing_ports.StatementTariff, ...]:
        return tuple(
            month_end.billing_ports.StatementTariff(
                tariff_key=t.tariff_key, item=t.item, price=Price.parse("0.5284")
            )
            for t in right(history)
        )

    monkeypatch.setattr(month_end, "statement_tariffs", wrong_price)

    with pytest.raises(month_end.MonthEndMismatch) as raised:
        await _write(campus)

    assert campus.number("paid") in raised.value.accounts
    assert campus.count("SELECT COUNT(*) FROM statement_lines") == 0
    assert campus.count("SELECT COUNT(*) FROM month_end_runs") == 0


@pytest.mark.parametrize("covered_from", [0, 1, -5])
def test_the_sql_paid_rule_is_the_domain_rule(engine: Engine, covered_from: int) -> None:
    rule = billing.PaidRule(covered_from=Money(fen=covered_from))
    cases = [(b, later) for b in (-1000, -7, -6, -1, 0, 1, 5, 1000) for later in (0, 1, 6, 7, 999)]
    with engine.connect() as connection:
        for balance, later in cases:
            sql = connection.execute(
                sa.select(
                    status_case(
                        sa.literal(balance, sa.BigInteger), sa.literal(later, sa.BigInteger), rule
                    )
                )
            ).scalar_one()
            domain = rule.status(balance=Money(fen=balance), later_charges=Money(fen=later))
            assert sql == domain.value, (balance, later)


async def test_a_version_with_several_prices_shows_none_as_the_domain_does(
    engine: Engine,
) -> None:
    campus = Campus(engine)
    await set_tariff(
        uow=db.SqlUnitOfWork(engine),
        tariff=billing.time_of_use_tariff(
            prices={p: Price.parse(f"0.{i + 4}") for i, p in enumerate(TimeOfUse)},
            effective_from=date(2025, 6, 16),
        ),
    )
    home = campus.homes["tariff_change"]
    await home.open(opening=Money(fen=10_000))
    await home.use(10_000)
    campus.clock.set(local(2025, 6, 16))
    await home.use(0, over=timedelta(0))
    campus.clock.set(local(2025, 6, 20, 9))
    await home.use(20_000)
    campus.clock.set(local(2025, 7, 3))

    await _write(campus)

    written = (await campus.written_june())[home.number]
    assert _sorted(written) == _sorted(await campus.domain_june("tariff_change"))
    assert [line.price for line in written] == [Price.parse("0.5283"), None]


async def test_the_month_end_reads_one_snapshot_while_others_commit(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite: the month-end holds the write lock from its first statement")
    campus = Campus(engine)
    await campus.homes["paid"].open(opening=Money(fen=100))
    read = sa.text("SELECT balance_fen FROM balances")

    async with db.SqlMonthEndUnitOfWork(engine) as uow:
        before = await uow.call(lambda connection: connection.execute(read).scalar_one())
        with engine.begin() as other:
            other.execute(sa.text("UPDATE balances SET balance_fen = balance_fen + 1"))
        after = await uow.call(lambda connection: connection.execute(read).scalar_one())

    assert before == after == 100


async def test_both_forms_of_the_charge_lines_select_the_same_rows(engine: Engine) -> None:
    campus = Campus(engine)
    await campus.live()
    async with db.SqlReadOnlyUnitOfWork(engine) as uow:
        history = await uow.tariffs.history()
    tariffs = month_end.statement_tariffs(history)

    with engine.connect() as connection:
        rows = {
            grouped: sorted(
                tuple(row)
                for row in connection.execute(
                    charge_lines_select(
                        month=JUNE, tariffs=tariffs, rule=billing.PAID_RULE, grouped=grouped
                    )
                )
            )
            for grouped in (False, True)
        }

    assert rows[True] == rows[False]
    assert len(rows[True]) >= 9
