"""An in-memory database behind every repository port, and a unit of work over it.

``FakeDatabase`` holds the rows; ``FakeUnitOfWork`` is ``ports.UnitOfWork`` over it. A unit of
work works on its own copy of the rows from ``async with`` on: ``commit`` publishes the copy,
leaving without a commit drops it, so nothing is visible after a rollback (as in SQL). Units of
work that overlap do not see each other's uncommitted rows; the last to commit wins (the real
storage serialises writers instead: tests that need that use SQLite).

The repositories keep the rules the use cases rely on, as the SQL ones do: the seeded policy
(tariff, prepaid policy, counter hours, SMS policy, DEFAULT poll plan, as the migrations seed
them), unique references and channel references, duplicate readings, events and alarms ignored,
receipt numbers per channel and local day, orderings. ``tests/unit/fakes/test_storage_contract``
runs the same assertions against this and the SQLite unit of work so the two cannot drift.

The set-based ingest (``IngestRepository.record_plain``) is the SQL's classification written
again in Python from ``application/metering/ports.py`` (same guards, same integer arithmetic).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Self

from wattbook.application.accounts import ports as account_ports
from wattbook.application.api import ports as api_ports
from wattbook.application.billing import ports as billing_ports
from wattbook.application.headend import ports as hp
from wattbook.application.metering import ports as metering_ports
from wattbook.application.notifications import ports as sms_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.prepaid import calendar_ports as cp
from wattbook.application.prepaid import ports as prepaid_ports
from wattbook.application.queries import resident_ports
from wattbook.application.staff import ports as staff_ports
from wattbook.domain import accounts, billing, ledger, metering, payments, prepaid, staff
from wattbook.domain.alarms import Alarm, AlarmKind, AlarmScope, UnknownAlarm
from wattbook.domain.headend import (
    MeterEventKind,
    ReadRequest,
    ReadRequestStatus,
    ReadValues,
    RelayCommand,
    RelayCommandStatus,
    RelayOperation,
    RelayReason,
)
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    CalendarOverride,
    Energy,
    MeterNumber,
    Money,
    Price,
    RegisterSet,
    WorkingCalendar,
    local_date,
    start_of_local_day,
)

SEED_FROM = dt.date(2000, 1, 1)
SEED_TARIFF = billing.Tariff(
    item="RESIDENTIAL_LIGHTING",
    effective_from=SEED_FROM,
    effective_to=None,
    components=(billing.PriceComponent(price=Price(yuan_per_kwh=Decimal("0.5283"))),),
)
SEED_SMS_POLICY = sms_ports.SmsPolicy(
    daily_cap_per_phone=10,
    max_attempts=5,
    first_retry=dt.timedelta(seconds=60),
    max_retry=dt.timedelta(seconds=1800),
    in_doubt=sms_ports.InDoubtRule.RESEND,
    locale=sms_ports.SmsLocale.ZH_CN,
)
SEED_COUNTER_HOURS = payments.CounterHours(
    shifts=tuple(
        payments.CounterShift(weekday=day, opens_at=opens, closes_at=closes)
        for day in range(5)
        for opens, closes in ((dt.time(8, 0), dt.time(12, 0)), (dt.time(14, 30), dt.time(17, 30)))
    )
)
_OPEN_KIOSK_STATES = ("ENTERING_ACCOUNT", "CONFIRMING_DETAILS", "INSERTING_NOTES")


class MessageNotClaimed(RuntimeError):
    """The SMS is not claimed (or no longer pending), as the SQL outbox says."""


class UniqueViolation(RuntimeError):
    """A row broke a unique constraint the SQL schema has (the SQL would raise IntegrityError)."""


class UnitOfWorkNotEntered(RuntimeError):
    """A repository was used outside ``async with``."""


# ---------------------------------------------------------------------------- the rows


@dataclasses.dataclass
class _AccountRow:
    id: int
    account: accounts.Account
    balance_fen: int = 0
    entry_count: int = 0
    state: prepaid.RuleState = dataclasses.field(default_factory=prepaid.RuleState)
    re_evaluate_at: dt.datetime | None = None
    relay: prepaid.RelayState = prepaid.RelayState.UNKNOWN


@dataclasses.dataclass
class _InstallationRow:
    id: int
    installation: accounts.MeterInstallation
    baseline: metering.RegisterBaseline
    removed_at: dt.datetime | None = None
    final: RegisterSet | None = None


@dataclasses.dataclass
class _EntryRow:
    id: int
    entry: ledger.Entry
    balance_after_fen: int


@dataclasses.dataclass
class _RelayRow:
    id: int
    account_number: AccountNumber
    meter_number: MeterNumber | None
    action: RelayOperation
    reason: RelayReason
    not_before_at: dt.datetime
    created_at: dt.datetime
    status: RelayCommandStatus = RelayCommandStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    done_at: dt.datetime | None = None
    ordered_by: str | None = None
    note: str | None = None


@dataclasses.dataclass
class _SmsRow:
    id: int
    account_number: AccountNumber
    kind: sms_ports.NotificationKind
    phone: str | None
    balance_fen: int
    price: Price
    amount_fen: int | None
    created_at: dt.datetime
    dedup_key: str | None = None
    status: sms_ports.SmsStatus = sms_ports.SmsStatus.PENDING
    attempts: int = 0
    parts_sent: int = 0
    message_refs: tuple[str, ...] = ()
    body: str | None = None
    claimed_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    last_error: str | None = None
    stored_index: int | None = None
    stores_parts: bool = False


@dataclasses.dataclass
class _DeliveryRow:
    attempt: int
    sender: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    outcome: sms_ports.DeliveryOutcome | None = None
    message_refs: tuple[str, ...] = ()
    error: str | None = None


@dataclasses.dataclass
class _PaymentRow:
    id: int
    payment: payment_ports.Payment
    entry_id: int


@dataclasses.dataclass
class _KioskRow:
    id: int
    session: payments.KioskSession
    notes: dict[int, payments.AcceptedNote]


@dataclasses.dataclass
class _AgreementRow:
    id: int
    agreement: payments.Agreement
    created_at: dt.datetime


@dataclasses.dataclass
class _DebitRow:
    id: int
    request: payments.DebitRequest
    requested_at: dt.datetime
    status: payments.DebitStatus = payments.DebitStatus.REQUESTED
    sent_at: dt.datetime | None = None
    settled_at: dt.datetime | None = None
    bank_serial: str | None = None
    detail: str = ""


@dataclasses.dataclass
class _BusRow:
    id: int
    config: hp.BusConfig  # meters kept in bus_meters


@dataclasses.dataclass
class Tables:
    """Every table of the fake database. Tests may read these to assert on outcomes."""

    next_id: dict[str, int] = dataclasses.field(default_factory=dict)
    accounts: dict[AccountNumber, _AccountRow] = dataclasses.field(default_factory=dict)
    account_changes: list[accounts.AccountChange] = dataclasses.field(default_factory=list)
    installations: list[_InstallationRow] = dataclasses.field(default_factory=list)
    # (installation id, meter time) -> (reading, outcome)
    readings: dict[tuple[int, dt.datetime], tuple[metering.Reading, metering.ReadingOutcome]] = (
        dataclasses.field(default_factory=dict)
    )
    entries: list[_EntryRow] = dataclasses.field(default_factory=list)
    migration_credits: list[tuple[str, accounts.MigrationCredit]] = dataclasses.field(
        default_factory=list
    )
    tariffs: list[billing.Tariff] = dataclasses.field(default_factory=lambda: [SEED_TARIFF])
    # (account, month, tariff key) -> (charged fen, {component: wh})
    charges: dict[tuple[AccountNumber, str, str], tuple[int, dict[str, int]]] = dataclasses.field(
        default_factory=dict
    )
    usage_daily: dict[tuple[AccountNumber, dt.date], list[int]] = dataclasses.field(
        default_factory=dict
    )
    usage_monthly: dict[tuple[AccountNumber, str], list[int]] = dataclasses.field(
        default_factory=dict
    )
    usage_yearly: dict[tuple[AccountNumber, int], list[int]] = dataclasses.field(
        default_factory=dict
    )
    prepaid_policies: dict[dt.date, prepaid.PrepaidSettings] = dataclasses.field(
        default_factory=lambda: {SEED_FROM: prepaid.PrepaidSettings()}
    )
    keep_power: list[prepaid_ports.KeepPowerOrder] = dataclasses.field(default_factory=list)
    relay_commands: list[_RelayRow] = dataclasses.field(default_factory=list)
    read_requests: list[ReadRequest] = dataclasses.field(default_factory=list)
    sms: list[_SmsRow] = dataclasses.field(default_factory=list)
    deliveries: dict[int, list[_DeliveryRow]] = dataclasses.field(default_factory=dict)
    sms_policies: dict[dt.date, sms_ports.SmsPolicy] = dataclasses.field(
        default_factory=lambda: {SEED_FROM: SEED_SMS_POLICY}
    )
    poll_plans: dict[str, hp.PollPlan] = dataclasses.field(
        default_factory=lambda: {"DEFAULT": hp.PollPlan()}
    )
    buses: dict[str, _BusRow] = dataclasses.field(default_factory=dict)
    # meter -> (bus id, plan name, position)
    bus_meters: dict[MeterNumber, tuple[int, str, int]] = dataclasses.field(default_factory=dict)
    event_counts: dict[tuple[MeterNumber, MeterEventKind], int] = dataclasses.field(
        default_factory=dict
    )
    events: dict[tuple[MeterNumber, MeterEventKind, dt.datetime], hp.MeterEvent] = (
        dataclasses.field(default_factory=dict)
    )
    latest: dict[MeterNumber, hp.LatestValues] = dataclasses.field(default_factory=dict)
    settlements: dict[tuple[MeterNumber, str], hp.Settlement] = dataclasses.field(
        default_factory=dict
    )
    clock_checks: list[hp.ClockCheck] = dataclasses.field(default_factory=list)
    communication: dict[MeterNumber, tuple[hp.CommunicationState, str]] = dataclasses.field(
        default_factory=dict
    )
    communication_days: dict[tuple[str, str, dt.date], list[int]] = dataclasses.field(
        default_factory=dict
    )
    payments: list[_PaymentRow] = dataclasses.field(default_factory=list)
    receipt_sequences: dict[tuple[str, dt.date], int] = dataclasses.field(default_factory=dict)
    audit: list[payment_ports.AuditEntry] = dataclasses.field(default_factory=list)
    counter_hours: dict[dt.date, payments.CounterHours] = dataclasses.field(
        default_factory=lambda: {SEED_FROM: SEED_COUNTER_HOURS}
    )
    counter_openings: list[payment_ports.CounterOpening] = dataclasses.field(default_factory=list)
    kiosk_sessions: dict[str, _KioskRow] = dataclasses.field(default_factory=dict)
    kiosks: dict[str, payments.Kiosk] = dataclasses.field(default_factory=dict)
    agreements: list[_AgreementRow] = dataclasses.field(default_factory=list)
    debits: list[_DebitRow] = dataclasses.field(default_factory=list)
    callbacks: dict[tuple[str, payments.DebitStatus], payment_ports.CallbackRecord] = (
        dataclasses.field(default_factory=dict)
    )
    # Every alarm, of every kind, in the order raised (the one ``alarms`` table).
    alarms: list[Alarm] = dataclasses.field(default_factory=list)
    calendar_overrides: dict[
        dt.date, tuple[bool, str, cp.CalendarChangeSource, str, dt.datetime]
    ] = dataclasses.field(default_factory=dict)
    calendar_changes: list[cp.CalendarChange] = dataclasses.field(default_factory=list)
    confirmed_years: dict[int, cp.ConfirmedYear] = dataclasses.field(default_factory=dict)
    operators: dict[str, staff_ports.StoredOperator] = dataclasses.field(default_factory=dict)
    audit_log: list[staff_ports.StoredAuditRecord] = dataclasses.field(default_factory=list)
    official_receipts: list[payment_ports.OfficialReceipt] = dataclasses.field(default_factory=list)
    # month -> its month-end run; (month, account) -> the account's written lines
    month_end_runs: dict[str, billing_ports.MonthEndRun] = dataclasses.field(default_factory=dict)
    statement_lines: dict[tuple[str, AccountNumber], tuple[billing.StatementLine, ...]] = (
        dataclasses.field(default_factory=dict)
    )

    def new_id(self, table: str) -> int:
        """Return the next surrogate id of ``table`` (1, 2, ...)."""
        self.next_id[table] = self.next_id.get(table, 0) + 1
        return self.next_id[table]

    # helpers the repositories share ------------------------------------------------------

    def account(self, number: AccountNumber) -> _AccountRow:
        found = self.accounts.get(number)
        if found is None:
            raise account_ports.UnknownAccount(str(number))
        return found

    def current_installation(self, *, meter: MeterNumber) -> _InstallationRow | None:
        for row in self.installations:
            if row.removed_at is None and row.installation.meter_number == meter:
                return row
        return None

    def current_installation_of(self, number: AccountNumber) -> _InstallationRow | None:
        for row in self.installations:
            if row.removed_at is None and row.installation.account_number == number:
                return row
        return None

    # token id -> (token, hash)
    api_tokens: dict[int, tuple[api_ports.ApiToken, str]] = dataclasses.field(default_factory=dict)
    # (token id, key) -> first answer
    api_answers: dict[tuple[int, str], api_ports.IdempotentAnswer] = dataclasses.field(
        default_factory=dict
    )

    def entry(self, reference: str) -> _EntryRow | None:
        for row in self.entries:
            if row.entry.reference == reference:
                return row
        return None


class FakeDatabase:
    """The committed rows, shared by every unit of work made from it."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.commits = 0
        # A test sets this to make ``statements.write`` get one fen wrong on this account's
        # first line, as a broken statement would: the month-end's domain check must catch it.
        self.wrong_statement_of: AccountNumber | None = None

    def unit_of_work(self) -> FakeUnitOfWork:
        """Return a new, not yet entered, unit of work (a ``ports.UnitOfWorkFactory``)."""
        return FakeUnitOfWork(self)

    __call__ = unit_of_work

    def statement_reader(self) -> FakeStatementReader:
        """Return a ``billing_ports.StatementReader`` over the committed rows."""
        return FakeStatementReader(self)

    def resident_reader(self) -> FakeResidentReader:
        """Return a ``resident_ports.ResidentReader`` over the committed rows."""
        return FakeResidentReader(self)

    # conveniences for assertions ------------------------------------------------------------

    def balance(self, number: AccountNumber) -> Money:
        """Return the committed cached balance of an account."""
        return Money(fen=self.tables.account(number).balance_fen)

    def journal(self, number: AccountNumber | None = None) -> tuple[ledger.Entry, ...]:
        """Return the committed journal entries (of one account), in posting order."""
        return tuple(
            row.entry
            for row in self.tables.entries
            if number is None or row.entry.account_number == number
        )

    def relay_commands(self) -> tuple[_RelayRow, ...]:
        """Return the committed relay-command outbox rows, oldest first."""
        return tuple(self.tables.relay_commands)

    def sms(self) -> tuple[_SmsRow, ...]:
        """Return the committed SMS outbox rows, oldest first."""
        return tuple(self.tables.sms)


