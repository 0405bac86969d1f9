"""Ledger entries, their sign rules, posting and reversal. The journal is append-only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from wattbook.domain.accounts import MigrationCredit, OpeningBalance
from wattbook.domain.values import AccountNumber, Money, require_aware


class LedgerError(Exception):
    """Base of the anticipated ledger failures."""


class SignRuleViolated(LedgerError, ValueError):
    """Raise when an entry's amount has the wrong sign for its kind, or is zero."""


class CannotReverse(LedgerError):
    """Raise when an entry cannot be reversed (a correction is not reversed again)."""


class DuplicateReference(LedgerError):
    """Raise when an entry's reference is already in the journal."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"an entry with reference {reference!r} is already posted")
        self.reference = reference


class AlreadyReversed(LedgerError):
    """Raise when an entry that has already been reversed is reversed again."""


class UnknownEntry(LedgerError):
    """Raise when a correction names an entry that is not in the journal."""


class WrongAccount(LedgerError):
    """Raise when an entry is posted to another account's journal."""


class EntryKind(StrEnum):
    """What an entry records. Each kind has a sign rule (see ``SIGN_RULES``)."""

    OPENING_BALANCE = "OPENING_BALANCE"
    MIGRATION_CREDIT = "MIGRATION_CREDIT"
    TOP_UP = "TOP_UP"
    CHARGE = "CHARGE"
    CORRECTION = "CORRECTION"
    ADJUSTMENT = "ADJUSTMENT"


# Signs are from the household's point of view: positive adds to the balance. No kind allows
# zero, because a zero entry records nothing and would only make references ambiguous.
SIGN_RULES: dict[EntryKind, str] = {
    EntryKind.OPENING_BALANCE: "!= 0",
    EntryKind.MIGRATION_CREDIT: "> 0",
    EntryKind.TOP_UP: "> 0",
    EntryKind.CHARGE: "< 0",
    EntryKind.CORRECTION: "!= 0",
    EntryKind.ADJUSTMENT: "!= 0",
}


def sign_allowed(kind: EntryKind, fen: int) -> bool:
    """Test whether ``fen`` obeys the sign rule of ``kind``."""
    rule = SIGN_RULES[kind]
    if rule == "> 0":
        return fen > 0
    if rule == "< 0":
        return fen < 0
    return fen != 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One journal entry: signed fen of a kind, with a reference unique across the ledger.

    Only a CORRECTION names the entry it ``reverses``; it is never edited, only reversed.
    """

    account_number: AccountNumber
    reference: str
    kind: EntryKind
    amount: Money
    at: datetime
    reverses: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        require_aware(self.at)
        if not self.reference.strip():
            raise ValueError("an entry needs a reference")
        if not sign_allowed(self.kind, self.amount.fen):
            raise SignRuleViolated(
                f"{self.kind} must be {SIGN_RULES[self.kind]} fen, not {self.amount.fen}"
            )
        if (self.kind is EntryKind.CORRECTION) != (self.reverses is not None):
            raise ValueError("a CORRECTION, and only a CORRECTION, names the entry it reverses")


def post(*, balance: Money, entry: Entry) -> Money:
    """Return the balance after posting ``entry`` onto ``balance``."""
    return balance + entry.amount


def balance_of(entries: Iterable[Entry], /) -> Money:
    """Return the balance as the sum of entries: the definition the cache is checked against."""
    return sum((entry.amount for entry in entries), Money.zero())


def reversal(*, entry: Entry, reference: str, at: datetime, note: str = "") -> Entry:
    """Return the CORRECTION that reverses a mistaken ``entry`` (P4); the original stays.

    :raises CannotReverse: if ``entry`` is itself a correction.
    """
    if entry.kind is EntryKind.CORRECTION:
        raise CannotReverse(f"{entry.reference} is a correction; post a new entry instead")
    return Entry(
        account_number=entry.account_number,
        reference=reference,
        kind=EntryKind.CORRECTION,
        amount=-entry.amount,
        at=at,
        reverses=entry.reference,
        note=note,
    )


def entry_for_opening_balance(decision: OpeningBalance, /, *, reference: str) -> Entry:
    """Return the OPENING_BALANCE entry for an account's opening decision."""
    return Entry(
        account_number=decision.account_number,
        reference=reference,
        kind=EntryKind.OPENING_BALANCE,
        amount=decision.amount,
        at=decision.at,
        note=decision.note,
    )


def entry_for_migration_credit(decision: MigrationCredit, /, *, reference: str) -> Entry:
    """Return the MIGRATION_CREDIT entry for a B8 credit."""
    return Entry(
        account_number=decision.account_number,
        reference=reference,
        kind=EntryKind.MIGRATION_CREDIT,
        amount=decision.amount,
        at=decision.at,
        note=decision.note,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Posted:
    """The journal after a posting, and the new balance."""

    journal: Journal
    balance: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class Journal:
    """One account's journal held in memory, enforcing what the database enforces.

    The storage layer keeps the same rules with UNIQUE and CHECK constraints; this aggregate
    lets the rules be stated and tested without a database.
    """

    account_number: AccountNumber
    entries: tuple[Entry, ...] = ()
    balance: Money = field(default_factory=Money.zero)

    def post(self, entry: Entry) -> Posted:
        """Return the journal with ``entry`` appended and the new balance.

        :raises WrongAccount: if the entry is for another account.
        :raises DuplicateReference: if its reference is already posted.
        :raises UnknownEntry: if it is a correction of an entry not in the journal.
        :raises AlreadyReversed: if it reverses an entry that was already reversed.
        :raises SignRuleViolated: if a correction's amount is not minus the original's.
        """
        if entry.account_number != self.account_number:
            raise WrongAccount(f"entry for {entry.account_number} posted to {self.account_number}")
        by_reference = {e.reference: e for e in self.entries}
        if entry.reference in by_reference:
            raise DuplicateReference(entry.reference)
        if entry.reverses is not None:
            original = by_reference.get(entry.reverses)
            if original is None:
                raise UnknownEntry(f"no entry {entry.reverses!r} to reverse")
            if any(e.reverses == entry.reverses for e in self.entries):
                raise AlreadyReversed(f"{entry.reverses} is already reversed")
            if entry.amount != -original.amount:
                raise SignRuleViolated("a correction reverses exactly the original amount")
        balance = post(balance=self.balance, entry=entry)
        journal = Journal(
            account_number=self.account_number, entries=(*self.entries, entry), balance=balance
        )
        return Posted(journal=journal, balance=balance)
