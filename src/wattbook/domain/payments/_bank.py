"""Auto top-up by the bank (P3): agreements, which debits are due, callbacks, reconciliation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from wattbook.domain.payments._errors import (
    CallbackConflict,
    CallbackMismatch,
    CallbackOutsideWindow,
    InvalidAgreement,
)
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
    """What a callback does to its debit: the transitions of the debit's state machine."""

    CREDIT = "CREDIT"  # first word, a success: credit the account
    RECORD_FAILURE = "RECORD_FAILURE"  # first word, a failure: the cardholder's risk
    LATE_SUCCESS = "LATE_SUCCESS"  # success after a failure was recorded: the card was debited
    REPEATED_FAILURE = "REPEATED_FAILURE"  # another failure notice for a failed debit: no change
    REPLAY = "REPLAY"  # this serial said this before: answer as the first time, change nothing


# How long after the bank's own time a callback is still accepted (deployment setting
# ``WATTBOOK_BANK_CALLBACK_WINDOW_HOURS`` overrides it), and how far ahead of wattbook's clock
# the bank's clock may run.
CALLBACK_WINDOW = timedelta(hours=48)
# A debit the bank has not answered for this long is overdue: its account gets no new debit
# (that could debit the card twice), so staff must chase the bank for its word.
DEBIT_ANSWER_DUE = timedelta(hours=48)


def answer_overdue_before(now: datetime) -> datetime:
    """Return the instant before which a debit still awaiting the bank's word is overdue."""
    return now - DEBIT_ANSWER_DUE


CALLBACK_CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitHistory:
    """What the bank has said about one debit so far: its state in the state machine.

    ``seen`` holds every (serial, status) the debit accepted, so a replay is recognised
    whatever came after it; ``credited_serial`` is the one serial that credited, if any.
    """

    status: DebitStatus
    credited_serial: str | None = None
    seen: frozenset[tuple[str, DebitStatus]] = frozenset()

    def __post_init__(self) -> None:
        if (self.status is DebitStatus.SUCCEEDED) != (self.credited_serial is not None):
            raise ValueError("a debit is credited exactly when it succeeded")


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """A callback's settlement and the debit's history after it."""

    settlement: Settlement
    history: DebitHistory

    @property
    def credits(self) -> bool:
        """Test whether this transition credits the account."""
        return self.settlement in (Settlement.CREDIT, Settlement.LATE_SUCCESS)


def settle(
    *,
    debit: DebitRequest,
    history: DebitHistory,
    callback: BankCallback,
    now: datetime,
    window: timedelta = CALLBACK_WINDOW,
) -> Transition:
    """Return what ``callback`` does to its debit, given what the bank said before.

    The state machine: REQUESTED -> SUCCEEDED (CREDIT) or failed (RECORD_FAILURE); failed ->
    SUCCEEDED (LATE_SUCCESS: a success means the card was debited) or failed again
    (REPEATED_FAILURE); a (serial, status) already accepted is a REPLAY in any state. A
    SUCCEEDED debit is final: it was credited once, and any other word on it is a conflict.
    So a debit is credited at most once, whatever the serials and their order.

    :raises CallbackMismatch: if the amount differs from the debit's.
    :raises CallbackOutsideWindow: if the bank dated the callback more than ``window`` ago,
        before the debit's day, or ahead of ``now`` by more than the clocks may drift.
    :raises CallbackConflict: if the callback contradicts a debit already credited (another
        serial's success, or a failure notice).
    """
    if callback.amount != debit.amount:
        raise CallbackMismatch(
            f"{callback.serial}: {callback.amount.yuan()} yuan for debit {debit.debit_id} of"
            f" {debit.amount.yuan()}"
        )
    key = (callback.serial, callback.status)
    if key in history.seen:
        return Transition(settlement=Settlement.REPLAY, history=history)
    if (
        callback.at < now - window
        or callback.at > now + CALLBACK_CLOCK_SKEW
        or local_date(callback.at) < debit.day
    ):
        raise CallbackOutsideWindow(
            f"{callback.serial}: dated {callback.at.isoformat()}, outside the window of"
            f" {window} before {now.isoformat()} for debit {debit.debit_id} of {debit.day}"
        )
    seen = history.seen | {key}
    if history.status is DebitStatus.SUCCEEDED:
        raise CallbackConflict(
            f"debit {debit.debit_id} was credited under serial {history.credited_serial};"
            f" {callback.serial} says {callback.status}"
        )
    succeeded = callback.status is DebitStatus.SUCCEEDED
    if history.status is DebitStatus.REQUESTED:
        settlement = Settlement.CREDIT if succeeded else Settlement.RECORD_FAILURE
    else:
        settlement = Settlement.LATE_SUCCESS if succeeded else Settlement.REPEATED_FAILURE
    if settlement is Settlement.REPEATED_FAILURE:
        # The first failure stands: what the debit records does not flip between reasons.
        return Transition(settlement=settlement, history=replace(history, seen=seen))
    return Transition(
        settlement=settlement,
        history=DebitHistory(
            status=callback.status,
            credited_serial=callback.serial if succeeded else None,
            seen=seen,
        ),
    )


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
    CREDITED_TWICE = "CREDITED_TWICE"  # one debit, more than one bank top-up
    CREDITED_WHILE_FAILED = "CREDITED_WHILE_FAILED"  # a top-up for a debit that failed


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


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitCredits:
    """A debit as wattbook recorded it, with the serials of the top-ups paid for it."""

    debit_id: str
    account_number: AccountNumber
    status: DebitStatus
    amount: Money
    credited_serials: tuple[str, ...]


def check_debits(
    *, debits: Iterable[DebitCredits], statement: Iterable[StatementLine] = ()
) -> tuple[Mismatch, ...]:
    """Return every debit credited more than once, or credited while it failed.

    A debit failed if wattbook recorded a failure as its last word, or if the bank's
    statement lists it only as failed.
    """
    bank_failed: set[str] = set()
    bank_succeeded: set[str] = set()
    for line in statement:
        (bank_succeeded if line.status is DebitStatus.SUCCEEDED else bank_failed).add(line.debit_id)
    mismatches: list[Mismatch] = []
    for debit in sorted(debits, key=lambda d: d.debit_id):
        count = len(debit.credited_serials)
        if not count:
            continue
        serials = ",".join(debit.credited_serials)
        credited = Money(fen=debit.amount.fen * count)
        if count > 1:
            mismatches.append(
                Mismatch(
                    kind=MismatchKind.CREDITED_TWICE,
                    serial=serials,
                    debit_id=debit.debit_id,
                    bank_amount=debit.amount,
                    journal_amount=credited,
                    detail=f"{debit.account_number} credited {count} times for one debit",
                )
            )
        failed_here = debit.status is not DebitStatus.SUCCEEDED
        failed_at_bank = debit.debit_id in bank_failed and debit.debit_id not in bank_succeeded
        if failed_here or failed_at_bank:
            mismatches.append(
                Mismatch(
                    kind=MismatchKind.CREDITED_WHILE_FAILED,
                    serial=serials,
                    debit_id=debit.debit_id,
                    bank_amount=None,
                    journal_amount=credited,
                    detail=f"{debit.account_number} credited, but the "
                    + ("bank's statement" if failed_at_bank else "debit")
                    + " says it failed",
                )
            )
    return tuple(mismatches)