class FakeUnitOfWork:
    """``ports.UnitOfWork`` over a :class:`FakeDatabase`: a private copy until commit."""

    def __init__(self, database: FakeDatabase) -> None:
        self._database = database
        self._tables: Tables | None = None
        self.committed = False
        self.accounts = FakeAccountRepository(self)
        self.meters = FakeMeterRepository(self)
        self.ledger = FakeLedgerRepository(self)
        self.tariffs = FakeTariffRepository(self)
        self.charges = FakeChargeRepository(self)
        self.usage = FakeUsageRepository(self)
        self.prepaid = FakePrepaidRepository(self)
        self.outbox = FakeOutbox(self)
        self.sms = FakeSmsOutbox(self)
        self.headend = FakeHeadendRepository(self)
        self.payments = FakePaymentRepository(self)
        self.ingest = FakeIngestRepository(self)
        self.alarms = FakeAlarmRepository(self)
        self.calendar = FakeCalendarRepository(self)
        self.api_tokens = FakeApiTokenRepository(self)
        self.staff = FakeStaffRepository(self)
        # Also a ``billing_ports.MonthEndUnitOfWork``: the month-end's statements.
        self.statements = FakeStatementRepository(self)

    @property
    def tables(self) -> Tables:
        """Return this unit of work's copy of the rows."""
        if self._tables is None:
            raise UnitOfWorkNotEntered("use the unit of work inside 'async with'")
        return self._tables

    async def __aenter__(self) -> Self:
        """Begin: take a private copy of the committed rows."""
        self._tables = copy.deepcopy(self._database.tables)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Drop whatever was not committed."""
        self._tables = None

    async def commit(self) -> None:
        """Publish this unit of work's rows; carry on with a fresh copy of them."""
        tables = self.tables
        self._database.tables = tables
        self._database.commits += 1
        self.committed = True
        self._tables = copy.deepcopy(tables)


class _Repository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def t(self) -> Tables:
        return self._uow.tables


# ---------------------------------------------------------------------------- accounts


class FakeAccountRepository(_Repository):
    """``account_ports.AccountRepository`` in memory."""

    async def add(self, account: accounts.Account) -> None:
        if account.number in self.t.accounts:
            raise account_ports.DuplicateAccount(str(account.number))
        self.t.accounts[account.number] = _AccountRow(id=self.t.new_id("accounts"), account=account)

    async def get(self, number: AccountNumber) -> accounts.Account:
        return self.t.account(number).account

    async def save(self, update: accounts.AccountUpdate) -> None:
        self.t.account(update.account.number).account = update.account
        self.t.account_changes.append(update.change)

    async def close(self, account: accounts.Account) -> None:
        self.t.account(account.number).account = account

    async def search(self, text: str, *, limit: int) -> tuple[accounts.Account, ...]:
        text = text.strip()
        found = [
            row.account
            for row in self.t.accounts.values()
            if text in str(row.account.number)
            or text in row.account.holder.name
            or text in row.account.address.text
            or (row.account.phone is not None and text in row.account.phone.digits)
        ]
        return tuple(sorted(found, key=lambda a: str(a.number))[:limit])

    async def history(self, number: AccountNumber) -> tuple[accounts.AccountChange, ...]:
        self.t.account(number)
        found = [change for change in self.t.account_changes if change.account_number == number]
        return tuple(sorted(found, key=lambda change: change.at))


# ---------------------------------------------------------------------------- meters


class FakeMeterRepository(_Repository):
    """``account_ports.MeterRepository`` in memory."""

    async def install(
        self, installation: accounts.MeterInstallation, baseline: metering.RegisterBaseline
    ) -> None:
        self.t.account(installation.account_number)
        if self.t.current_installation_of(
            installation.account_number
        ) or self.t.current_installation(meter=installation.meter_number):
            raise account_ports.MeterAlreadyInstalled(
                f"meter {installation.meter_number} or account {installation.account_number}"
                " already has an installation"
            )
        self.t.installations.append(
            _InstallationRow(
                id=self.t.new_id("installations"), installation=installation, baseline=baseline
            )
        )

    async def current(self, number: AccountNumber) -> accounts.MeterInstallation:
        row = self.t.current_installation_of(number)
        if row is None:
            raise account_ports.NoMeterInstalled(str(number))
        return row.installation

    async def replace(
        self, replacement: accounts.MeterReplacement, baseline: metering.RegisterBaseline
    ) -> None:
        row = self.t.current_installation_of(replacement.account_number)
        if row is None:
            raise account_ports.NoMeterInstalled(str(replacement.account_number))
        row.removed_at = replacement.final_reading_at
        row.final = replacement.final
        await self.install(replacement.installation, baseline)

    async def positions(
        self, meters: Collection[MeterNumber]
    ) -> dict[MeterNumber, account_ports.MeterPosition]:
        found: dict[MeterNumber, account_ports.MeterPosition] = {}
        for meter in meters:
            row = self.t.current_installation(meter=meter)
            if row is None:
                continue
            found[meter] = account_ports.MeterPosition(
                installation=row.installation,
                baseline=row.baseline,
                account_opened_at=self.t.account(row.installation.account_number).account.opened_at,
            )
        return found

    async def record(
        self,
        assessments: Sequence[metering.ReadingAssessment],
        baselines: Sequence[metering.RegisterBaseline],
        *,
        raised_at: dt.datetime,
    ) -> None:
        for assessment in assessments:
            if assessment.outcome is metering.ReadingOutcome.DUPLICATE:
                continue
            reading = assessment.reading
            row = self.t.current_installation(meter=reading.meter_number)
            if row is None:
                raise KeyError(str(reading.meter_number))
            self.t.readings.setdefault(
                (row.id, reading.meter_time_at), (reading, assessment.outcome)
            )
            FakeAlarmRepository(self._uow).add_new(
                Alarm.on_meter(reading.meter_number, a.kind, started_at=a.at, detail=a.detail)
                for a in assessment.alarms
            )
        for baseline in baselines:
            row = self.t.current_installation(meter=baseline.meter_number)
            if row is None:
                raise KeyError(str(baseline.meter_number))
            row.baseline = baseline


# ---------------------------------------------------------------------------- ledger


class FakeLedgerRepository(_Repository):
    """``billing_ports.LedgerRepository`` in memory: append-only entries and cached balances."""

    async def balances(self, numbers: Collection[AccountNumber]) -> dict[AccountNumber, Money]:
        return {
            number: Money(fen=self.t.accounts[number].balance_fen)
            for number in numbers
            if number in self.t.accounts
        }

    async def post(self, entries: Sequence[ledger.Entry]) -> dict[AccountNumber, Money]:
        if not entries:
            return {}
        references = [entry.reference for entry in entries]
        if len(set(references)) != len(references):
            raise ledger.DuplicateReference(next(r for r in references if references.count(r) > 1))
        for reference in references:
            if self.t.entry(reference) is not None:
                raise ledger.DuplicateReference(reference)
        missing = {
            str(e.account_number) for e in entries if e.account_number not in self.t.accounts
        }
        if missing:
            raise account_ports.UnknownAccount(min(missing))
        reversed_ids: dict[str, int] = {}
        for entry in entries:
            if entry.reverses is None:
                continue
            target = self.t.entry(entry.reverses)
            if target is None:
                raise ledger.UnknownEntry(entry.reverses)
            reversed_ids[entry.reverses] = target.id
        taken = {row.entry.reverses for row in self.t.entries if row.entry.reverses is not None}
        if len(reversed_ids) != sum(1 for e in entries if e.reverses is not None) or (
            taken & reversed_ids.keys()
        ):
            # uq_ledger_entries_reverses_id: an entry is reversed at most once.
            raise ledger.DuplicateReference(references[0])
        changed: dict[AccountNumber, Money] = {}
        for entry in entries:
            account = self.t.accounts[entry.account_number]
            account.balance_fen += entry.amount.fen
            account.entry_count += 1
            self.t.entries.append(
                _EntryRow(
                    id=self.t.new_id("entries"),
                    entry=entry,
                    balance_after_fen=account.balance_fen,
                )
            )
        for entry in entries:
            changed[entry.account_number] = Money(
                fen=self.t.accounts[entry.account_number].balance_fen
            )
        return changed

    async def get(self, reference: str) -> ledger.Entry | None:
        row = self.t.entry(reference)
        return None if row is None else row.entry

    async def record_migration_credit(
        self, credit: accounts.MigrationCredit, *, reference: str
    ) -> None:
        row = self.t.entry(reference)
        if row is None:
            raise LookupError(f"no entry {reference}")
        self.t.migration_credits.append((reference, credit))

    async def migration_credits(
        self, number: AccountNumber
    ) -> tuple[accounts.MigrationCredit, ...]:
        return _migration_credits(self.t, number)

    async def reconcile(self) -> tuple[billing_ports.BalanceDifference, ...]:
        journal: dict[AccountNumber, int] = defaultdict(int)
        for row in self.t.entries:
            journal[row.entry.account_number] += row.entry.amount.fen
        return tuple(
            billing_ports.BalanceDifference(
                account_number=number,
                cached=Money(fen=account.balance_fen),
                journal=Money(fen=journal[number]),
            )
            for number, account in sorted(self.t.accounts.items(), key=lambda item: str(item[0]))
            if account.balance_fen != journal[number]
        )


def _migration_credits(
    tables: Tables, number: AccountNumber
) -> tuple[accounts.MigrationCredit, ...]:
    # The credit's amount and note are its journal entry's, as the SQL joins them.
    found = []
    for reference, credit in tables.migration_credits:
        row = tables.entry(reference)
        assert row is not None
        if row.entry.account_number != number:
            continue
        found.append(dataclasses.replace(credit, amount=row.entry.amount, note=row.entry.note))
    return tuple(sorted(found, key=lambda credit: credit.at))


# ---------------------------------------------------------------------------- tariffs, charges


