"""What the residents' portal reads about one household, and the port it reads it through.

Every method takes the resident's own account number, which the portal takes from the
resident's session, never from a URL: a resident can only ever read their own household.
Each call is one read-only transaction in the adapter, bounded by its own limits, so a
page's cost does not grow with the campus or the household's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from wattbook.application.payments.ports import Payment
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
    """One page of SMS, newest first, and how many there are."""

    texts: tuple[SentText, ...]
    total: int


class ResidentReader(Protocol):
    """The portal's reads of one household, each in its own read-only transaction."""

    async def profile(self, number: AccountNumber) -> ResidentProfile:
        """Return the household's profile.

        :raises UnknownAccount: if there is no such account.
        """
        ...

    async def usage_days(
        self, number: AccountNumber, *, first_date: date, last_date: date
    ) -> tuple[UsageRow, ...]:
        """Return the days with usage between two local dates (inclusive), oldest first."""
        ...

    async def usage_months(
        self, number: AccountNumber, *, first_month: str, last_month: str
    ) -> tuple[UsageRow, ...]:
        """Return the months (``YYYY-MM``, inclusive) with usage, oldest first."""
        ...

    async def usage_years(
        self, number: AccountNumber, *, first_year: int, last_year: int
    ) -> tuple[UsageRow, ...]:
        """Return the years (inclusive) with usage, oldest first."""
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

    async def relay_records(
        self, number: AccountNumber, *, since: datetime, limit: int
    ) -> tuple[RelayRecord, ...]:
        """Return up to ``limit`` relay commands ordered at or after ``since``, newest first."""
        ...

    async def keep_power(
        self, number: AccountNumber, *, since: datetime
    ) -> tuple[KeepPowerSpell, ...]:
        """Return the keep-power orders in force at or after ``since``, newest first."""
        ...

    async def texts(self, number: AccountNumber, *, offset: int, limit: int) -> TextPage:
        """Return a page of the household's SMS, newest first."""
        ...
