"""The read-only unit of work: the repositories' reading halves, and no commit.

Queries that only read (statements, payment records, receipts, the kiosk screen, alarms, the
calendar, the ledger check) take a :class:`ReadOnlyUnitOfWork`. The database adapter runs it as
a snapshot that never takes the write lock (SQLite) or a READ ONLY transaction (PostgreSQL),
so reads never queue behind writers. Each reader below is the read side of the repository of
the same area (``ports.UnitOfWork`` satisfies this protocol too, so a use case that reads may
still be handed a full unit of work). The members are properties, so that the full
repositories, which can do more, still fit.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from wattbook.application.alarm_ports import AlarmReader
from wattbook.application.api.ports import ApiToken
from wattbook.application.billing.ports import BalanceDifference
from wattbook.application.headend.ports import (
    BusConfig,
    CommunicationDay,
    MeterEvent,
    MeterOverview,
)
from wattbook.application.notifications.ports import AccountWithoutPhone, FailedSms, SmsDelivery
from wattbook.application.payments.ports import CashUpLine, Payment
from wattbook.application.prepaid.calendar_ports import CalendarChange, ConfirmedYear
from wattbook.application.queries.report_ports import ReportReader
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import accounts, billing, ledger, payments, prepaid
from wattbook.domain.headend import ReadRequest
from wattbook.domain.values import AccountNumber, MeterNumber, Money, WorkingCalendar


class AccountReader(Protocol):
    """Read accounts and their history (A2)."""

    async def get(self, number: AccountNumber) -> accounts.Account:
        """Return the account.

        :raises UnknownAccount: if there is none.
        """
        ...

    async def history(self, number: AccountNumber) -> tuple[accounts.AccountChange, ...]:
        """Return the account's changes, oldest first."""
        ...

    async def search(self, text: str, *, limit: int) -> tuple[accounts.Account, ...]:
        """Return accounts whose number, holder, address or phone contains ``text``, by
        account number."""
        ...


class LedgerReader(Protocol):
    """Read the journal and the cached balances."""

    async def balances(self, numbers: Collection[AccountNumber]) -> dict[AccountNumber, Money]:
        """Return the cached balances of the accounts."""
        ...

    async def get(self, reference: str) -> ledger.Entry | None:
        """Return the entry with this reference, if any."""
        ...

    async def migration_credits(
        self, number: AccountNumber
    ) -> tuple[accounts.MigrationCredit, ...]:
        """Return the account's B8 migration credits."""
        ...

    async def reconcile(self) -> tuple[BalanceDifference, ...]:
        """Recompute every balance from the journal and return the ones that differ."""
        ...


class TariffReader(Protocol):
    """Read the tariffs."""

    async def history(self) -> billing.TariffHistory:
        """Return every tariff."""
        ...


class ChargeReader(Protocol):
    """Read the cumulative charges."""

    async def totals(
        self, numbers: Collection[AccountNumber], *, years: Collection[int] | None
    ) -> dict[AccountNumber, tuple[billing.ChargeTotal, ...]]:
        """Return the accounts' charge totals in the calendar years given (None: all)."""
        ...


class SmsReader(Protocol):
    """Read the SMS outbox."""

    async def deliveries(self, message_id: int) -> tuple[SmsDelivery, ...]:
        """Return the message's delivery records, oldest first."""
        ...

    async def failed(self, *, since: datetime, limit: int) -> tuple[FailedSms, ...]:
        """Return messages that failed from ``since`` on, newest first."""
        ...

    async def without_phone(
        self, *, after: AccountNumber | None, limit: int
    ) -> tuple[AccountWithoutPhone, ...]:
        """Return open accounts without a phone number, by number, after ``after``."""
        ...


class HeadendReader(Protocol):
    """Read buses and communication health."""

    async def buses(self, names: Collection[str] | None = None) -> tuple[BusConfig, ...]:
        """Return the buses (all, or those named) with their meters, plans and event counts."""
        ...

    async def communication_days(self, *, bus: str) -> tuple[CommunicationDay, ...]:
        """Return the per-day success counts of the bus and of its meters."""
        ...

    async def meter_events(self, meter: MeterNumber, *, limit: int) -> tuple[MeterEvent, ...]:
        """Return the meter's last ``limit`` stored events, newest first."""
        ...

    async def meter_overview(
        self, *, since: datetime, meter: MeterNumber | None = None
    ) -> tuple[MeterOverview, ...]:
        """Return every installed meter (or one) with its latest values, its success since
        ``since``, its last clock drift and its last relay command, by meter number."""
        ...

    async def read_requests(
        self, *, meter: MeterNumber | None = None, pending_only: bool = False, limit: int
    ) -> tuple[ReadRequest, ...]:
        """Return read-now requests: a meter's newest first, or (no meter) the oldest first."""
        ...