class FakeTariffRepository(_Repository):
    """``billing_ports.TariffRepository`` in memory, seeded with the migrations' tariff."""

    async def history(self) -> billing.TariffHistory:
        ordered = sorted(self.t.tariffs, key=lambda tariff: tariff.effective_from)
        return billing.TariffHistory(tariffs=tuple(ordered))

    async def replace_from(self, tariff: billing.Tariff) -> None:
        if any(known.key == tariff.key for known in self.t.tariffs):
            raise UniqueViolation(f"tariff {tariff.key} exists")
        starts = tariff.effective_from
        self.t.tariffs = [
            dataclasses.replace(known, effective_to=starts)
            if known.item == tariff.item
            and known.effective_from < starts
            and (known.effective_to is None or known.effective_to > starts)
            else known
            for known in self.t.tariffs
        ]
        self.t.tariffs.append(tariff)


def _charge_total(
    key: tuple[str, str], charged_fen: int, energy: Mapping[str, int]
) -> billing.ChargeTotal:
    month, tariff_key = key
    return billing.ChargeTotal(
        key=billing.ChargeKey(tariff_key=tariff_key, month=BillingMonth.parse(month)),
        energy_wh=tuple(sorted(energy.items())),
        charged=Money(fen=charged_fen),
    )


class FakeChargeRepository(_Repository):
    """``billing_ports.ChargeRepository`` in memory."""

    async def totals(
        self, numbers: Collection[AccountNumber], *, years: Collection[int] | None
    ) -> dict[AccountNumber, tuple[billing.ChargeTotal, ...]]:
        wanted = set(numbers)
        found: dict[AccountNumber, list[billing.ChargeTotal]] = defaultdict(list)
        for (number, month, tariff_key), (fen, energy) in sorted(
            self.t.charges.items(), key=lambda item: (str(item[0][0]), item[0][1], item[0][2])
        ):
            if number not in wanted:
                continue
            if years is not None and int(month[:4]) not in years:
                continue
            found[number].append(_charge_total((month, tariff_key), fen, energy))
        return {number: tuple(totals) for number, totals in found.items()}

    async def save(self, totals: Mapping[AccountNumber, Sequence[billing.ChargeTotal]]) -> None:
        for number, account_totals in totals.items():
            self.t.account(number)
            for total in account_totals:
                key = (number, str(total.key.month), total.key.tariff_key)
                _fen, energy = self.t.charges.get(key, (0, {}))
                self.t.charges[key] = (total.charged.fen, {**energy, **dict(total.energy_wh)})


class FakeUsageRepository(_Repository):
    """``metering_ports.UsageRepository`` in memory: by local day, month and year."""

    async def add(self, usage: Mapping[AccountNumber, Sequence[metering.Consumption]]) -> None:
        for number, consumptions in usage.items():
            self.t.account(number)
            for consumption in consumptions:
                for part in metering.by_month(consumption):
                    _add_usage(self.t, number, part.day, part.delta.as_tuple())


def _add_usage(tables: Tables, number: AccountNumber, day: dt.date, delta: Sequence[int]) -> None:
    for bucket, key in (
        (tables.usage_daily, (number, day)),
        (tables.usage_monthly, (number, f"{day.year:04d}-{day.month:02d}")),
        (tables.usage_yearly, (number, day.year)),
    ):
        sums = bucket.setdefault(key, [0] * 5)  # type: ignore[attr-defined]
        for index, value in enumerate(delta):
            sums[index] += value


# ---------------------------------------------------------------------------- prepaid, outbox


def _calendar(tables: Tables, first_date: dt.date, last_date: dt.date) -> WorkingCalendar:
    overrides = tuple(
        CalendarOverride(
            day=day, working=working, note=note, imported=origin is cp.CalendarChangeSource.IMPORT
        )
        for day, (working, note, origin, _by, _at) in sorted(tables.calendar_overrides.items())
        if first_date <= day <= last_date
    )
    return WorkingCalendar.from_chinese_calendar(
        first_date=first_date,
        last_date=last_date,
        overrides=overrides,
        confirmed_years=(
            y for y in tables.confirmed_years if first_date.year <= y <= last_date.year
        ),
    )


class FakePrepaidRepository(_Repository):
    """``prepaid_ports.PrepaidRepository`` in memory, seeded with the manual's policy."""

    async def settings(self, *, on: dt.date) -> prepaid.PrepaidSettings:
        since = [day for day in self.t.prepaid_policies if day <= on]
        return self.t.prepaid_policies[max(since)] if since else prepaid.PrepaidSettings()

    async def set_settings(
        self, *, effective_from: dt.date, settings: prepaid.PrepaidSettings
    ) -> None:
        self.t.prepaid_policies[effective_from] = settings

    async def calendar(self, *, first_date: dt.date, last_date: dt.date) -> WorkingCalendar:
        return _calendar(self.t, first_date, last_date)

    async def snapshots(
        self, numbers: Collection[AccountNumber], *, at: dt.datetime
    ) -> dict[AccountNumber, prepaid_ports.PrepaidSnapshot]:
        found: dict[AccountNumber, prepaid_ports.PrepaidSnapshot] = {}
        for number in numbers:
            row = self.t.accounts.get(number)
            if row is None:
                continue
            keep = sorted(
                (
                    order.period
                    for order in self.t.keep_power
                    if order.account_number == number
                    and (order.period.end_at is None or order.period.end_at > at)
                ),
                key=lambda period: period.start_at,
            )
            installed = self.t.current_installation_of(number)
            found[number] = prepaid_ports.PrepaidSnapshot(
                state=row.state,
                relay=row.relay,
                keep_power=tuple(keep),
                phone=row.account.phone,
                meter_number=None if installed is None else installed.installation.meter_number,
            )
        return found

    async def save_states(
        self, states: Mapping[AccountNumber, tuple[prepaid.RuleState, dt.datetime | None]]
    ) -> None:
        for number, (state, re_evaluate_at) in states.items():
            row = self.t.account(number)
            row.state = state
            row.re_evaluate_at = re_evaluate_at

    async def due(self, *, at: dt.datetime, limit: int) -> tuple[AccountNumber, ...]:
        due = [
            row
            for row in self.t.accounts.values()
            if (row.re_evaluate_at is not None and row.re_evaluate_at <= at)
            or (row.state.warning_close_due_at is not None and row.state.warning_close_due_at <= at)
        ]

        def earliest(row: _AccountRow) -> dt.datetime:
            instants = [row.re_evaluate_at, row.state.warning_close_due_at]
            return min(i for i in instants if i is not None)

        due.sort(key=lambda row: (earliest(row), row.id))
        return tuple(row.account.number for row in due[:limit])

    async def add_keep_power(self, order: prepaid_ports.KeepPowerOrder) -> None:
        self.t.account(order.account_number)
        self.t.keep_power.append(order)

    async def set_relay(self, number: AccountNumber, relay: prepaid.RelayState) -> None:
        self.t.account(number).relay = relay


class FakeOutbox(_Repository):
    """``prepaid_ports.Outbox`` in memory: SMS and relay rows in command order."""

    async def add(
        self,
        commands: Sequence[prepaid.Command],
        *,
        at: dt.datetime,
        phones: Mapping[AccountNumber, accounts.PhoneNumber | None],
        meters: Mapping[AccountNumber, MeterNumber],
    ) -> None:
        for command in commands:
            self.t.account(command.account_number)
            if isinstance(command, prepaid.SendSms):
                phone = phones.get(command.account_number)
                self.t.sms.append(
                    _SmsRow(
                        id=self.t.new_id("sms"),
                        account_number=command.account_number,
                        kind=sms_ports.NotificationKind(command.kind.value),
                        phone=None if phone is None else str(phone),
                        balance_fen=command.balance.fen,
                        price=command.price,
                        amount_fen=None,
                        created_at=at,
                    )
                )
            elif isinstance(command, prepaid.TripRelay | prepaid.CloseRelay):
                trip = isinstance(command, prepaid.TripRelay)
                self.t.relay_commands.append(
                    _RelayRow(
                        id=self.t.new_id("relay_commands"),
                        account_number=command.account_number,
                        meter_number=meters.get(command.account_number),
                        action=RelayOperation.TRIP if trip else RelayOperation.CLOSE,
                        reason=RelayReason(command.reason.value),
                        not_before_at=at if trip else command.not_before_at,  # type: ignore[union-attr]
                        created_at=at,
                    )
                )
            else:
                for row in self.t.relay_commands:
                    if (
                        row.account_number == command.account_number
                        and row.action is RelayOperation.CLOSE
                        and row.reason.value == command.reason.value
                        and row.status is RelayCommandStatus.PENDING
                    ):
                        row.status = RelayCommandStatus.CANCELLED
                        row.done_at = at


