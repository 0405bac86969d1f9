"""Corrections at the counter (P4): move a mistaken top-up, refund it; new entries, never edits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wattbook.domain import ledger
from wattbook.domain.payments._errors import CannotCorrect, IdentityRequired
from wattbook.domain.values import AccountNumber


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityShown:
    """The ID document a resident showed at the counter, kept masked (P4)."""

    document_type: str
    number_masked: str

    def __post_init__(self) -> None:
        if not self.document_type.strip() or not self.number_masked.strip():
            raise IdentityRequired("a correction needs the type and number of the ID shown")


@dataclass(frozen=True, slots=True, kw_only=True)
class Correction:
    """The entries that correct a top-up: its reversal, and for a move the credit elsewhere."""

    reversal: ledger.Entry
    credit: ledger.Entry | None


def _check(original: ledger.Entry) -> None:
    if original.kind is not ledger.EntryKind.TOP_UP:
        raise CannotCorrect(f"{original.reference} is a {original.kind}, not a top-up")


def move_top_up(
    *, original: ledger.Entry, to: AccountNumber, reference: str, at: datetime, note: str
) -> Correction:
    """Return the entries that move a top-up from the wrong account to ``to``.

    :raises CannotCorrect: if the entry is not a top-up or ``to`` is its own account.
    """
    _check(original)
    if to == original.account_number:
        raise CannotCorrect("a top-up moves to another account")
    reversal = ledger.reversal(entry=original, reference=f"{reference}:OUT", at=at, note=note)
    credit = ledger.Entry(
        account_number=to,
        reference=f"{reference}:IN",
        kind=ledger.EntryKind.TOP_UP,
        amount=original.amount,
        at=at,
        note=note,
    )
    return Correction(reversal=reversal, credit=credit)


def refund_top_up(*, original: ledger.Entry, reference: str, at: datetime, note: str) -> Correction:
    """Return the reversal that refunds a mistaken top-up in cash at the counter.

    :raises CannotCorrect: if the entry is not a top-up.
    """
    _check(original)
    reversal = ledger.reversal(entry=original, reference=reference, at=at, note=note)
    return Correction(reversal=reversal, credit=None)
