"""The Protocols through which use cases reach the world (CONVENTIONS §2).

Repositories work on batches where ingest needs it (one query for many meters), so that a
bus sweep of readings costs a handful of statements rather than a handful per reading.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from wattbook.application.alarm_ports import SystemAlarmRepository as SystemAlarmRepository
from wattbook.application.calendar_ports import CalendarRepository as CalendarRepository
from wattbook.application.headend_ports import HeadendRepository as HeadendRepository
from wattbook.application.ingest_ports import IngestRepository as IngestRepository  # issue 3
from wattbook.application.payment_ports import PaymentRepository as PaymentRepository  # issue 5
from wattbook.application.sms_ports import SmsOutbox as SmsOutbox  # issue 6
from wattbook.application.sms_ports import SmsSender as SmsSender
from wattbook.domain import accounts, billing, ledger, metering, prepaid
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    MeterNumber,
    Money,
    Period,
    WorkingCalendar,
)


class Clock(Protocol):
    """Tell the time."""

    def now(self) -> datetime:
        """Return the current time, aware."""
        ...


class UnknownAccount(LookupError):
    """No account has this number."""


class DuplicateAccount(ValueError):
    """An account with this number exists already."""


class NoMeterInstalled(LookupError):
    """The account has no meter installed."""


class MeterAlreadyInstalled(ValueError):
    """The account already has a meter, or the meter hangs on another account."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterPosition:
    """A meter currently installed, with the baseline charging has reached.

    ``account_opened_at`` is when its account was opened: nothing is charged before it
    (metering.since_opening), even if the meter was installed earlier.
    """

    installation: accounts.MeterInstallation
    baseline: metering.RegisterBaseline
    account_opened_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepaidSnapshot:
    """What the prepaid rules need to know about one account besides its money.

    ``meter_number`` is the meter installed now (None: none yet, so the rules do not act).
    """

    state: prepaid.RuleState
    relay: prepaid.RelayState
    keep_power: tuple[Period, ...]
    phone: accounts.PhoneNumber | None
    meter_number: MeterNumber | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceDifference:
    """A cached balance that disagrees with the sum of its journal."""

    account_number: AccountNumber
    cached: Money
    journal: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepPowerOrder:
    """A keep-power order (A3): who ordered it, why, and for when."""

    account_number: AccountNumber
    period: Period
    ordered_by: str
    reason: str
    created_at: datetime


class AccountRepository(Protocol):
    """Accounts and their history (A2)."""

    async def add(self, account: accounts.Account) -> None:
        """Store a new account with a zero balance and the initial prepaid state.

        :raises DuplicateAccount: if the number is taken.
        """
        ...

    async def get(self, number: AccountNumber) -> accounts.Account:
        """Return the account.

        :raises UnknownAccount: if there is none.
        """
        ...

    async def save(self, update: accounts.AccountUpdate) -> None:
        """Store the changed account and its history row."""
        ...

    async def close(self, account: accounts.Account) -> None:
        """Store the account as closed."""
        ...

    async def history(self, number: AccountNumber) -> tuple[accounts.AccountChange, ...]:
        """Return the account's changes, oldest first."""
        ...


class MeterRepository(Protocol):
    """Meter installations, their baselines, readings and alarms."""

    async def install(
        self, installation: accounts.MeterInstallation, baseline: metering.RegisterBaseline
    ) -> None:
        """Store a new installation and its first baseline.

        :raises MeterAlreadyInstalled: if the account or the meter is taken.
        """
        ...

    async def current(self, number: AccountNumber) -> accounts.MeterInstallation:
        """Return the meter installed on the account.

        :raises NoMeterInstalled: if there is none.
        """
        ...

    async def replace(
        self, replacement: accounts.MeterReplacement, baseline: metering.RegisterBaseline
    ) -> None:
        """Remove the old meter with its final reading and install the new one."""
        ...

    async def positions(self, meters: Collection[MeterNumber]) -> dict[MeterNumber, MeterPosition]:
        """Return the installed meters among ``meters``, with their baselines."""
        ...

    async def record(
        self,
        assessments: Sequence[metering.ReadingAssessment],
        baselines: Sequence[metering.RegisterBaseline],
        *,
        raised_at: datetime,
    ) -> None:
        """Store assessed readings (re-deliveries are ignored), their alarms, new baselines."""
        ...


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


class UsageRepository(Protocol):
    """Usage aggregates by local day, month and year (Q5)."""

    async def add(self, usage: Mapping[AccountNumber, Sequence[metering.Consumption]]) -> None:
        """Add consumption to the aggregates of the local day each interval ended in."""
        ...


class PrepaidRepository(Protocol):
    """Rule state, keep-power orders and the prepaid policy in force."""

    async def settings(self, *, on: date) -> prepaid.PrepaidSettings:
        """Return the policy in force on a local date."""
        ...

    async def calendar(self, *, first_date: date, last_date: date) -> WorkingCalendar:
        """Return the working calendar with the local overrides."""
        ...

    async def snapshots(
        self, numbers: Collection[AccountNumber], *, at: datetime
    ) -> dict[AccountNumber, PrepaidSnapshot]:
        """Return the rule inputs of the accounts, with keep-power orders relevant at ``at``."""
        ...

    async def save_states(
        self, states: Mapping[AccountNumber, tuple[prepaid.RuleState, datetime | None]]
    ) -> None:
        """Store new rule states and when each account must be looked at again."""
        ...

    async def due(self, *, at: datetime, limit: int) -> tuple[AccountNumber, ...]:
        """Return accounts whose rules asked to be evaluated again by ``at``."""
        ...

    async def add_keep_power(self, order: KeepPowerOrder) -> None:
        """Store a keep-power order."""
        ...

    async def set_relay(self, number: AccountNumber, relay: prepaid.RelayState) -> None:
        """Store the relay state last confirmed on the account's meter."""
        ...


class Outbox(Protocol):
    """SMS and relay commands waiting to be carried out, written with the money."""

    async def add(
        self,
        commands: Sequence[prepaid.Command],
        *,
        at: datetime,
        phones: Mapping[AccountNumber, accounts.PhoneNumber | None],
        meters: Mapping[AccountNumber, MeterNumber],
    ) -> None:
        """Store the commands; a scheduled-close cancellation cancels pending closes."""
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


class UnitOfWork(Protocol):
    """One transaction: ``async with uow: ...; await uow.commit()``; leaving rolls back."""

    accounts: AccountRepository
    meters: MeterRepository
    ledger: LedgerRepository
    tariffs: TariffRepository
    charges: ChargeRepository
    usage: UsageRepository
    prepaid: PrepaidRepository
    outbox: Outbox
    sms: SmsOutbox
    headend: HeadendRepository
    payments: PaymentRepository
    ingest: IngestRepository
    alarms: SystemAlarmRepository
    calendar: CalendarRepository

    async def __aenter__(self) -> Self:
        """Begin the transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed and release the connection."""
        ...

    async def commit(self) -> None:
        """Commit the transaction."""
        ...


class UnitOfWorkFactory(Protocol):
    """Make a fresh unit of work per use case."""

    def __call__(self) -> UnitOfWork:
        """Return a new, not yet entered, unit of work."""
        ...
