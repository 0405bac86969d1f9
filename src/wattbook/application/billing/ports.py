"""The billing area's ports: the journal and balances, tariffs, charge totals, statements."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from wattbook.domain import accounts, billing, ledger
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    Money,
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