class FakeStatementReader:
    """``billing_ports.StatementReader`` over a fake database's committed rows."""

    def __init__(self, database: FakeDatabase) -> None:
        self._database = database

    async def page(
        self, *, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[billing_ports.AccountMonths, ...]:
        tables = self._database.tables
        first = str(month)
        charged = sorted(
            {
                number
                for (number, key_month, _key) in tables.charges
                if key_month == first and (after is None or str(number) > str(after))
            },
            key=str,
        )[:limit]
        found = []
        for number in charged:
            totals = [
                _charge_total((key_month, key), fen, energy)
                for (owner, key_month, key), (fen, energy) in sorted(
                    tables.charges.items(), key=lambda item: (item[0][1], item[0][2])
                )
                # A key with no energy row has no line (the SQL joins the energy rows).
                if owner == number and key_month >= first and energy
            ]
            found.append(
                billing_ports.AccountMonths(
                    account_number=number,
                    balance=Money(fen=tables.accounts[number].balance_fen),
                    totals=tuple(totals),
                )
            )
        return tuple(found)


class FakeStatementRepository(_Repository):
    """``billing_ports.StatementRepository`` in memory, written once per month.

    Like the SQL, ``write`` decides nothing itself: each charge line takes its item and price
    from the ``tariffs`` it is given and its status from ``rule`` (over the balance and the
    charges of later months), each B8 credit of the month is a PAID line of negative energy
    and amount. So the month-end's check against the domain compares two computations.
    """

    async def run(self, month: BillingMonth) -> billing_ports.MonthEndRun | None:
        return self.t.month_end_runs.get(str(month))

    def _written(self, month: BillingMonth) -> list[AccountNumber]:
        first = str(month)
        return sorted((n for (m, n) in self.t.statement_lines if m == first), key=str)

    async def write(
        self,
        *,
        month: BillingMonth,
        tariffs: Sequence[billing_ports.StatementTariff],
        rule: billing.PaidRule,
        written_at: dt.datetime,
    ) -> billing_ports.MonthEndRun | None:
        first = str(month)
        if first in self.t.month_end_runs:
            return None
        shown = {tariff.tariff_key: tariff for tariff in tariffs}
        later: dict[AccountNumber, int] = defaultdict(int)
        for (number, key_month, _key), (fen, _energy) in self.t.charges.items():
            if key_month > first:
                later[number] += fen
        # account -> (order, line key, line): credits first, then charges by tariff key.
        found: dict[AccountNumber, list[tuple[int, str, billing.StatementLine]]] = defaultdict(list)
        for reference, credit in self.t.migration_credits:
            entry = self.t.entry(reference)
            assert entry is not None
            if not month.start_at <= credit.at < month.end_at:
                continue
            line = billing.StatementLine(
                month=month,
                item=billing.ITEM_RESIDENTIAL_LIGHTING,
                price=credit.price,
                energy=-credit.energy,
                amount=-entry.entry.amount,
                status=billing.StatementStatus.PAID,
            )
            found[entry.entry.account_number].append((0, f"{entry.id:020d}", line))
        for (number, key_month, key), (fen, energy) in self.t.charges.items():
            if key_month != first:
                continue
            tariff = shown.get(key)
            if tariff is None:
                # The SQL's CASE yields NULL and the NOT NULL item refuses the insert.
                raise ValueError(f"month-end {first}: no statement item for tariff {key}")
            line = billing.StatementLine(
                month=month,
                item=tariff.item,
                price=tariff.price,
                energy=_charge_total((key_month, key), fen, energy).energy,
                amount=Money(fen=fen),
                status=rule.status(
                    balance=Money(fen=self.t.account(number).balance_fen),
                    later_charges=Money(fen=later[number]),
                ),
            )
            found[number].append((1, key, line))
        wrong = self._uow._database.wrong_statement_of
        for number, keyed in found.items():
            lines = [line for _order, _key, line in sorted(keyed, key=lambda k: (k[0], k[1]))]
            if number == wrong:
                lines[0] = dataclasses.replace(lines[0], amount=lines[0].amount + Money(fen=1))
            self.t.statement_lines[(first, number)] = tuple(lines)
        # The run's totals are counted over the lines as written, as the SQL counts them.
        written = [line for number in found for line in self.t.statement_lines[(first, number)]]
        run = billing_ports.MonthEndRun(
            month=month,
            written_at=written_at,
            accounts=len(found),
            lines=len(written),
            amount=sum((line.amount for line in written), Money.zero()),
            unpaid_lines=sum(line.status is billing.StatementStatus.UNPAID for line in written),
        )
        self.t.month_end_runs[first] = run
        return run

    async def sample(
        self, *, month: BillingMonth, size: int, seed: int
    ) -> tuple[billing_ports.WrittenStatement, ...]:
        written = self._written(month)
        if not written or size == 0:
            return ()
        chooser = random.Random(seed)  # a sample, not a secret
        chosen = {chooser.choice(written) for _ in range(size)}
        unpaid = [
            number
            for number in written
            if any(
                line.status is billing.StatementStatus.UNPAID
                for line in self.t.statement_lines[(str(month), number)]
            )
        ]
        chosen.update(unpaid[:size])
        totals = await FakeChargeRepository(self._uow).totals(chosen, years=None)
        return tuple(
            billing_ports.WrittenStatement(
                account_number=number,
                lines=self.t.statement_lines[(str(month), number)],
                balance=Money(fen=self.t.account(number).balance_fen),
                totals=totals.get(number, ()),
                credits=_migration_credits(self.t, number),
            )
            for number in sorted(chosen, key=str)
        )

    async def lines(
        self, *, month: BillingMonth, after: AccountNumber | None, limit: int
    ) -> tuple[tuple[AccountNumber, tuple[billing.StatementLine, ...]], ...]:
        chosen = [n for n in self._written(month) if after is None or str(n) > str(after)]
        return tuple((n, self.t.statement_lines[(str(month), n)]) for n in chosen[:limit])


# ---------------------------------------------------------------------------- SMS


def _queued(tables: Tables, row: _SmsRow) -> sms_ports.QueuedSms:
    phone: accounts.PhoneNumber | None = None
    if row.phone is not None:
        try:
            phone = accounts.PhoneNumber(digits=row.phone)
        except accounts.InvalidPhoneNumber:
            phone = None
    return sms_ports.QueuedSms(
        id=row.id,
        account_number=row.account_number,
        kind=row.kind,
        phone=phone,
        balance=Money(fen=row.balance_fen),
        price=row.price,
        amount=None if row.amount_fen is None else Money(fen=row.amount_fen),
        created_at=row.created_at,
        attempts=row.attempts,
        parts_sent=row.parts_sent,
        message_refs=row.message_refs,
        body=row.body,
        claimed_at=row.claimed_at,
        stored_index=row.stored_index,
        stores_parts=row.stores_parts,
    )


class FakeSmsOutbox(_Repository):
    """``sms_ports.SmsOutbox`` in memory, seeded with the migrations' SMS policy."""

    def _row(self, message_id: int) -> _SmsRow:
        for row in self.t.sms:
            if row.id == message_id:
                return row
        raise MessageNotClaimed(f"SMS {message_id} does not exist")

    def _claimed_row(self, message_id: int) -> _SmsRow:
        row = self._row(message_id)
        if row.claimed_at is None:
            raise MessageNotClaimed(f"SMS {message_id} is not claimed")
        return row

    async def enqueue(self, requests: Sequence[sms_ports.SmsRequest], *, at: dt.datetime) -> int:
        for request in requests:
            self.t.account(request.account_number)
        keys = {row.dedup_key for row in self.t.sms if row.dedup_key is not None}
        queued = 0
        for request in requests:
            if request.dedup_key is not None:
                if request.dedup_key in keys:
                    continue
                keys.add(request.dedup_key)
            phone = self.t.accounts[request.account_number].account.phone
            self.t.sms.append(
                _SmsRow(
                    id=self.t.new_id("sms"),
                    account_number=request.account_number,
                    kind=request.kind,
                    phone=None if phone is None else str(phone),
                    balance_fen=request.balance.fen,
                    price=request.price,
                    amount_fen=None if request.amount is None else request.amount.fen,
                    created_at=at,
                    dedup_key=request.dedup_key,
                    body=request.body,
                )
            )
            queued += 1
        return queued

    async def policy(self, *, on: dt.date) -> sms_ports.SmsPolicy:
        since = [day for day in self.t.sms_policies if day <= on]
        if not since:
            raise LookupError(f"no SMS policy in force on {on.isoformat()}")
        return self.t.sms_policies[max(since)]

    async def next_due(self, *, at: dt.datetime) -> sms_ports.QueuedSms | None:
        for row in self.t.sms:
            if (
                row.status is sms_ports.SmsStatus.PENDING
                and row.claimed_at is None
                and (row.next_attempt_at is None or row.next_attempt_at <= at)
            ):
                return _queued(self.t, row)
        return None

    async def newer_pending(self, message: sms_ports.QueuedSms) -> int | None:
        newer = [
            row.id
            for row in self.t.sms
            if row.account_number == message.account_number
            and row.kind is message.kind
            and row.status is sms_ports.SmsStatus.PENDING
            and row.id > message.id
        ]
        return max(newer) if newer else None

    async def sent_count(self, phone: accounts.PhoneNumber, *, since: dt.datetime) -> int:
        return sum(
            1
            for row in self.t.sms
            if row.phone == str(phone)
            and row.status in (sms_ports.SmsStatus.SENT, sms_ports.SmsStatus.CONFIRMED)
            and row.done_at is not None
            and row.done_at >= since
        )

    async def claim(
        self,
        message_id: int,
        *,
        at: dt.datetime,
        sender: str,
        body: str,
        stores_parts: bool = False,
    ) -> int:
        row = self._row(message_id)
        if row.status is not sms_ports.SmsStatus.PENDING or row.claimed_at is not None:
            raise MessageNotClaimed(f"SMS {message_id} is not pending and unclaimed")
        row.attempts += 1
        row.claimed_at = at
        row.body = body
        row.last_error = None
        row.stores_parts = stores_parts
        self.t.deliveries.setdefault(message_id, []).append(
            _DeliveryRow(attempt=row.attempts, sender=sender, started_at=at)
        )
        return row.attempts

    async def record_stored(self, message_id: int, *, index: int | None) -> None:
        self._claimed_row(message_id).stored_index = index

    async def record_part(
        self, message_id: int, *, reference: str, at: dt.datetime, last: bool
    ) -> None:
        row = self._claimed_row(message_id)
        if "," in reference:
            raise ValueError("a message reference must not contain ','")
        row.parts_sent += 1
        row.message_refs = (*row.message_refs, reference)
        row.stored_index = None
        delivery = self.t.deliveries[message_id][-1]
        delivery.message_refs = (*delivery.message_refs, reference)
        if last:
            row.status = sms_ports.SmsStatus.SENT
            row.done_at = at
            row.claimed_at = None
            delivery.outcome = sms_ports.DeliveryOutcome.SENT
            delivery.finished_at = at

    async def release(
        self,
        message_id: int,
        *,
        at: dt.datetime,
        outcome: sms_ports.DeliveryOutcome,
        error: str,
        retry_at: dt.datetime | None,
        keep_stored: bool = False,
    ) -> None:
        row = self._claimed_row(message_id)
        row.claimed_at = None
        row.last_error = error[:200]
        if not keep_stored:
            row.stored_index = None
        if retry_at is None:
            row.status = sms_ports.SmsStatus.FAILED
            row.done_at = at
        else:
            row.next_attempt_at = retry_at
        delivery = self.t.deliveries[message_id][-1]
        delivery.outcome = outcome
        delivery.finished_at = at
        delivery.error = error[:200]

    async def stored_indexes(self) -> frozenset[int]:
        return frozenset(row.stored_index for row in self.t.sms if row.stored_index is not None)

    async def defer(self, message_id: int, *, until: dt.datetime, reason: str) -> None:
        row = self._row(message_id)
        row.next_attempt_at = until
        row.last_error = reason[:200]

    async def close(
        self,
        message_id: int,
        *,
        status: sms_ports.SmsStatus,
        at: dt.datetime,
        reason: str,
    ) -> None:
        if status not in (sms_ports.SmsStatus.FAILED, sms_ports.SmsStatus.CANCELLED):
            raise ValueError(f"a message is closed as FAILED or CANCELLED, not {status}")
        row = self._row(message_id)
        row.status = status
        row.done_at = at
        row.last_error = reason[:200]

    async def claimed(self) -> tuple[sms_ports.QueuedSms, ...]:
        return tuple(_queued(self.t, row) for row in self.t.sms if row.claimed_at is not None)

    async def deliveries(self, message_id: int) -> tuple[sms_ports.SmsDelivery, ...]:
        return tuple(
            sms_ports.SmsDelivery(
                attempt=row.attempt,
                sender=row.sender,
                started_at=row.started_at,
                finished_at=row.finished_at,
                outcome=row.outcome,
                message_refs=row.message_refs,
                error=row.error,
            )
            for row in self.t.deliveries.get(message_id, [])
        )

    async def failed(self, *, since: dt.datetime, limit: int) -> tuple[sms_ports.FailedSms, ...]:
        rows = [
            row
            for row in self.t.sms
            if row.status is sms_ports.SmsStatus.FAILED
            and row.done_at is not None
            and row.done_at >= since
        ]
        rows.sort(key=lambda row: (row.done_at, row.id), reverse=True)
        return tuple(
            sms_ports.FailedSms(
                id=row.id,
                account_number=row.account_number,
                kind=row.kind,
                phone=row.phone,
                created_at=row.created_at,
                failed_at=row.done_at,  # type: ignore[arg-type]
                attempts=row.attempts,
                error=row.last_error or "",
            )
            for row in rows[:limit]
        )

    async def without_phone(
        self, *, after: AccountNumber | None, limit: int
    ) -> tuple[sms_ports.AccountWithoutPhone, ...]:
        rows = sorted(self.t.accounts.values(), key=lambda row: str(row.account.number))
        found = []
        for row in rows:
            account = row.account
            if account.status is not accounts.AccountStatus.OPEN or account.phone is not None:
                continue
            if after is not None and str(account.number) <= str(after):
                continue
            found.append(
                sms_ports.AccountWithoutPhone(
                    account_number=account.number,
                    holder=str(account.holder),
                    address=str(account.address),
                    balance=Money(fen=row.balance_fen),
                    unsent=sum(
                        1
                        for sms in self.t.sms
                        if sms.account_number == account.number
                        and sms.status is sms_ports.SmsStatus.FAILED
                        and sms.last_error == "NO_PHONE"
                    ),
                )
            )
        return tuple(found[:limit])


# ---------------------------------------------------------------------------- head-end


class FakeHeadendRepository(_Repository):
    """``headend.ports.HeadendRepository`` in memory, seeded with the DEFAULT poll plan."""

    async def save_bus(self, bus: hp.BusConfig) -> None:
        for meter in bus.meters:
            self.t.poll_plans[meter.plan.name] = meter.plan
        known = self.t.buses.get(bus.name)
        bus_id = self.t.new_id("buses") if known is None else known.id
        self.t.buses[bus.name] = _BusRow(id=bus_id, config=dataclasses.replace(bus, meters=()))
        self.t.bus_meters = {m: v for m, v in self.t.bus_meters.items() if v[0] != bus_id}
        for position, meter in enumerate(bus.meters):
            self.t.bus_meters[meter.meter_number] = (bus_id, meter.plan.name, position)

    async def buses(self, names: Collection[str] | None = None) -> tuple[hp.BusConfig, ...]:
        found = []
        for name in sorted(self.t.buses):
            if names is not None and name not in names:
                continue
            row = self.t.buses[name]
            on_bus = sorted(
                (position, meter, plan)
                for meter, (bus_id, plan, position) in self.t.bus_meters.items()
                if bus_id == row.id
            )
            found.append(
                dataclasses.replace(
                    row.config,
                    meters=tuple(
                        hp.BusMeter(
                            meter_number=meter,
                            plan=self.t.poll_plans[plan],
                            event_counts=tuple(
                                sorted(
                                    (kind, count)
                                    for (counted, kind), count in self.t.event_counts.items()
                                    if counted == meter
                                )
                            ),
                        )
                        for _position, meter, plan in on_bus
                    ),
                )
            )
        return tuple(found)

    async def bus_of(self, meters: Collection[MeterNumber]) -> dict[MeterNumber, str]:
        names = {row.id: name for name, row in self.t.buses.items()}
        return {
            meter: names[self.t.bus_meters[meter][0]]
            for meter in meters
            if meter in self.t.bus_meters
        }

    async def save_event_counts(
        self, meter: MeterNumber, counts: Mapping[MeterEventKind, int], *, at: dt.datetime
    ) -> None:
        for kind, count in counts.items():
            self.t.event_counts[(meter, kind)] = count

    async def add_events(self, events: Sequence[hp.MeterEvent], *, recorded_at: dt.datetime) -> int:
        new = 0
        for event in events:
            key = (event.meter_number, event.kind, event.occurred_at)
            known = self.t.events.get(key)
            if known is None:
                self.t.events[key] = event
                new += 1
            elif known.ended_at is None and event.ended_at is not None:
                self.t.events[key] = dataclasses.replace(known, ended_at=event.ended_at)
        return new

    async def save_latest(self, latest: hp.LatestValues) -> None:
        self.t.latest[latest.meter_number] = latest

    async def save_settlement(self, settlement: hp.Settlement) -> None:
        self.t.settlements.setdefault((settlement.meter_number, settlement.month), settlement)

    async def add_clock_check(self, check: hp.ClockCheck) -> None:
        self.t.clock_checks.append(check)

    async def communication(
        self, meters: Collection[MeterNumber]
    ) -> dict[MeterNumber, hp.CommunicationState]:
        return {
            meter: self.t.communication[meter][0]
            for meter in meters
            if meter in self.t.communication
        }

    async def save_communication(
        self,
        bus: str,
        outcomes: Sequence[hp.CommunicationOutcome],
        states: Mapping[MeterNumber, hp.CommunicationState],
    ) -> None:
        errors = {outcome.meter_number: outcome.error for outcome in outcomes}
        for meter, state in states.items():
            self.t.communication[meter] = (state, errors.get(meter, ""))
        for outcome in outcomes:
            day = local_date(outcome.at)
            for meter in (str(outcome.meter_number), ""):
                counts = self.t.communication_days.setdefault((bus, meter, day), [0, 0])
                counts[0] += 1
                counts[1] += int(outcome.succeeded)

    async def meter_events(self, meter: MeterNumber, *, limit: int) -> tuple[hp.MeterEvent, ...]:
        found = [e for (m, _, _), e in self.t.events.items() if m == meter]
        return tuple(sorted(found, key=lambda e: e.occurred_at, reverse=True)[:limit])

    async def meter_overview(
        self, *, since: dt.datetime, meter: MeterNumber | None = None
    ) -> tuple[hp.MeterOverview, ...]:
        names = {row.id: name for name, row in self.t.buses.items()}
        since_day = local_date(since)
        found = []
        for row in self.t.installations:
            number = row.installation.meter_number
            if row.removed_at is not None or (meter is not None and number != meter):
                continue
            account = self.t.account(row.installation.account_number).account
            latest = self.t.latest.get(number)
            checks = [c for c in self.t.clock_checks if c.meter_number == number]
            counts = [
                c
                for (_, m, day), c in self.t.communication_days.items()
                if m == str(number) and day >= since_day
            ]
            commands = [c for c in self.t.relay_commands if c.meter_number == number]
            last = commands[-1] if commands else None
            on_bus = self.t.bus_meters.get(number)
            found.append(
                hp.MeterOverview(
                    meter_number=number,
                    account_number=account.number,
                    holder=account.holder.name,
                    bus=names.get(on_bus[0])
                    if on_bus
                    else (row.installation.bus if row.installation.bus != "-" else None),
                    read_at=latest.read_at if latest else None,
                    relay_open=latest.status.relay_open if latest else None,
                    keep_power=latest.status.keep_power if latest else None,
                    active_power_mw=latest.values.active_power_mw
                    if latest and latest.values
                    else None,
                    drift_ms=int(checks[-1].drift.total_seconds() * 1000) if checks else None,
                    attempts=sum(c[0] for c in counts),
                    successes=sum(c[1] for c in counts),
                    last_command=last.action.value if last else None,
                    last_command_status=last.status.value if last else None,
                    last_command_at=last.created_at if last else None,
                )
            )
        return tuple(sorted(found, key=lambda o: str(o.meter_number)))

    async def communication_days(self, *, bus: str) -> tuple[hp.CommunicationDay, ...]:
        rows = sorted(
            (day, meter, counts)
            for (on_bus, meter, day), counts in self.t.communication_days.items()
            if on_bus == bus
        )
        return tuple(
            hp.CommunicationDay(
                bus=bus,
                meter_number=MeterNumber(value=meter) if meter else None,
                day=day,
                attempts=attempts,
                successes=successes,
            )
            for day, meter, (attempts, successes) in rows
        )

    async def due_relay_commands(self, *, at: dt.datetime, limit: int) -> tuple[RelayCommand, ...]:
        due = []
        for row in self.t.relay_commands:
            if row.status is not RelayCommandStatus.PENDING or row.not_before_at > at:
                continue
            # The command goes to the meter installed on the account now (the stored number
            # is only the fallback), as the SQL does.
            installed = self.t.current_installation_of(row.account_number)
            target = installed.installation.meter_number if installed else row.meter_number
            if target is None:
                continue
            due.append((row, target))
        due.sort(key=lambda pair: (pair[0].not_before_at, pair[0].id))
        return tuple(
            RelayCommand(
                id=row.id,
                account_number=row.account_number,
                meter_number=target,
                operation=row.action,
                reason=row.reason,
                not_before_at=row.not_before_at,
                attempts=row.attempts,
                ordered_by=row.ordered_by,
                note=row.note,
            )
            for row, target in due[:limit]
        )

    async def add_relay_command(
        self,
        meter: MeterNumber,
        operation: RelayOperation,
        *,
        reason: RelayReason,
        at: dt.datetime,
        ordered_by: str | None = None,
        note: str | None = None,
    ) -> int:
        installed = self.t.current_installation(meter=meter)
        if installed is None:
            raise account_ports.NoMeterInstalled(str(meter))
        row = _RelayRow(
            id=self.t.new_id("relay_commands"),
            account_number=installed.installation.account_number,
            meter_number=meter,
            action=operation,
            reason=reason,
            not_before_at=at,
            created_at=at,
            ordered_by=ordered_by,
            note=note,
        )
        self.t.relay_commands.append(row)
        return row.id

    async def update_relay_command(
        self,
        command_id: int,
        *,
        status: RelayCommandStatus,
        at: dt.datetime,
        attempts: int | None = None,
        not_before_at: dt.datetime | None = None,
        error: str | None = None,
    ) -> None:
        for row in self.t.relay_commands:
            if row.id != command_id:
                continue
            row.status = status
            if status is not RelayCommandStatus.PENDING:
                row.done_at = at
            if attempts is not None:
                row.attempts = attempts
            if not_before_at is not None:
                row.not_before_at = not_before_at
            if error is not None:
                row.last_error = error

    async def relay_command_state(self, command_id: int) -> tuple[RelayCommandStatus, int] | None:
        for row in self.t.relay_commands:
            if row.id == command_id:
                return row.status, row.attempts
        return None

    async def cancel_pending_closes(self, command: RelayCommand, *, at: dt.datetime) -> None:
        for row in self.t.relay_commands:
            if (
                row.meter_number == command.meter_number
                and row.action is RelayOperation.CLOSE
                and row.reason is RelayReason.WARNING_CUT_ENDED
                and row.status is RelayCommandStatus.PENDING
                and row.id > command.id
            ):
                row.status = RelayCommandStatus.CANCELLED
                row.done_at = at

    async def last_relay_switch(
        self, account: AccountNumber, *, other_than: int
    ) -> tuple[RelayOperation, str] | None:
        done = [
            row
            for row in self.t.relay_commands
            if row.account_number == account
            and row.action in (RelayOperation.TRIP, RelayOperation.CLOSE)
            and row.status is RelayCommandStatus.CONFIRMED
            and row.id != other_than
        ]
        if not done:
            return None
        last = max(done, key=lambda row: (row.done_at or row.created_at, row.id))
        return last.action, last.reason

    async def add_read_request(
        self, meter: MeterNumber, *, requested_by: str, at: dt.datetime
    ) -> int:
        for pending in self.t.read_requests:
            if pending.meter_number == meter and pending.status is ReadRequestStatus.PENDING:
                return pending.id
        request = ReadRequest(
            id=self.t.new_id("read_requests"),
            meter_number=meter,
            requested_by=requested_by,
            requested_at=at,
        )
        self.t.read_requests.append(request)
        return request.id

    async def read_requests(
        self, *, meter: MeterNumber | None = None, pending_only: bool = False, limit: int
    ) -> tuple[ReadRequest, ...]:
        found = [
            r
            for r in self.t.read_requests
            if (meter is None or r.meter_number == meter)
            and (not pending_only or r.status is ReadRequestStatus.PENDING)
        ]
        if meter is not None:
            found.reverse()
        return tuple(found[:limit])

    async def expire_read_requests(self, *, requested_before: dt.datetime, at: dt.datetime) -> int:
        expired = 0
        for i, r in enumerate(self.t.read_requests):
            if r.status is ReadRequestStatus.PENDING and r.requested_at <= requested_before:
                self.t.read_requests[i] = dataclasses.replace(
                    r, status=ReadRequestStatus.EXPIRED, done_at=at
                )
                expired += 1
        return expired

    async def finish_read_request(
        self,
        request_id: int,
        *,
        status: ReadRequestStatus,
        at: dt.datetime,
        error: str = "",
        values: ReadValues | None = None,
    ) -> bool:
        for i, r in enumerate(self.t.read_requests):
            if r.id == request_id and r.status is ReadRequestStatus.PENDING:
                self.t.read_requests[i] = dataclasses.replace(
                    r, status=status, done_at=at, error=error, values=values
                )
                return True
        return False


# ---------------------------------------------------------------------------- payments


class FakePaymentRepository(_Repository):
    """``payment_ports.PaymentRepository`` in memory, seeded with the counter's hours."""

    async def record(
        self, new: Sequence[payment_ports.NewPayment]
    ) -> tuple[payment_ports.Payment, ...]:
        if not new:
            return ()
        found = {}
        for item in new:
            row = self.t.entry(item.entry_reference)
            if row is None:
                raise KeyError(item.entry_reference)
            found[item.entry_reference] = row
        by_day: dict[tuple[str, dt.date], list[int]] = defaultdict(list)
        for index, item in enumerate(new):
            by_day[(item.channel.value, local_date(found[item.entry_reference].entry.at))].append(
                index
            )
        numbers: dict[int, payments.ReceiptNumber] = {}
        for (channel, day), indexes in sorted(by_day.items()):
            first = self.t.receipt_sequences.get((channel, day), 0) + 1
            self.t.receipt_sequences[(channel, day)] = first + len(indexes) - 1
            for offset, index in enumerate(indexes):
                numbers[index] = payments.ReceiptNumber(
                    channel=payments.Channel(channel), day=day, sequence=first + offset
                )
        made: list[_PaymentRow] = []
        for index, item in enumerate(new):
            row = found[item.entry_reference]
            entry = row.entry
            made.append(
                _PaymentRow(
                    id=0,
                    entry_id=row.id,
                    payment=payment_ports.Payment(
                        receipt_number=numbers[index],
                        channel=item.channel,
                        channel_reference=item.channel_reference,
                        kind=item.kind,
                        account_number=entry.account_number,
                        amount=entry.amount,
                        balance_before=Money(fen=row.balance_after_fen - entry.amount.fen),
                        balance_after=Money(fen=row.balance_after_fen),
                        at=entry.at,
                        operator=item.operator,
                        corrects_receipt=item.corrects_receipt,
                        entry_reference=item.entry_reference,
                        note=item.note,
                    ),
                )
            )
        keys = [(p.payment.channel, p.payment.channel_reference, p.payment.kind) for p in made]
        keys += [
            (p.payment.channel, p.payment.channel_reference, p.payment.kind)
            for p in self.t.payments
        ]
        receipts = [str(p.payment.receipt_number) for p in [*made, *self.t.payments]]
        entry_ids = [p.entry_id for p in [*made, *self.t.payments]]
        # The SQL's CHECK constraints, which it reports as DuplicatePayment too (any
        # IntegrityError of the insert becomes one there).
        broken = any(
            p.payment.amount.fen == 0
            or (p.payment.kind.value in ("TOP_UP", "MOVE_IN")) != (p.payment.amount.fen > 0)
            or (p.payment.channel is payments.Channel.COUNTER and p.payment.operator is None)
            for p in made
        )
        if broken or any(len(set(v)) != len(v) for v in (keys, receipts, entry_ids)):
            raise payments.DuplicatePayment("a channel reference was recorded before")
        for row in made:
            row.id = self.t.new_id("payments")
            self.t.payments.append(row)
        return tuple(row.payment for row in made)

    async def by_channel_reference(
        self, channel: payments.Channel, references: Collection[str]
    ) -> dict[str, payment_ports.Payment]:
        wanted = set(references)
        return {
            row.payment.channel_reference: row.payment
            for row in self.t.payments
            if row.payment.channel is channel
            and row.payment.kind is payments.PaymentKind.TOP_UP
            and row.payment.channel_reference in wanted
        }

    async def by_receipt(self, receipt_number: str) -> payment_ports.Payment:
        for row in self.t.payments:
            if str(row.payment.receipt_number) == receipt_number:
                return row.payment
        raise payments.UnknownReceipt(receipt_number)

    async def corrections_of(self, receipt_number: str) -> tuple[payment_ports.Payment, ...]:
        return tuple(
            row.payment for row in self.t.payments if row.payment.corrects_receipt == receipt_number
        )

    async def history(
        self, number: AccountNumber, *, first_date: dt.date | None, last_date: dt.date | None
    ) -> tuple[payment_ports.Payment, ...]:
        self.t.account(number)
        start = None if first_date is None else start_of_local_day(first_date)
        end = None if last_date is None else start_of_local_day(last_date + dt.timedelta(days=1))
        found = [
            row
            for row in self.t.payments
            if row.payment.account_number == number
            and (start is None or row.payment.at >= start)
            and (end is None or row.payment.at < end)
        ]
        found.sort(key=lambda row: (row.payment.at, row.id))
        return tuple(row.payment for row in found)

    async def paid_before(self, number: AccountNumber, *, before: dt.datetime) -> Money:
        self.t.account(number)
        return Money(
            fen=sum(
                row.payment.amount.fen
                for row in self.t.payments
                if row.payment.account_number == number and row.payment.at < before
            )
        )

    async def audit(self, entries: Sequence[payment_ports.AuditEntry]) -> None:
        self.t.audit.extend(entries)

    async def counter_hours(self, *, on: dt.date) -> payments.CounterHours:
        since = [day for day in self.t.counter_hours if day <= on]
        return self.t.counter_hours[max(since)] if since else payments.DEFAULT_COUNTER_HOURS

    async def set_counter_hours(
        self, *, effective_from: dt.date, hours: payments.CounterHours
    ) -> None:
        self.t.counter_hours[effective_from] = hours

    async def counter_openings(
        self, *, at: dt.datetime
    ) -> tuple[payment_ports.CounterOpening, ...]:
        found = [
            (index, opening)
            for index, opening in enumerate(self.t.counter_openings)
            if opening.period.start_at <= at
            and (opening.period.end_at is None or opening.period.end_at > at)
        ]
        found.sort(key=lambda pair: (pair[1].created_at, pair[0]))
        return tuple(opening for _index, opening in found)

    async def add_counter_opening(self, opening: payment_ports.CounterOpening) -> None:
        self.t.counter_openings.append(opening)

    async def kiosk_session(self, transaction_id: str) -> payments.KioskSession | None:
        row = self.t.kiosk_sessions.get(transaction_id)
        if row is None:
            return None
        return dataclasses.replace(
            row.session, notes=tuple(row.notes[sequence] for sequence in sorted(row.notes))
        )

    async def save_kiosk_session(self, session: payments.KioskSession) -> None:
        if session.account_number is not None:
            self.t.account(session.account_number)
        row = self.t.kiosk_sessions.get(session.transaction_id)
        if row is None:
            row = self.t.kiosk_sessions[session.transaction_id] = _KioskRow(
                id=self.t.new_id("kiosk_sessions"), session=session, notes={}
            )
        else:
            row.session = dataclasses.replace(session, opened_at=row.session.opened_at)
        for note in session.notes:
            row.notes.setdefault(note.sequence, note)

    async def idle_kiosk_sessions(self, *, before: dt.datetime, limit: int) -> tuple[str, ...]:
        idle = [
            row.session
            for row in self.t.kiosk_sessions.values()
            if row.session.state.value in _OPEN_KIOSK_STATES and row.session.updated_at < before
        ]
        idle.sort(key=lambda session: session.updated_at)
        return tuple(session.transaction_id for session in idle[:limit])

    async def kiosk(self, kiosk_id: str, *, lock: bool = False) -> payments.Kiosk | None:
        return self.t.kiosks.get(kiosk_id)  # one writer at a time here: no lock needed

    async def kiosks(self) -> tuple[payments.Kiosk, ...]:
        return tuple(self.t.kiosks[k] for k in sorted(self.t.kiosks))

    async def add_kiosk(self, kiosk: payments.Kiosk) -> None:
        if kiosk.kiosk_id in self.t.kiosks:
            raise UniqueViolation(f"kiosks.kiosk_id {kiosk.kiosk_id}")
        self.t.kiosks[kiosk.kiosk_id] = kiosk

    async def save_kiosk(self, kiosk: payments.Kiosk) -> None:
        if kiosk.kiosk_id in self.t.kiosks:  # an UPDATE of a missing row changes nothing
            self.t.kiosks[kiosk.kiosk_id] = kiosk

    async def open_kiosk_sessions(self, kiosk_id: str) -> tuple[str, ...]:
        rows = [
            row
            for row in self.t.kiosk_sessions.values()
            if row.session.kiosk_id == kiosk_id and row.session.state.value in _OPEN_KIOSK_STATES
        ]
        rows.sort(key=lambda row: row.id, reverse=True)
        return tuple(row.session.transaction_id for row in rows)

    async def kiosk_note(self, kiosk_id: str, sequence: int) -> tuple[str, Money] | None:
        rows = sorted(
            (
                row
                for row in self.t.kiosk_sessions.values()
                if row.session.kiosk_id == kiosk_id and sequence in row.notes
            ),
            key=lambda row: row.id,
            reverse=True,
        )
        if not rows:
            return None
        return rows[0].session.transaction_id, rows[0].notes[sequence].amount

    async def remove_kiosk_note(self, transaction_id: str, sequence: int) -> None:
        row = self.t.kiosk_sessions.get(transaction_id)
        if row is not None:
            row.notes.pop(sequence, None)

    async def add_agreement(self, agreement: payments.Agreement, *, at: dt.datetime) -> None:
        missing = {str(n) for n in agreement.account_numbers if n not in self.t.accounts}
        if missing:
            raise account_ports.UnknownAccount(min(missing))
        if any(
            row.agreement.agreement_number == agreement.agreement_number
            for row in self.t.agreements
        ):
            raise payments.InvalidAgreement(f"agreement {agreement.agreement_number} exists")
        self.t.agreements.append(
            _AgreementRow(
                id=self.t.new_id("agreements"),
                agreement=dataclasses.replace(
                    agreement,
                    account_numbers=tuple(sorted(set(agreement.account_numbers), key=str)),
                ),
                created_at=at,
            )
        )

    async def cancel_agreement(self, agreement_number: str, *, on: dt.date) -> payments.Agreement:
        for row in self.t.agreements:
            if row.agreement.agreement_number == agreement_number:
                if row.agreement.cancelled_on is None:
                    row.agreement = dataclasses.replace(
                        row.agreement, cancelled_on=max(on, row.agreement.signed_on)
                    )
                return row.agreement
        raise payments.UnknownAgreement(agreement_number)

    def _in_force(self, on: dt.date) -> list[_AgreementRow]:
        return [
            row
            for row in self.t.agreements
            if row.agreement.signed_on <= on
            and (row.agreement.cancelled_on is None or row.agreement.cancelled_on > on)
        ]

    async def agreements(
        self, *, on: dt.date, numbers: Collection[AccountNumber] | None = None
    ) -> tuple[payments.Agreement, ...]:
        wanted = None if numbers is None else set(numbers)
        return tuple(
            row.agreement
            for row in self._in_force(on)
            if wanted is None or wanted & set(row.agreement.account_numbers)
        )

    def _due_on(self, on: dt.date) -> set[AccountNumber]:
        debited = {d.request.account_number for d in self.t.debits if d.request.day == on}
        return {
            number
            for row in self._in_force(on)
            for number in row.agreement.account_numbers
            if self.t.accounts[number].balance_fen < row.agreement.threshold.fen
            and number not in debited
        }

    async def below_threshold(self, *, on: dt.date, limit: int) -> tuple[AccountNumber, ...]:
        waiting = {
            d.request.account_number
            for d in self.t.debits
            if d.status is payments.DebitStatus.REQUESTED
        }
        return tuple(sorted(self._due_on(on) - waiting, key=str)[:limit])

    async def unanswered_debits(
        self, *, requested_before: dt.datetime, limit: int
    ) -> tuple[payments.DebitRequest, ...]:
        waiting = [
            d
            for d in self.t.debits
            if d.status is payments.DebitStatus.REQUESTED and d.requested_at < requested_before
        ]
        waiting.sort(key=lambda d: (d.requested_at, d.id))
        return tuple(d.request for d in waiting[:limit])

    async def held_by_pending(
        self, *, on: dt.date, limit: int
    ) -> tuple[payments.DebitRequest, ...]:
        due = self._due_on(on)
        held = [
            d
            for d in self.t.debits
            if d.status is payments.DebitStatus.REQUESTED and d.request.account_number in due
        ]
        held.sort(key=lambda d: (d.requested_at, d.id))
        return tuple(d.request for d in held[:limit])

    async def add_debits(self, debits: Sequence[payments.DebitRequest], *, at: dt.datetime) -> None:
        for debit in debits:
            self.t.account(debit.account_number)
            if not any(
                row.agreement.agreement_number == debit.agreement_number
                for row in self.t.agreements
            ):
                raise KeyError(debit.agreement_number)
            if any(
                d.request.debit_id == debit.debit_id
                or (d.request.account_number, d.request.day) == (debit.account_number, debit.day)
                for d in self.t.debits
            ):
                continue
            self.t.debits.append(
                _DebitRow(id=self.t.new_id("debits"), request=debit, requested_at=at)
            )

    async def debits(self, debit_ids: Collection[str]) -> dict[str, payment_ports.DebitState]:
        wanted = set(debit_ids)
        return {
            d.request.debit_id: payment_ports.DebitState(
                request=d.request,
                status=d.status,
                bank_serial=d.bank_serial,
                sent=d.sent_at is not None,
                seen=frozenset(
                    (serial, status)
                    for (serial, status), record in self.t.callbacks.items()
                    if record.debit_id == d.request.debit_id
                ),
            )
            for d in self.t.debits
            if d.request.debit_id in wanted
        }

    async def unsent_debits(self, *, limit: int) -> tuple[payments.DebitRequest, ...]:
        unsent = [
            d
            for d in self.t.debits
            if d.status is payments.DebitStatus.REQUESTED and d.sent_at is None
        ]
        unsent.sort(key=lambda d: (d.requested_at, d.id))
        return tuple(d.request for d in unsent[:limit])

    async def mark_sent(self, debit_ids: Collection[str], *, at: dt.datetime) -> None:
        for d in self.t.debits:
            if d.request.debit_id in debit_ids and d.sent_at is None:
                d.sent_at = at

    async def settle_debits(self, settlements: Sequence[payment_ports.DebitSettlement]) -> None:
        for settlement in settlements:
            for d in self.t.debits:
                if d.request.debit_id == settlement.debit_id:
                    if any(
                        other is not d and other.bank_serial == settlement.bank_serial
                        for other in self.t.debits
                    ):
                        raise UniqueViolation(f"bank serial {settlement.bank_serial} is taken")
                    d.status = settlement.status
                    d.bank_serial = settlement.bank_serial
                    d.settled_at = settlement.at
                    d.detail = settlement.detail

    def _credited(self) -> dict[str, list[_PaymentRow]]:
        # Serials of SUCCEEDED callbacks, with the bank top-ups recorded under them.
        found: dict[str, list[_PaymentRow]] = defaultdict(list)
        for row in self.t.payments:
            p = row.payment
            if p.channel is payments.Channel.BANK_AUTO and p.kind is payments.PaymentKind.TOP_UP:
                found[p.channel_reference].append(row)
        return found

    async def bank_credits(self, *, day: dt.date) -> tuple[payments.JournalCredit, ...]:
        days = {d.request.debit_id: d.request.day for d in self.t.debits}
        credited = self._credited()
        return tuple(
            payments.JournalCredit(
                serial=serial,
                debit_id=record.debit_id,
                account_number=row.payment.account_number,
                amount=row.payment.amount,
            )
            for (serial, status), record in self.t.callbacks.items()
            if status is payments.DebitStatus.SUCCEEDED and days.get(record.debit_id) == day
            for row in credited.get(serial, [])
        )

    async def record_callbacks(self, records: Sequence[payment_ports.CallbackRecord]) -> None:
        crediting = (payments.Settlement.CREDIT, payments.Settlement.LATE_SUCCESS)
        for record in records:
            key = (record.serial, record.status)
            if key in self.t.callbacks:
                continue
            if record.settlement in crediting and any(
                known.debit_id == record.debit_id and known.settlement in crediting
                for known in self.t.callbacks.values()
            ):
                raise UniqueViolation(f"debit {record.debit_id} was credited before")
            self.t.callbacks[key] = record

    async def official_receipt(
        self, *, receipt_number: str | None = None, official_number: str | None = None
    ) -> payment_ports.OfficialReceipt | None:
        for found in self.t.official_receipts:
            if (receipt_number is None or found.receipt_number == receipt_number) and (
                official_number is None or found.official_number == official_number
            ):
                return found
        return None

    async def add_official_receipt(self, official: payment_ports.OfficialReceipt) -> None:
        if any(
            o.official_number == official.official_number
            or o.receipt_number == official.receipt_number
            for o in self.t.official_receipts
        ):
            raise UniqueViolation(official.official_number)
        self.t.official_receipts.append(official)

    async def cash_up_lines(
        self, *, start_at: dt.datetime, end_at: dt.datetime
    ) -> tuple[payment_ports.CashUpLine, ...]:
        sums: dict[tuple[str, str, str], list[int]] = {}
        for row in self.t.payments:
            p = row.payment
            if start_at <= p.at < end_at:
                key = (p.channel.value, p.operator or "", p.kind.value)
                count, fen = sums.get(key, [0, 0])
                sums[key] = [count + 1, fen + p.amount.fen]
        return tuple(
            payment_ports.CashUpLine(
                channel=payments.Channel(channel),
                operator=operator or None,
                kind=payments.PaymentKind(kind),
                count=count,
                amount=Money(fen=fen),
            )
            for (channel, operator, kind), (count, fen) in sorted(sums.items())
        )

    async def journal_money_in(self, *, start_at: dt.datetime, end_at: dt.datetime) -> Money:
        kinds = {row.entry.reference: row.entry.kind for row in self.t.entries}
        total = 0
        for row in self.t.entries:
            e = row.entry
            if not start_at <= e.at < end_at:
                continue
            if e.kind is ledger.EntryKind.TOP_UP or (
                e.kind is ledger.EntryKind.CORRECTION
                and kinds.get(e.reverses or "") is ledger.EntryKind.TOP_UP
            ):
                total += e.amount.fen
        return Money(fen=total)

    async def debit_credits(self, *, day: dt.date | None) -> tuple[payments.DebitCredits, ...]:
        credited = self._credited()
        found = []
        for d in sorted(self.t.debits, key=lambda d: d.request.debit_id):
            if d.status is payments.DebitStatus.REQUESTED:
                continue
            if day is not None and d.request.day != day:
                continue
            serials = sorted(
                serial
                for (serial, status), record in self.t.callbacks.items()
                if record.debit_id == d.request.debit_id
                and status is payments.DebitStatus.SUCCEEDED
                for _row in credited.get(serial, [])
            )
            found.append(
                payments.DebitCredits(
                    debit_id=d.request.debit_id,
                    account_number=d.request.account_number,
                    status=d.status,
                    amount=d.request.amount,
                    credited_serials=tuple(serials),
                )
            )
        return tuple(found)


# ---------------------------------------------------------------------------- alarms


def _key(alarm: Alarm) -> tuple[AlarmKind, str, dt.datetime]:
    return (alarm.kind, alarm.subject, alarm.started_at)


class FakeAlarmRepository(_Repository):
    """``alarm_ports.AlarmRepository`` in memory: one list for every kind."""

    def add_new(self, alarms: Iterable[Alarm]) -> None:
        """Store alarms not stored yet (kind, subject, start), fill in an end seen later."""
        for alarm in alarms:
            for index, known in enumerate(self.t.alarms):
                if _key(known) == _key(alarm):
                    if known.ended_at is None and alarm.ended_at is not None:
                        self.t.alarms[index] = dataclasses.replace(known, ended_at=alarm.ended_at)
                    break
            else:
                self.t.alarms.append(dataclasses.replace(alarm, id=self.t.new_id("alarms")))

    def _open(self, kind: AlarmKind, subject: str) -> int | None:
        for index, alarm in enumerate(self.t.alarms):
            if alarm.kind is kind and alarm.subject == subject and alarm.ended_at is None:
                return index
        return None

    def _end(self, index: int, at: dt.datetime) -> None:
        alarm = self.t.alarms[index]
        self.t.alarms[index] = dataclasses.replace(alarm, ended_at=max(alarm.started_at, at))

    async def raise_alarm(
        self, *, kind: AlarmKind, subject: str, detail: str, at: dt.datetime
    ) -> bool:
        index = self._open(kind, subject)
        if index is not None:
            self.t.alarms[index] = dataclasses.replace(self.t.alarms[index], detail=detail)
            return False
        self.add_new((Alarm(kind=kind, subject=subject, started_at=at, detail=detail),))
        return True

    async def end_alarm(self, *, kind: AlarmKind, subject: str, at: dt.datetime) -> bool:
        index = self._open(kind, subject)
        if index is None:
            return False
        self._end(index, at)
        return True

    async def record(self, alarms: Sequence[Alarm], *, raised_at: dt.datetime) -> None:
        self.add_new(alarms)

    async def end_open(
        self, subject: str, kinds: Collection[AlarmKind], *, at: dt.datetime
    ) -> None:
        for index, alarm in enumerate(self.t.alarms):
            if alarm.subject == subject and alarm.kind in kinds and alarm.ended_at is None:
                self._end(index, at)

    async def alarms(
        self,
        *,
        open_only: bool = True,
        subject: str | None = None,
        scope: AlarmScope | None = None,
        kinds: Collection[AlarmKind] | None = None,
        limit: int | None = None,
    ) -> tuple[Alarm, ...]:
        found = [
            a
            for a in self.t.alarms
            if (not open_only or a.ended_at is None)
            and (subject is None or a.subject == subject)
            and (scope is None or a.kind.scope is scope)
            and (kinds is None or a.kind in kinds)
        ]
        found.sort(key=lambda a: (a.started_at, a.id or 0), reverse=True)
        return tuple(found if limit is None else found[:limit])

    async def acknowledge(self, alarm_id: int, *, by: str, at: dt.datetime) -> Alarm:
        for index, alarm in enumerate(self.t.alarms):
            if alarm.id == alarm_id:
                if alarm.acknowledged_at is None:
                    alarm = dataclasses.replace(alarm, acknowledged_at=at, acknowledged_by=by)
                    self.t.alarms[index] = alarm
                return alarm
        raise UnknownAlarm(f"no alarm {alarm_id}")


# ---------------------------------------------------------------------------- API tokens


class FakeApiTokenRepository(_Repository):
    """``api_ports.ApiTokenRepository`` in memory: hashes unique, first answers kept."""

    async def add_token(
        self,
        *,
        name: str,
        token_sha256: str,
        prefix: str,
        scopes: frozenset[api_ports.Scope],
        at: dt.datetime,
        by: str,
    ) -> api_ports.ApiToken:
        if any(stored == token_sha256 for _, stored in self.t.api_tokens.values()):
            raise UniqueViolation("api_tokens.token_sha256")
        token = api_ports.ApiToken(
            id=self.t.new_id("api_tokens"),
            name=name,
            prefix=prefix,
            scopes=frozenset(scopes),
            created_at=at,
            created_by=by,
        )
        self.t.api_tokens[token.id] = (token, token_sha256)
        return token

    async def tokens(self) -> tuple[api_ports.ApiToken, ...]:
        return tuple(token for _, (token, _) in sorted(self.t.api_tokens.items()))

    async def token_by_hash(self, token_sha256: str) -> api_ports.ApiToken | None:
        for token, stored in self.t.api_tokens.values():
            if stored == token_sha256:
                return token
        return None

    async def revoke_token(self, token_id: int, *, at: dt.datetime, by: str) -> api_ports.ApiToken:
        if token_id not in self.t.api_tokens:
            raise api_ports.UnknownToken(f"there is no API token {token_id}")
        token, stored = self.t.api_tokens[token_id]
        if token.revoked_at is None:
            token = dataclasses.replace(token, revoked_at=at, revoked_by=by)
            self.t.api_tokens[token_id] = (token, stored)
        return token

    async def answer(self, token_id: int, key: str) -> api_ports.IdempotentAnswer | None:
        return self.t.api_answers.get((token_id, key))

    async def keep_answer(
        self,
        token_id: int,
        key: str,
        answer: api_ports.IdempotentAnswer,
        *,
        at: dt.datetime,
    ) -> api_ports.IdempotentAnswer:
        return self.t.api_answers.setdefault((token_id, key), answer)


# ---------------------------------------------------------------------------- staff


class FakeStaffRepository(_Repository):
    """``staff_ports.StaffRepository`` in memory; the audit log is only appended to."""

    async def add_operator(self, stored: staff_ports.StoredOperator) -> None:
        if stored.operator.login in self.t.operators:
            raise staff_ports.DuplicateOperator(stored.operator.login)
        self.t.operators[stored.operator.login] = stored

    async def operator(self, login: str) -> staff_ports.StoredOperator | None:
        return self.t.operators.get(login)

    async def operators(self) -> tuple[staff_ports.StoredOperator, ...]:
        return tuple(self.t.operators[login] for login in sorted(self.t.operators))

    async def save_operator(self, operator: staff.Operator) -> None:
        stored = self.t.operators[operator.login]
        self.t.operators[operator.login] = dataclasses.replace(stored, operator=operator)

    async def save_login_state(self, login: str, state: staff.LoginState) -> None:
        stored = self.t.operators[login]
        self.t.operators[login] = dataclasses.replace(stored, login_state=state)

    async def set_password_hash(self, login: str, password_hash: str) -> None:
        stored = self.t.operators[login]
        self.t.operators[login] = dataclasses.replace(stored, password_hash=password_hash)

    async def append_audit(self, records: Sequence[staff.AuditRecord]) -> None:
        for record in records:
            self.t.audit_log.append(
                staff_ports.StoredAuditRecord(id=self.t.new_id("audit_log"), record=record)
            )

    async def search_audit(
        self, query: staff_ports.AuditQuery
    ) -> tuple[staff_ports.StoredAuditRecord, ...]:
        def matches(stored: staff_ports.StoredAuditRecord) -> bool:
            r = stored.record
            fields = (r.target, r.before, r.after, r.detail, r.action)
            return (
                (not query.text or any(query.text in field for field in fields))
                and (not query.actor or r.actor == query.actor)
                and (not query.action or query.action in r.action)
                and (query.from_at is None or r.at >= query.from_at)
                and (query.to_at is None or r.at < query.to_at)
                and (query.before_id is None or stored.id < query.before_id)
            )

        found = [stored for stored in reversed(self.t.audit_log) if matches(stored)]
        return tuple(found[: query.limit])


# ---------------------------------------------------------------------------- calendar


class FakeCalendarRepository(_Repository):
    """``calendar_ports.CalendarRepository`` in memory."""

    async def set_day(
        self, *, day: dt.date, working: bool, note: str, by: str, at: dt.datetime
    ) -> cp.CalendarChange | None:
        before = self.t.calendar_overrides.get(day)
        if before is not None and (before[0], before[1]) == (working, note):
            return None
        self.t.calendar_overrides[day] = (working, note, cp.CalendarChangeSource.SET, by, at)
        change = cp.CalendarChange(
            day=day,
            working_before=None if before is None else before[0],
            working_after=working,
            note=note,
            changed_by=by,
            changed_at=at,
            source=cp.CalendarChangeSource.SET,
        )
        self.t.calendar_changes.append(change)
        return change

    async def import_year(
        self,
        *,
        year: int,
        days: Sequence[CalendarOverride],
        note: str,
        by: str,
        at: dt.datetime,
    ) -> tuple[cp.CalendarChange, ...]:
        before = {
            day: (values[0], values[1])
            for day, values in self.t.calendar_overrides.items()
            if day.year == year
        }
        after = {override.day: (override.working, override.note) for override in days}
        source = cp.CalendarChangeSource.IMPORT
        changes = tuple(
            cp.CalendarChange(
                day=day,
                working_before=None if day not in before else before[day][0],
                working_after=None if day not in after else after[day][0],
                note=after[day][1] if day in after else before[day][1],
                changed_by=by,
                changed_at=at,
                source=source,
            )
            for day in sorted(before.keys() | after.keys())
            if before.get(day) != after.get(day)
        )
        for day in before:
            del self.t.calendar_overrides[day]
        for day, (working, day_note) in sorted(after.items()):
            self.t.calendar_overrides[day] = (working, day_note, source, by, at)
        self.t.calendar_changes.extend(changes)
        self.t.confirmed_years[year] = cp.ConfirmedYear(
            year=year, confirmed_by=by, confirmed_at=at, note=note
        )
        return changes

    async def year(self, year: int) -> WorkingCalendar:
        return _calendar(self.t, dt.date(year, 1, 1), dt.date(year, 12, 31))

    async def confirmed_years(self) -> tuple[cp.ConfirmedYear, ...]:
        return tuple(self.t.confirmed_years[year] for year in sorted(self.t.confirmed_years))

    async def changes(self, *, year: int | None = None) -> tuple[cp.CalendarChange, ...]:
        return tuple(c for c in self.t.calendar_changes if year is None or c.day.year == year)


# ---------------------------------------------------------------------------- set-based ingest

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _epoch_us(at: dt.datetime) -> int:
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


class FakeIngestRepository(_Repository):
    """``metering_ports.IngestRepository`` in memory: the SQL's classification, in Python."""

    async def record_plain(
        self, plan: metering_ports.PlainPlanner, *, settings_on: dt.date
    ) -> metering_ports.PlainOutcome:
        # Never commits on its own (the port allows that): the use case then commits.
        t = self.t
        tariffs = billing.TariffHistory(
            tariffs=tuple(sorted(t.tariffs, key=lambda tariff: tariff.effective_from))
        )
        since = [day for day in t.prepaid_policies if day <= settings_on]
        settings = t.prepaid_policies[max(since)] if since else prepaid.PrepaidSettings()
        batch = plan(tariffs, settings)
        charges = () if batch is None else self._charge_plain(batch)
        return metering_ports.PlainOutcome(
            tariffs=tariffs, batch=batch, charges=charges, committed=False
        )

    def _charge_plain(
        self, batch: metering_ports.PlainBatch
    ) -> tuple[metering_ports.PlainCharge, ...]:
        t = self.t
        bound = batch.bound
        charged: list[metering_ports.PlainCharge] = []
        for index, reading in enumerate(batch.readings):
            slot = batch.slots[batch.slot_of[index]]
            installed = t.current_installation(meter=reading.meter_number)
            if installed is None:
                continue
            baseline = installed.baseline
            number = installed.installation.account_number
            account = t.accounts[number]
            delta = [
                new - old
                for new, old in zip(
                    reading.registers.as_tuple(), baseline.registers.as_tuple(), strict=True
                )
            ]
            if reading.meter_time_at <= baseline.at or baseline.at < slot.window_start_at:
                continue
            if any(value < 0 for value in delta):
                continue
            if abs(delta[0] - sum(delta[1:])) > bound.tou_tolerance_wh:
                continue
            jump = delta[0]
            elapsed_us = slot.meter_time_us - _epoch_us(baseline.at)
            if jump > bound.slack_wh and not (
                jump <= bound.max_jump_wh
                and elapsed_us <= bound.max_elapsed_us
                and (jump - bound.slack_wh - 1) * bound.rate_denominator
                < elapsed_us * bound.rate_numerator
            ):
                continue
            key = (number, slot.month, slot.tariff_key)
            charged_before, energy = t.charges.get(key, (0, {}))
            energy_before = energy.get("ALL", 0)
            if energy_before > slot.energy_cap_wh - jump:
                continue
            energy_after = energy_before + jump
            charged_after = batch.rounding.charge_fen(
                energy_wh=energy_after, price_scaled=slot.price_scaled
            )
            if charged_after < charged_before:
                continue
            posting = charged_after - charged_before
            balance_after = account.balance_fen - posting
            at_rest = (
                batch.low_balance_below_fen is not None
                and balance_after >= batch.low_balance_below_fen
                and account.state == prepaid.RuleState()
                and account.re_evaluate_at is None
                and account.relay is not prepaid.RelayState.OPEN
            )
            # Write as the SQL statements do.
            t.readings.setdefault(
                (installed.id, reading.meter_time_at), (reading, metering.ReadingOutcome.ACCEPTED)
            )
            installed.baseline = metering.RegisterBaseline(
                meter_number=reading.meter_number,
                registers=reading.registers,
                at=reading.meter_time_at,
                source=metering.BaselineSource.READING,
            )
            new_energy = {**energy, "ALL": energy_after} if jump > 0 else energy
            t.charges[key] = (charged_after, new_energy)
            if posting > 0:
                entry = billing.ChargePosting(
                    account_number=number,
                    key=billing.ChargeKey(
                        tariff_key=slot.tariff_key, month=BillingMonth.parse(slot.month)
                    ),
                    amount=Money(fen=-posting),
                    charged_total=Money(fen=charged_after),
                    energy_total=Energy(wh=energy_after),
                ).entry(at=batch.posted_at)
                if t.entry(entry.reference) is not None:
                    raise ledger.DuplicateReference(entry.reference)
                account.balance_fen = balance_after
                account.entry_count += 1
                t.entries.append(
                    _EntryRow(id=t.new_id("entries"), entry=entry, balance_after_fen=balance_after)
                )
            _add_usage(t, number, slot.usage_day, delta)
            charged.append(
                metering_ports.PlainCharge(
                    index=index,
                    account_number=number,
                    posting_fen=posting,
                    charged_fen=charged_after,
                    energy_wh=energy_after,
                    balance_fen=account.balance_fen,
                    needs_rules=not at_rest,
                )
            )
        return tuple(charged)


# ---------------------------------------------------------------------------- residents' portal


class FakeResidentReader:
    """``resident_ports.ResidentReader`` over a fake database's committed rows."""

    def __init__(self, database: FakeDatabase) -> None:
        self._database = database

    def _row(self, number: AccountNumber) -> _AccountRow:
        return self._database.tables.account(number)

    async def profile(self, number: AccountNumber) -> resident_ports.ResidentProfile:
        row = self._row(number)
        paid = sum(
            p.payment.amount.fen
            for p in self._database.tables.payments
            if p.payment.account_number == number
        )
        account = row.account
        return resident_ports.ResidentProfile(
            account_number=number,
            holder=account.holder.name,
            phone=None if account.phone is None else str(account.phone),
            address=account.address.text,
            balance=Money(fen=row.balance_fen),
            paid_total=Money(fen=paid),
            relay=row.relay.value,
        )

    @staticmethod
    def _usage(found: Mapping[object, list[int]], period: object) -> resident_ports.UsageRow:
        values = found[period]
        return resident_ports.UsageRow(
            period=period.isoformat() if isinstance(period, dt.date) else str(period),
            registers=RegisterSet(
                total_wh=values[0],
                sharp_wh=values[1],
                peak_wh=values[2],
                flat_wh=values[3],
                valley_wh=values[4],
            ),
        )

    def _days(
        self, number: AccountNumber, first_date: dt.date, last_date: dt.date
    ) -> tuple[resident_ports.UsageRow, ...]:
        self._row(number)
        found = {day: v for (n, day), v in self._database.tables.usage_daily.items() if n == number}
        return tuple(self._usage(found, d) for d in sorted(found) if first_date <= d <= last_date)

    def _months(
        self, number: AccountNumber, first_month: str, last_month: str
    ) -> tuple[resident_ports.UsageRow, ...]:
        self._row(number)
        found = {m: v for (n, m), v in self._database.tables.usage_monthly.items() if n == number}
        return tuple(self._usage(found, m) for m in sorted(found) if first_month <= m <= last_month)

    def _years(
        self, number: AccountNumber, first_year: int, last_year: int
    ) -> tuple[resident_ports.UsageRow, ...]:
        self._row(number)
        found = {y: v for (n, y), v in self._database.tables.usage_yearly.items() if n == number}
        return tuple(self._usage(found, y) for y in sorted(found) if first_year <= y <= last_year)

    async def payments(
        self,
        number: AccountNumber,
        *,
        first_date: dt.date | None,
        last_date: dt.date | None,
        offset: int,
        limit: int,
    ) -> resident_ports.PaymentPage:
        self._row(number)
        found = [
            row
            for row in self._database.tables.payments
            if row.payment.account_number == number
            and (first_date is None or local_date(row.payment.at) >= first_date)
            and (last_date is None or local_date(row.payment.at) <= last_date)
        ]
        found.sort(key=lambda row: (row.payment.at, row.id), reverse=True)
        return resident_ports.PaymentPage(
            payments=tuple(row.payment for row in found[offset : offset + limit]),
            total=len(found),
        )

    def _relay_records(
        self, number: AccountNumber, since: dt.datetime, limit: int
    ) -> tuple[resident_ports.RelayRecord, ...]:
        self._row(number)
        entries = [
            row for row in self._database.tables.entries if row.entry.account_number == number
        ]
        found = sorted(
            (
                row
                for row in self._database.tables.relay_commands
                if row.account_number == number and row.created_at >= since
            ),
            key=lambda row: (row.created_at, row.id),
            reverse=True,
        )[:limit]

        def balance_then(at: dt.datetime, action: RelayOperation) -> Money | None:
            trip = action is RelayOperation.TRIP
            before = [
                row for row in entries if row.entry.at <= at and (row.entry.amount.fen < 0) == trip
            ] or [row for row in entries if row.entry.at <= at]
            if not before:
                return None
            last = max(before, key=lambda row: (row.entry.at, row.id))
            return Money(fen=last.balance_after_fen)

        return tuple(
            resident_ports.RelayRecord(
                action=row.action,
                reason=row.reason,
                status=row.status,
                ordered_at=row.created_at,
                not_before_at=row.not_before_at,
                done_at=row.done_at,
                balance_then=balance_then(row.created_at, row.action),
            )
            for row in found
        )

    def _spells(
        self, number: AccountNumber, since: dt.datetime
    ) -> tuple[resident_ports.KeepPowerSpell, ...]:
        self._row(number)
        found = [
            order
            for order in self._database.tables.keep_power
            if order.account_number == number
            and (order.period.end_at is None or order.period.end_at >= since)
        ]
        found.sort(key=lambda order: order.period.start_at, reverse=True)
        return tuple(
            resident_ports.KeepPowerSpell(
                start_at=order.period.start_at, end_at=order.period.end_at, reason=order.reason
            )
            for order in found
        )

    async def texts(
        self, number: AccountNumber, *, offset: int, limit: int
    ) -> resident_ports.TextPage:
        self._row(number)
        found = sorted(
            (row for row in self._database.tables.sms if row.account_number == number),
            key=lambda row: (row.created_at, row.id),
            reverse=True,
        )
        return resident_ports.TextPage(
            texts=tuple(
                resident_ports.SentText(
                    kind=row.kind.value,
                    status=row.status.value,
                    created_at=row.created_at,
                    done_at=row.done_at,
                    body=row.body,
                    balance=Money(fen=row.balance_fen),
                    amount=None if row.amount_fen is None else Money(fen=row.amount_fen),
                )
                for row in found[offset : offset + limit]
            ),
            total=len(found),
            has_phone=self._row(number).account.phone is not None,
        )

    async def home(
        self, number: AccountNumber, *, first_date: dt.date, last_date: dt.date
    ) -> resident_ports.HomeFacts:
        return resident_ports.HomeFacts(
            profile=await self.profile(number),
            recent_days=self._days(number, first_date, last_date),
            tariffs=billing.TariffHistory(tariffs=tuple(self._database.tables.tariffs)),
        )

    async def usage(
        self,
        number: AccountNumber,
        *,
        first_date: dt.date,
        last_date: dt.date,
        first_month: str,
        last_month: str,
        today: dt.date,
        this_month: str,
        this_year: int,
    ) -> resident_ports.UsageFacts:
        return resident_ports.UsageFacts(
            days=self._days(number, first_date, last_date),
            months=self._months(number, first_month, last_month),
            today=self._days(number, today, today),
            this_month=self._months(number, this_month, this_month),
            this_year=self._years(number, this_year, this_year),
        )

    async def statement(self, number: AccountNumber) -> resident_ports.StatementFacts:
        async with self._database.unit_of_work() as uow:
            await uow.accounts.get(number)
            totals = await uow.charges.totals((number,), years=None)
            credits = await uow.ledger.migration_credits(number)
            balances = await uow.ledger.balances((number,))
            tariffs = await uow.tariffs.history()
        return resident_ports.StatementFacts(
            totals=totals.get(number, ()),
            migration_credits=credits,
            balance=balances[number],
            tariffs=tariffs,
        )

    async def power(
        self, number: AccountNumber, *, since: dt.datetime, limit: int
    ) -> resident_ports.PowerFacts:
        top_ups = sorted(
            (
                row
                for row in self._database.tables.payments
                if row.payment.account_number == number
                and row.payment.at >= since
                and row.payment.amount.fen > 0
            ),
            key=lambda row: (row.payment.at, row.id),
            reverse=True,
        )[: 2 * limit]
        return resident_ports.PowerFacts(
            relay=self._row(number).relay.value,
            held_until=self._row(number).re_evaluate_at,
            records=self._relay_records(number, since, limit),
            spells=self._spells(number, since),
            top_ups=tuple(row.payment for row in top_ups),
        )


__all__ = [
    "FakeDatabase",
    "FakeResidentReader",
    "FakeStatementReader",
    "FakeUnitOfWork",
    "MessageNotClaimed",
    "Tables",
    "UniqueViolation",
]
