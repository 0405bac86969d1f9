"""The ports the payment use cases need: storage of payments, kiosk, bank; the bank gateway.

Use the records, errors and the gateway from here; ``ports.UnitOfWork.payments`` is the repository.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from wattbook.domain import accounts, payments
from wattbook.domain.values import AccountNumber, Money, Period


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPayment:
    """A payment to record against a journal entry posted in the same unit of work."""

    entry_reference: str
    channel: payments.Channel
    channel_reference: str
    kind: payments.PaymentKind
    operator: str | None = None
    corrects_receipt: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        # Storage refuses it too (a CHECK), but would report it as a duplicate: say it here.
        if self.channel is payments.Channel.COUNTER and not self.operator:
            raise ValueError("a counter payment names the operator who took it")


@dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    """A recorded payment: its receipt number, money and where it came from (P5)."""

    receipt_number: payments.ReceiptNumber
    channel: payments.Channel
    channel_reference: str
    kind: payments.PaymentKind
    account_number: AccountNumber
    amount: Money
    balance_before: Money
    balance_after: Money
    at: datetime
    operator: str | None
    corrects_receipt: str | None
    entry_reference: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficialReceipt:
    """A kiosk or bank receipt exchanged at the counter for an official campus receipt (P2)."""

    official_number: str
    receipt_number: str
    exchanged_at: datetime
    exchanged_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CashUpLine:
    """The payments of one channel, operator and kind in a window: how many, how much."""

    channel: payments.Channel
    operator: str | None
    kind: payments.PaymentKind
    count: int
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One line of the payment audit (P4, A4): who did what, to which receipt."""

    at: datetime
    actor: str
    action: str
    receipt_number: str | None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterOpening:
    """An administrator's order opening the counter outside its hours (P1)."""

    period: Period
    opened_by: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitState:
    """A requested debit and what the bank has said about it so far."""

    request: payments.DebitRequest
    status: payments.DebitStatus
    bank_serial: str | None
    sent: bool
    # Every (serial, status) the debit accepted (the callback journal).
    seen: frozenset[tuple[str, payments.DebitStatus]] = frozenset()

    @property
    def history(self) -> payments.DebitHistory:
        """Return the debit's state for the callback state machine."""
        succeeded = self.status is payments.DebitStatus.SUCCEEDED
        return payments.DebitHistory(
            status=self.status,
            credited_serial=self.bank_serial if succeeded else None,
            seen=self.seen,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitSettlement:
    """The new state of a debit after a callback."""

    debit_id: str
    status: payments.DebitStatus
    bank_serial: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRecord:
    """A callback a debit accepted, and the transition it made."""

    serial: str
    status: payments.DebitStatus
    debit_id: str
    amount: Money
    callback_at: datetime
    received_at: datetime
    settlement: payments.Settlement


class PaymentRepository(Protocol):
    """Payments and receipts, counter policy, kiosk sessions, bank agreements and debits."""

    async def record(self, new: Sequence[NewPayment]) -> tuple[Payment, ...]:
        """Give each new payment the next receipt number of its channel and day, and store it.

        :raises payments.DuplicatePayment: if a channel reference was recorded before.
        """
        ...

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

    async def official_receipt(
        self, *, receipt_number: str | None = None, official_number: str | None = None
    ) -> OfficialReceipt | None:
        """Return the exchange of a receipt, or of an official number, if any."""
        ...

    async def add_official_receipt(self, official: OfficialReceipt) -> None:
        """Record a receipt exchanged for an official number."""
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

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append audit lines."""
        ...

    async def counter_hours(self, *, on: date) -> payments.CounterHours:
        """Return the counter's hours in force on a local date."""
        ...

    async def set_counter_hours(
        self, *, effective_from: date, hours: payments.CounterHours
    ) -> None:
        """Put ``hours`` in force from the local date ``effective_from`` (replacing a version
        that starts that very day)."""
        ...

    async def counter_openings(self, *, at: datetime) -> tuple[CounterOpening, ...]:
        """Return the administrators' opening orders covering ``at``."""
        ...

    async def add_counter_opening(self, opening: CounterOpening) -> None:
        """Store an opening order."""
        ...

    async def kiosk_session(self, transaction_id: str) -> payments.KioskSession | None:
        """Return the session, locked for this unit of work, or None."""
        ...

    async def save_kiosk_session(self, session: payments.KioskSession) -> None:
        """Insert or update the session and insert its notes not stored yet."""
        ...

    async def idle_kiosk_sessions(self, *, before: datetime, limit: int) -> tuple[str, ...]:
        """Return open sessions with notes whose last activity was before ``before``."""
        ...

    async def kiosk(self, kiosk_id: str, *, lock: bool = False) -> payments.Kiosk | None:
        """Return the registered kiosk (locked for this unit of work if asked), or None."""
        ...

    async def kiosks(self) -> tuple[payments.Kiosk, ...]:
        """Return every registered kiosk, by id."""
        ...

    async def add_kiosk(self, kiosk: payments.Kiosk) -> None:
        """Store a newly registered kiosk."""
        ...

    async def save_kiosk(self, kiosk: payments.Kiosk) -> None:
        """Store a kiosk's new secret, revocation or last acceptor sequence."""
        ...

    async def open_kiosk_sessions(self, kiosk_id: str) -> tuple[str, ...]:
        """Return the transaction ids of the kiosk's open sessions, newest first."""
        ...

    async def kiosk_note(self, kiosk_id: str, sequence: int) -> tuple[str, Money] | None:
        """Return the session and amount of the kiosk's newest note with this sequence."""
        ...

    async def remove_kiosk_note(self, transaction_id: str, sequence: int) -> None:
        """Delete note ``sequence`` of the session: the acceptor gave it back (audit it)."""
        ...

    async def add_agreement(self, agreement: payments.Agreement, *, at: datetime) -> None:
        """Store a new agreement.

        :raises payments.InvalidAgreement: if its number is taken.
        """
        ...

    async def cancel_agreement(self, agreement_number: str, *, on: date) -> payments.Agreement:
        """Mark the agreement cancelled from a local date and return it.

        :raises payments.UnknownAgreement: if there is none.
        """
        ...

    async def agreements(
        self, *, on: date, numbers: Collection[AccountNumber] | None = None
    ) -> tuple[payments.Agreement, ...]:
        """Return the agreements in force on a local date (for some accounts, or all)."""
        ...

    async def below_threshold(self, *, on: date, limit: int) -> tuple[AccountNumber, ...]:
        """Return accounts under an agreement in force whose balance is below its threshold,
        that have no debit on that day and no debit awaiting the bank's word."""
        ...

    async def unanswered_debits(
        self, *, requested_before: datetime, limit: int
    ) -> tuple[payments.DebitRequest, ...]:
        """Return debits still awaiting the bank's word that were requested before an instant,
        oldest first."""
        ...

    async def held_by_pending(self, *, on: date, limit: int) -> tuple[payments.DebitRequest, ...]:
        """Return the debits awaiting the bank's word (status REQUESTED) whose account would
        otherwise be due a debit on that day: below its threshold, no debit that day yet."""
        ...

    async def add_debits(self, debits: Sequence[payments.DebitRequest], *, at: datetime) -> None:
        """Store requested debits (one per account and day: duplicates are skipped)."""
        ...

    async def debits(self, debit_ids: Collection[str]) -> dict[str, DebitState]:
        """Return the debits with these ids, locked for this unit of work."""
        ...

    async def unsent_debits(self, *, limit: int) -> tuple[payments.DebitRequest, ...]:
        """Return requested debits not yet handed to the bank."""
        ...

    async def mark_sent(self, debit_ids: Collection[str], *, at: datetime) -> None:
        """Record that the bank accepted these debit requests."""
        ...

    async def settle_debits(self, settlements: Sequence[DebitSettlement]) -> None:
        """Store the bank's word on debits."""
        ...

    async def bank_credits(self, *, day: date) -> tuple[payments.JournalCredit, ...]:
        """Return the journal's bank top-ups of debits of a local day."""
        ...

    async def record_callbacks(self, records: Sequence[CallbackRecord]) -> None:
        """Journal callbacks a debit accepted (replays are not recorded again)."""
        ...

    async def debit_credits(self, *, day: date | None) -> tuple[payments.DebitCredits, ...]:
        """Return each debit (of a local day, or all) that was credited or has failed, with
        the serials of the bank top-ups paid for it."""
        ...


class BankUnavailable(Exception):
    """The bank could not be reached or did not answer in time."""


class DebitRefused(Exception):
    """The bank refused a debit request outright (unknown agreement, malformed)."""


class BankGateway(Protocol):
    """The bank's side of auto top-up: debit requests out, signed callbacks in."""

    async def request_debit(self, debit: payments.DebitRequest) -> None:
        """Ask the bank to debit the card; the result arrives later as a callback.

        :raises BankUnavailable: if the bank cannot be reached; the request is retried.
        :raises DebitRefused: if the bank refuses the request outright.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """A payment with the personal details the receipt carries (P2: masked where sensible)."""

    payment: Payment
    holder_masked: str
    address: str
    reprint: bool = False


def receipt_for(payment: Payment, account: accounts.Account, *, reprint: bool = False) -> Receipt:
    """Return the receipt of ``payment`` for ``account``."""
    return Receipt(
        payment=payment,
        holder_masked=payments.mask_name(account.holder.name),
        address=account.address.text,
        reprint=reprint,
    )
