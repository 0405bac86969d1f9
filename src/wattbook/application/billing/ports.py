"""The billing area's ports: the journal and balances, tariffs, charge totals, statements."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from wattbook.domain import accounts, billing, ledger
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    Money,
    Price,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceDifference:
    """A cached balance that disagrees with the sum of its journal."""

    account_number: AccountNumber
    cached: Money
    journal: Money


class LedgerRepository(Protocol):
    """The append-only journal and the cached balances."""

    async def balances(self, numbers: Collection[AccountNumber]) -> dict[AccountNumber, Money]:
        """Return the cached balances of the accounts."""
        ...

    async def post(self, entries: Sequence[ledger.Entry]) -> dict[AccountNumber, Money]:
        """Append entries, update the cached balances, and return the new balances.

        :raises ledger.DuplicateReference: if a reference was posted before.
        """
        ...

    async def get(self, reference: str) -> ledger.Entry | None:
        """Return the entry with this reference, if any."""
        ...

    async def record_migration_credit(
        self, credit: accounts.MigrationCredit, *, reference: str
    ) -> None:
        """Remember the energy and price behind a posted migration credit (B8)."""
        ...

    async def migration_credits(
        self, number: AccountNumber
    ) -> tuple[accounts.MigrationCredit, ...]:
        """Return the account's B8 migration credits."""
        ...

    async def reconcile(self) -> tuple[BalanceDifference, ...]:
        """Recompute every balance from the journal and return the ones that differ."""
        ...


class TariffRepository(Protocol):
    """Tariffs with effective dates."""

    async def history(self) -> billing.TariffHistory:
        """Return every tariff."""
        ...

    async def replace_from(self, tariff: billing.Tariff) -> None:
        """End the tariff in force at ``tariff.effective_from`` there, and add ``tariff``."""
        ...


class ChargeRepository(Protocol):
    """Cumulative charges per account, tariff and billing month."""

    async def totals(
        self, numbers: Collection[AccountNumber], *, years: Collection[int] | None
    ) -> dict[AccountNumber, tuple[billing.ChargeTotal, ...]]:
        """Return the accounts' charge totals in the calendar years given (None: all)."""
        ...

    async def save(self, totals: Mapping[AccountNumber, Sequence[billing.ChargeTotal]]) -> None:
        """Insert or overwrite the given charge totals."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountMonths:
    """One account's balance and its charge totals from a month on (the month-end read)."""

    account_number: AccountNumber
    balance: Money
    totals: tuple[billing.ChargeTotal, ...]


class StatementReader(Protocol):
    """The read-only side for month-end statements over every account, page by page."""

    async def page(
        self, *, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[AccountMonths, ...]:
        """Return up to ``limit`` accounts after ``after`` (by number) charged in ``month``,
        each with its totals for ``month`` and later months."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementTariff:
    """What a statement line shows for one tariff version: its item and, if it has one price,
    that price (``billing.statement_price``). The set-based month-end takes these from the
    domain rather than deciding them in SQL."""

    tariff_key: str
    item: str
    price: Price | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthEndRun:
    """A month's statements as written: when, and how many accounts, lines and fen."""

    month: BillingMonth
    written_at: datetime
    accounts: int
    lines: int
    amount: Money
    unpaid_lines: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenStatement:
    """One account's written lines for a month beside what the domain needs to recompute them:
    its balance as the month-end read it, its charge totals (every month) and its B8 credits."""

    account_number: AccountNumber
    lines: tuple[billing.StatementLine, ...]
    balance: Money
    totals: tuple[billing.ChargeTotal, ...]
    credits: tuple[accounts.MigrationCredit, ...]


class StatementRepository(Protocol):
    """Month-end statements written to storage, set-based, once per month."""

    async def run(self, month: BillingMonth) -> MonthEndRun | None:
        """Return the month's run if its statements were written, else None."""
        ...

    async def write(
        self,
        *,
        month: BillingMonth,
        tariffs: Sequence[StatementTariff],
        rule: billing.PaidRule,
        written_at: datetime,
    ) -> MonthEndRun | None:
        """Write the statement lines of every account charged or credited in ``month``, the
        status decided by ``rule`` from the current balance and later months' charges.

        Returns None, writing nothing, if the month's statements exist already.
        """
        ...

    async def sample(
        self, *, month: BillingMonth, size: int, seed: int
    ) -> tuple[WrittenStatement, ...]:
        """Return up to ``size`` accounts written for ``month`` (chosen from ``seed``, plus some
        with an unpaid line), each with what the domain needs to recompute its lines."""
        ...

    async def lines(
        self, *, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[tuple[AccountNumber, tuple[billing.StatementLine, ...]], ...]:
        """Return up to ``limit`` accounts after ``after`` (by number) with their written lines."""
        ...


class MonthEndUnitOfWork(Protocol):
    """The month-end's transaction: the tariffs, the written statements, commit."""

    tariffs: TariffRepository
    statements: StatementRepository

    async def __aenter__(self) -> Self:
        """Begin the transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    async def commit(self) -> None:
        """Commit the transaction."""
        ...
