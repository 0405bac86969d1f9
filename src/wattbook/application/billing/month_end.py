"""Month-end (B3): write every account's statement lines for a month, once.

The lines are written set-based by storage (one statement for all accounts), with the item, the
price and the paid rule taken from the domain. Before the transaction commits, a sample of the
written accounts is recomputed by the domain (``billing.monthly_statement``); if any differs,
nothing is written and the error names the accounts. Running it again for a month already
written writes nothing and returns the first run.

The paid status is as of the run: the balance then and the charges of later months then. A
month is closed only after it has ended by the clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from wattbook.application.billing import ports as billing_ports
from wattbook.application.ports import Clock
from wattbook.domain import billing
from wattbook.domain.values import AccountNumber, BillingMonth

# Accounts the domain recomputes before a month-end commits (plus up to as many with arrears).
SAMPLE_SIZE = 200


class MonthNotOver(ValueError):
    """Raise when month-end is asked for a month that has not ended yet."""


class MonthEndMismatch(RuntimeError):
    """Raise when the written lines of sampled accounts differ from the domain's; nothing was
    written."""

    def __init__(self, month: BillingMonth, accounts: tuple[AccountNumber, ...]) -> None:
        shown = ", ".join(str(number) for number in accounts[:10])
        super().__init__(
            f"month-end {month}: the statements of {len(accounts)} sampled account(s) differ "
            f"from the domain's ({shown}); nothing was written"
        )
        self.month = month
        self.accounts = accounts


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthEndOutcome:
    """What a month-end did: the month's run, whether this call wrote it, how many accounts
    the domain checked."""

    run: billing_ports.MonthEndRun
    written: bool
    checked: int


def statement_tariffs(history: billing.TariffHistory) -> tuple[billing_ports.StatementTariff, ...]:
    """Return what a statement line shows for each tariff version, decided by the domain."""
    return tuple(
        billing_ports.StatementTariff(
            tariff_key=tariff.key, item=tariff.item, price=billing.statement_price(tariff)
        )
        for tariff in history.tariffs
    )


def expected_lines(
    written: billing_ports.WrittenStatement, *, tariffs: billing.TariffHistory, month: BillingMonth
) -> tuple[billing.StatementLine, ...]:
    """Return the domain's lines of ``month`` for a written account's inputs."""
    lines = billing.monthly_statement(
        totals=written.totals,
        tariffs=tariffs,
        migration_credits=written.credits,
        balance=written.balance,
    )
    return tuple(line for line in lines if line.month == month)


def _same(a: tuple[billing.StatementLine, ...], b: tuple[billing.StatementLine, ...]) -> bool:
    return sorted(a, key=repr) == sorted(b, key=repr)


async def write_month_end(
    *,
    uow_factory: Callable[[], billing_ports.MonthEndUnitOfWork],
    clock: Clock,
    month: BillingMonth,
    sample_size: int = SAMPLE_SIZE,
    seed: int | None = None,
) -> MonthEndOutcome:
    """Write the statements of ``month`` for every account charged or credited in it, once.

    :raises MonthNotOver: if the month has not ended by the clock (nothing written).
    :raises MonthEndMismatch: if a sampled account's lines differ from the domain's (nothing
        written).
    """
    if sample_size < 0:
        raise ValueError("the sample size cannot be negative")
    now = clock.now()
    if now < month.end_at:
        raise MonthNotOver(f"month {month} has not ended yet (it ends at {month.end_at})")
    async with uow_factory() as uow:
        existing = await uow.statements.run(month)
        if existing is not None:
            return MonthEndOutcome(run=existing, written=False, checked=0)
        history = await uow.tariffs.history()
        run = await uow.statements.write(
            month=month,
            tariffs=statement_tariffs(history),
            rule=billing.PAID_RULE,
            written_at=now,
        )
        if run is None:
            # Another month-end wrote it meanwhile (it waited on the run's key): keep that one.
            found = await uow.statements.run(month)
            if found is None:  # pragma: no cover - the key held means the row is there
                raise RuntimeError(f"month-end {month}: no run after a conflict")
            return MonthEndOutcome(run=found, written=False, checked=0)
        samples = await uow.statements.sample(
            month=month,
            size=sample_size,
            seed=secrets.randbits(32) if seed is None else seed,
        )
        different = tuple(
            written.account_number
            for written in samples
            if not _same(written.lines, expected_lines(written, tariffs=history, month=month))
        )
        if different:
            raise MonthEndMismatch(month, different)
        await uow.commit()
    return MonthEndOutcome(run=run, written=True, checked=len(samples))
