"""The read side's set-based reports and the API's paged feeds, and the port that reads them.

Every method reads in one or a few statements over the whole campus (20,000 accounts and
more); thresholds come in as arguments, worked out by the domain's one function for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from wattbook.domain.values import AccountNumber, Energy, Money

# The most rows one page of a feed or one report read returns.
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRow:
    """An account as the API and the reports show it."""

    account_number: AccountNumber
    holder: str
    phone: str | None
    address: str
    status: str
    opened_at: datetime
    balance: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingRow:
    """One stored reading of an account's meter (registers in Wh)."""

    id: int
    account_number: AccountNumber
    meter_number: str
    meter_time_at: datetime
    received_at: datetime
    total_wh: int
    sharp_wh: int
    peak_wh: int
    flat_wh: int
    valley_wh: int
    outcome: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRow:
    """One payment (top-up or correction) with its receipt."""

    id: int
    receipt_number: str
    account_number: AccountNumber
    channel: str
    kind: str
    amount: Money
    balance_after: Money
    at: datetime
    operator: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectionRow:
    """Money taken on one local day through one channel by one operator (None: no operator)."""

    day: date
    channel: str
    operator: str | None
    count: int
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRow:
    """An account's use over a period."""

    account_number: AccountNumber
    holder: str
    address: str
    energy: Energy


@dataclass(frozen=True, slots=True, kw_only=True)
class BusSuccessRow:
    """A bus's collection attempts and successes over a period (C2)."""

    bus: str
    attempts: int
    successes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageAround:
    """An account's use in two windows: before and after (or during) a point."""

    account_number: AccountNumber
    meter_number: str
    holder: str
    address: str
    before: Energy
    after: Energy
    at: datetime | None = None


class ReportReader(Protocol):
    """Set-based reads for the reports and the API's feeds."""

    async def accounts_page(
        self, *, after: AccountNumber | None, limit: int
    ) -> tuple[AccountRow, ...]:
        """Return up to ``limit`` accounts by number after ``after``, with their balances."""
        ...

    async def account(self, number: AccountNumber) -> AccountRow:
        """Return one account with its balance.

        :raises UnknownAccount: if there is no such account.
        """
        ...

    async def readings_page(
        self, *, number: AccountNumber, after_id: int | None, limit: int
    ) -> tuple[ReadingRow, ...]:
        """Return up to ``limit`` of the account's readings (every meter it had), by id.

        :raises UnknownAccount: if there is no such account.
        """
        ...

    async def payments_page(
        self, *, number: AccountNumber | None, after_id: int | None, limit: int
    ) -> tuple[PaymentRow, ...]:
        """Return up to ``limit`` payments (of one account, or all) by id after ``after_id``."""
        ...

    async def collections(self, *, first_date: date, last_date: date) -> tuple[CollectionRow, ...]:
        """Return the money taken per local day, channel and operator, days inclusive."""
        ...

    async def balances_below(
        self,
        *,
        below_fen: int,
        at_least_fen: int | None,
        after: tuple[int, AccountNumber] | None,
        limit: int,
    ) -> tuple[AccountRow, ...]:
        """Return open accounts whose balance is below ``below_fen`` (and at least
        ``at_least_fen``), lowest first, after the (balance in fen, number) ``after``."""
        ...

    async def consumption_ranking(
        self, *, first_date: date, last_date: date, limit: int
    ) -> tuple[UsageRow, ...]:
        """Return the accounts that used most between two local days (inclusive), most first."""
        ...

    async def bus_success(self, *, first_date: date, last_date: date) -> tuple[BusSuccessRow, ...]:
        """Return each bus's attempts and successes between two local days, by bus name."""
        ...

    async def idle_meters(
        self, *, first_date: date, last_date: date, before_first_date: date
    ) -> tuple[UsageAround, ...]:
        """Return open accounts whose meter answered between the days given but recorded no
        use, with their use from ``before_first_date`` to the day before ``first_date``
        (``before``) and in the window (``after``, zero)."""
        ...

    async def use_around_cover_events(
        self, *, since: datetime, until: datetime, days: int
    ) -> tuple[UsageAround, ...]:
        """Return, for each meter or terminal cover opened in ``[since, until)``, the account's
        use in the ``days`` local days before the event's day and the ``days`` after it."""
        ...

    async def use_while_relay_open(self) -> tuple[UsageAround, ...]:
        """Return the accounts whose relay reads open now, with the registers' movement
        (``after``) between the first and last readings since the relay was last ordered
        open and confirmed (``at``)."""
        ...
