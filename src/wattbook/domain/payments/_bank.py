"""Auto top-up by the bank (P3): agreements, which debits are due, callbacks, reconciliation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from wattbook.domain.payments._errors import CallbackMismatch, InvalidAgreement
from wattbook.domain.values import AccountNumber, Money, local_date

# The application form's choices (manual 3.1), in fen.
THRESHOLDS_FEN = (1000, 2000, 3000, 5000, 10000, 20000)
AMOUNTS_FEN = (3000, 5000, 10000, 15000, 20000, 30000)


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """An auto top-up agreement (电费易充值), signed and cancelled at the bank.

    wattbook never sees the card number: the bank sends its own token for the card (so one
    card's agreements can be found together) and the masked number for display. The ID
    number is kept masked too.
    """

    agreement_number: str
    holder: str
    id_number_masked: str
    card_token: str
    card_masked: str
    phone: str
    account_numbers: tuple[AccountNumber, ...]
    threshold: Money
    amount: Money
    signed_on: date
    cancelled_on: date | None = None

    def __post_init__(self) -> None:
        if self.threshold.fen not in THRESHOLDS_FEN:
            raise InvalidAgreement(f"threshold {self.threshold.yuan()} is not one of 10-200 yuan")
        if self.amount.fen not in AMOUNTS_FEN:
            raise InvalidAgreement(f"amount {self.amount.yuan()} is not one of 30-300 yuan")
        if not self.account_numbers or len(set(self.account_numbers)) != len(self.account_numbers):
            raise InvalidAgreement("an agreement names one or more distinct account numbers")
        if not self.agreement_number or not self.card_token:
            raise InvalidAgreement("an agreement needs the bank's number and card token")
        if "*" not in self.card_masked:
            raise InvalidAgreement("the card number must arrive masked")
        if self.cancelled_on is not None and self.cancelled_on < self.signed_on:
            raise InvalidAgreement("an agreement cannot end before it was signed")

    def active_on(self, day: date) -> bool:
        """Test whether the agreement is in force on a local date (from the day it is signed)."""
        return self.signed_on <= day and (self.cancelled_on is None or day < self.cancelled_on)


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitRequest:
    """A debit wattbook asks the bank for: one per account per local day at most."""

    debit_id: str
    agreement_number: str
    account_number: AccountNumber
    amount: Money
    day: date


def debit_id(*, account_number: AccountNumber, day: date) -> str:
    """Return the id of the day's debit for an account; its uniqueness is the once-a-day rule."""
    return f"D{day:%Y%m%d}{account_number}"


def due_debits(
    *,
    agreements: Iterable[Agreement],
    balances: Mapping[AccountNumber, Money],
    requested_today: Iterable[AccountNumber],
    awaiting_bank: Iterable[AccountNumber],
    at: datetime,
) -> tuple[DebitRequest, ...]:
    """Return the debits to request now: balance below the threshold, none yet today, and
    none awaiting the bank's word.

    A debit the bank has not settled yet may still succeed, and a second one on top of it
    would debit the card twice for one shortfall, so an account waits until its pending
    debit is settled or has failed. An account on several cards' agreements is topped up by
    the earliest signed one.
    """
    day = local_date(at)
    done = set(requested_today) | set(awaiting_bank)
    chosen: dict[AccountNumber, Agreement] = {}
    for agreement in sorted(agreements, key=lambda a: (a.signed_on, a.agreement_number)):
        if not agreement.active_on(day):
            continue
        for number in agreement.account_numbers:
            if number in done or number in chosen or number not in balances:
                continue
            if balances[number] < agreement.threshold:
                chosen[number] = agreement
    return tuple(
        DebitRequest(
            debit_id=debit_id(account_number=number, day=day),
            agreement_number=agreement.agreement_number,
            account_number=number,
            amount=agreement.amount,
            day=day,
        )
        for number, agreement in sorted(chosen.items())
    )


class DebitStatus(StrEnum):
    """Where a debit stands; the bank's callback settles it."""

    REQUESTED = "REQUESTED"
    SUCCEEDED = "SUCCEEDED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    CARD_CLOSED = "CARD_CLOSED"
    REFUSED = "REFUSED"

    @property
    def final(self) -> bool:
        """Test whether the bank has settled the debit."""
        return self is not DebitStatus.REQUESTED


@dataclass(frozen=True, slots=True, kw_only=True)
class BankCallback:
    """The bank's signed word on a debit, carrying its own serial number."""

    serial: str
    debit_id: str
    status: DebitStatus
    amount: Money
    at: datetime

    def __post_init__(self) -> None:
        if self.status is DebitStatus.REQUESTED:
            raise ValueError("a callback settles a debit")
        if not self.serial or len(self.serial) > 64:
            raise ValueError("a bank serial has 1 to 64 characters")


class Settlement(StrEnum):
    """What a callback does to its debit."""

    CREDIT = "CREDIT"  # first success: credit the account
    RECORD_FAILURE = "RECORD_FAILURE"  # first failure: the cardholder's risk, nothing credited
    REPLAY = "REPLAY"  # this serial was settled before: answer as the first time
    LATE_SUCCESS = "LATE_SUCCESS"  # success after a failure was recorded: the card was debited


def settle(
    *,
    debit: DebitRequest,
    status: DebitStatus,
    settled_serial: str | None,
    callback: BankCallback,
) -> Settlement:
    """Return what to do with ``callback`` given the debit's state.

    Callbacks may come late, twice, or out of order. The serial decides replays; a success
    always means the card was debited, so it credits exactly once even after a failure was
    recorded for the same debit (reported by reconciliation all the same).

    :raises CallbackMismatch: if the amount differs from the debit's, or a second serial
        claims success for a debit already credited.
    """
    if callback.amount != debit.amount:
        raise CallbackMismatch(
            f"{callback.serial}: {callback.amount.yuan()} yuan for debit {debit.debit_id} of"
            f" {debit.amount.yuan()}"
        )
    if settled_serial == callback.serial:
        return Settlement.REPLAY
    if status is DebitStatus.REQUESTED:
        if callback.status is DebitStatus.SUCCEEDED:
            return Settlement.CREDIT
        return Settlement.RECORD_FAILURE
    if status is DebitStatus.SUCCEEDED:
        raise CallbackMismatch(
            f"debit {debit.debit_id} was credited under serial {settled_serial}, not"
            f" {callback.serial}"
        )
    if callback.status is DebitStatus.SUCCEEDED:
        return Settlement.LATE_SUCCESS
    return Settlement.REPLAY  # a second failure notice changes nothing


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementLine:
    """One line of the bank's daily statement file: a debit as the bank saw it."""

    serial: str
    debit_id: str
    account_number: AccountNumber
    amount: Money
    status: DebitStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalCredit:
    """A bank top-up as wattbook's journal has it."""

    serial: str
    debit_id: str
    account_number: AccountNumber
    amount: Money


class MismatchKind(StrEnum):
    """How the bank's statement and the journal disagree."""

    NOT_CREDITED = "NOT_CREDITED"  # the bank debited; the journal has no credit
    NOT_DEBITED = "NOT_DEBITED"  # the journal credited; the bank has no successful debit
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"
    ACCOUNT_DIFFERS = "ACCOUNT_DIFFERS"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mismatch:
    """One disagreement between the bank's statement and the journal."""

    kind: MismatchKind
    serial: str
    debit_id: str
    bank_amount: Money | None
    journal_amount: Money | None
    detail: str


def reconcile_statement(
    *, statement: Iterable[StatementLine], journal: Iterable[JournalCredit]
) -> tuple[Mismatch, ...]:
    """Return every disagreement between the bank's successful debits and the journal's credits.

    Lines are matched by bank serial; failed debits on the statement must have no credit.
    """
    credits = {credit.serial: credit for credit in journal}
    mismatches: list[Mismatch] = []
    seen: set[str] = set()
    for line in statement:
        seen.add(line.serial)
        credit_ = credits.get(line.serial)
        if line.status is not DebitStatus.SUCCEEDED:
            if credit_ is not None:
                mismatches.append(
                    Mismatch(
                        kind=MismatchKind.NOT_DEBITED,
                        serial=line.serial,
                        debit_id=line.debit_id,
                        bank_amount=None,
                        journal_amount=credit_.amount,
                        detail=f"the bank reports {line.status} but the journal credited",
                    )
                )
            continue
        if credit_ is None:
            mismatches.append(
                Mismatch(
                    kind=MismatchKind.NOT_CREDITED,
                    serial=line.serial,
                    debit_id=line.debit_id,
                    bank_amount=line.amount,
                    journal_amount=None,
                    detail=f"debited {line.amount.yuan()} for {line.account_number}, no credit",
                )
            )
        elif credit_.amount != line.amount:
            mismatches.append(
                Mismatch(
                    kind=MismatchKind.AMOUNT_DIFFERS,
                    serial=line.serial,
                    debit_id=line.debit_id,
                    bank_amount=line.amount,
                    journal_amount=credit_.amount,
                    detail="amounts differ",
                )
            )
        elif credit_.account_number != line.account_number:
            mismatches.append(
                Mismatch(
                    kind=MismatchKind.ACCOUNT_DIFFERS,
                    serial=line.serial,
                    debit_id=line.debit_id,
                    bank_amount=line.amount,
                    journal_amount=credit_.amount,
                    detail=f"bank: {line.account_number}, journal: {credit_.account_number}",
                )
            )
    for serial, credit_ in sorted(credits.items()):
        if serial not in seen:
            mismatches.append(
                Mismatch(
                    kind=MismatchKind.NOT_DEBITED,
                    serial=serial,
                    debit_id=credit_.debit_id,
                    bank_amount=None,
                    journal_amount=credit_.amount,
                    detail="credited, but not on the bank's statement",
                )
            )
    return tuple(mismatches)