class PaymentReader(Protocol):
    """Read payments, receipts, kiosk sessions and bank debits."""

    async def by_channel_reference(
        self, channel: payments.Channel, references: Collection[str]
    ) -> dict[str, Payment]:
        """Return the top-ups (TOP_UP) recorded under these channel references."""
        ...

    async def by_receipt(self, receipt_number: str) -> Payment:
        """Return the payment with this receipt number.

        :raises payments.UnknownReceipt: if there is none.
        """
        ...

    async def corrections_of(self, receipt_number: str) -> tuple[Payment, ...]:
        """Return the payments that correct this receipt."""
        ...

    async def history(
        self, number: AccountNumber, *, first_date: date | None, last_date: date | None
    ) -> tuple[Payment, ...]:
        """Return the account's payments between two local dates (inclusive), oldest first."""
        ...

    async def paid_before(self, number: AccountNumber, *, before: datetime) -> Money:
        """Return the sum of the account's payments before ``before`` (cumulative paid)."""
        ...

    async def kiosk_session(self, transaction_id: str) -> payments.KioskSession | None:
        """Return the session (locked only in a unit of work that writes), or None."""
        ...

    async def debit_credits(self, *, day: date | None) -> tuple[payments.DebitCredits, ...]:
        """Return each debit (of a local day, or all) that was credited or has failed, with
        the serials of the bank top-ups paid for it."""
        ...

    async def cash_up_lines(
        self, *, start_at: datetime, end_at: datetime
    ) -> tuple[CashUpLine, ...]:
        """Return the payments in ``[start_at, end_at)`` summed by channel, operator, kind."""
        ...

    async def journal_money_in(self, *, start_at: datetime, end_at: datetime) -> Money:
        """Return the sum of the journal's top-ups, and of the corrections reversing
        top-ups, posted in ``[start_at, end_at)``: what the payments must add up to."""
        ...


class CalendarReader(Protocol):
    """Read the holiday calendar and its history."""

    async def year(self, year: int) -> WorkingCalendar:
        """Return the whole year's calendar, with where each answer comes from."""
        ...

    async def confirmed_years(self) -> tuple[ConfirmedYear, ...]:
        """Return the confirmed years, oldest first."""
        ...

    async def changes(self, *, year: int | None = None) -> tuple[CalendarChange, ...]:
        """Return the history of changes (of one year, or all), oldest first."""
        ...


class PrepaidReader(Protocol):
    """Read the prepaid policy in force."""

    async def settings(self, *, on: date) -> prepaid.PrepaidSettings:
        """Return the policy in force on a local date."""
        ...


class ApiTokenReader(Protocol):
    """Find the API token a request carries."""

    async def token_by_hash(self, token_sha256: str) -> ApiToken | None:
        """Return the token stored under this hash, revoked or not, or None."""
        ...


class StaffReader(Protocol):
    """Operators and the audit log, read."""

    async def operator(self, login: str) -> staff_ports.StoredOperator | None:
        """Return the operator with that login name, or None."""
        ...

    async def operators(self) -> tuple[staff_ports.StoredOperator, ...]:
        """Return every operator, by login name."""
        ...

    async def search_audit(
        self, query: staff_ports.AuditQuery
    ) -> tuple[staff_ports.StoredAuditRecord, ...]:
        """Return the audit records matching ``query``, newest first."""
        ...


class ReadOnlyUnitOfWork(Protocol):
    """One read-only transaction: ``async with uow: ...``; there is nothing to commit."""

    @property
    def accounts(self) -> AccountReader:
        """Return the accounts."""
        ...

    @property
    def ledger(self) -> LedgerReader:
        """Return the journal and balances."""
        ...

    @property
    def tariffs(self) -> TariffReader:
        """Return the tariffs."""
        ...

    @property
    def charges(self) -> ChargeReader:
        """Return the charge totals."""
        ...

    @property
    def sms(self) -> SmsReader:
        """Return the SMS outbox."""
        ...

    @property
    def headend(self) -> HeadendReader:
        """Return the buses and their communication health."""
        ...

    @property
    def payments(self) -> PaymentReader:
        """Return the payments."""
        ...

    @property
    def alarms(self) -> AlarmReader:
        """Return the alarms of every kind."""
        ...

    @property
    def calendar(self) -> CalendarReader:
        """Return the holiday calendar."""
        ...

    @property
    def prepaid(self) -> PrepaidReader:
        """Return the prepaid policy."""
        ...

    @property
    def api_tokens(self) -> ApiTokenReader:
        """Return the API's tokens."""
        ...

    @property
    def staff(self) -> StaffReader:
        """Return the operators and the audit log."""
        ...

    async def __aenter__(self) -> Self:
        """Begin the read-only transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """End the transaction and release the connection."""
        ...


class ReportingUnitOfWork(ReadOnlyUnitOfWork, Protocol):
    """A read-only unit of work that also reads the set-based reports and the API's feeds
    (the storage's read-only unit of work; the writing one has no need of them)."""

    @property
    def reports(self) -> ReportReader:
        """Return the set-based reports and the API's feeds."""
        ...


class ReadOnlyUnitOfWorkFactory(Protocol):
    """Make a fresh read-only unit of work per query."""

    def __call__(self) -> ReadOnlyUnitOfWork:
        """Return a new, not yet entered, read-only unit of work."""
        ...
