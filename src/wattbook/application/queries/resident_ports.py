"""What the residents' portal reads about one household, and the port it reads it through.

Every method takes the resident's own account number, which the portal takes from the
resident's session, never from a URL: a resident can only ever read their own household.
Each call is one read-only transaction in the adapter, shaped after a page (one transaction
a page: under load a page's cost is mostly its transactions), bounded by its own limits, so
a page's cost does not grow with the campus or the household's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from wattbook.application.payments.ports import Payment
from wattbook.domain import accounts, billing
from wattbook.domain.headend import RelayCommandStatus, RelayOperation, RelayReason
from wattbook.domain.values import AccountNumber, Money, RegisterSet


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidentProfile:
    """The household at a glance (Q2, Q6): who, where, the money and the relay.

    ``relay`` is the rules' last known state: ``CLOSED`` (power on), ``OPEN`` (cut) or
    ``UNKNOWN``. ``paid_total`` is every payment ever made (corrections included).
    """

    account_number: AccountNumber
    holder: str
    phone: str | None
    address: str
    balance: Money
    paid_total: Money
    relay: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRow:
    """Energy used in one local day (``2025-06-10``), month (``2025-06``) or year (``2025``)."""

    period: str
    registers: RegisterSet


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentPage:
    """One page of payments, newest first, and how many there are in the range."""

    payments: tuple[Payment, ...]
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayRecord:
    """One relay command for the household's meter, with the balance when it was ordered.

    ``reason`` is the rules' reason or ``OPERATOR``. ``balance_then`` is the journal's
    balance after what moved it to the command: for a trip the last debit, for a close the
    last credit, at or before ``ordered_at`` (None if there is none).
    """

    action: RelayOperation
    reason: RelayReason
    status: RelayCommandStatus
    ordered_at: datetime
    not_before_at: datetime
    done_at: datetime | None
    balance_then: Money | None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepPowerSpell:
    """A keep-power order on the household (A3): power is not cut for money in ``[start, end)``."""

    start_at: datetime
    end_at: datetime | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SentText:
    """One SMS the household was sent (or is due to be), with its frozen text if written."""

    kind: str
    status: str
    created_at: datetime
    done_at: datetime | None
    body: str | None
    balance: Money
    amount: Money | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPage:
    """One page of SMS, newest first, how many there are, and whether a phone is on file."""

    texts: tuple[SentText, ...]
    total: int
    has_phone: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeFacts:
    """The home page's reads: the profile, the usage of the recent days asked for, and the
    tariffs (for the price the balance buys energy at)."""

    profile: ResidentProfile
    recent_days: tuple[UsageRow, ...]
    tariffs: billing.TariffHistory


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageFacts:
    """The usage page's reads: a range of days, a range of months, and today, this month and
    this year (each empty when nothing was used)."""

    days: tuple[UsageRow, ...]
    months: tuple[UsageRow, ...]
    today: tuple[UsageRow, ...]
    this_month: tuple[UsageRow, ...]
    this_year: tuple[UsageRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementFacts:
    """The monthly charges' reads: every charge total, the B8 credits, the balance, the
    tariffs (what ``billing.monthly_statement`` needs)."""

    totals: tuple[billing.ChargeTotal, ...]
    migration_credits: tuple[accounts.MigrationCredit, ...]
    balance: Money
    tariffs: billing.TariffHistory


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerFacts:
    """The power page's reads: the relay now, its commands, keep-power orders, and the
    top-ups (positive payments) since the same time, newest first.

    ``held_until`` is set while the rules hold back a cut the balance calls for (a holiday,
    a keep-power order): the earliest time it may be made.
    """

    relay: str
    held_until: datetime | None
    records: tuple[RelayRecord, ...]
    spells: tuple[KeepPowerSpell, ...]
    top_ups: tuple[Payment, ...]


class ResidentReader(Protocol):
    """The portal's reads of one household, each in its own read-only transaction."""

    async def profile(self, number: AccountNumber) -> ResidentProfile:
        """Return the household's profile.

        :raises UnknownAccount: if there is no such account.
        """
        ...

    async def home(self, number: AccountNumber, *, first_date: date, last_date: date) -> HomeFacts:
        """Return the profile, the days with usage between two local dates (inclusive) and
        the tariffs.

        :raises UnknownAccount: if there is no such account.
        """
        ...

    async def usage(
        self,
        number: AccountNumber,
        *,
        first_date: date,
        last_date: date,
        first_month: str,
        last_month: str,
        today: date,
        this_month: str,
        this_year: int,
    ) -> UsageFacts:
        """Return the days and months (``YYYY-MM``) with usage in the ranges (inclusive,
        oldest first), and today's, this month's and this year's."""
        ...

    async def payments(
        self,
        number: AccountNumber,
        *,
        first_date: date | None,
        last_date: date | None,
        offset: int,
        limit: int,
    ) -> PaymentPage:
        """Return a page of payments between two local dates (inclusive), newest first."""
        ...

    async def statement(self, number: AccountNumber) -> StatementFacts:
        """Return what the household's monthly statement is made from.

        :raises UnknownAccount: if there is no such account.
        """
        ...

    async def power(self, number: AccountNumber, *, since: datetime, limit: int) -> PowerFacts:
        """Return the relay now, up to ``limit`` relay commands ordered at or after ``since``,
        the keep-power orders in force then or later, and up to ``2 x limit`` top-ups since
        then, each newest first."""
        ...

    async def texts(self, number: AccountNumber, *, offset: int, limit: int) -> TextPage:
        """Return a page of the household's SMS, newest first."""
        ...
