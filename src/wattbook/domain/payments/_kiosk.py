"""The kiosk session (P2): a state machine over the manual's steps, with journalled notes.

ENTERING_ACCOUNT -> CONFIRMING_DETAILS -> INSERTING_NOTES -> CREDITED
(ABANDONED from any state before a note is taken). A session with notes can only end CREDITED:
the kiosk gives no change and no refund, so money that went in always reaches the account,
whether the resident pressed 确定 or the session was recovered after a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from wattbook.domain.payments._errors import (
    InvalidKioskId,
    InvalidNote,
    KioskCapReached,
    KioskRevoked,
    KioskStepRefused,
    NoteConflict,
    UnknownKiosk,
)
from wattbook.domain.values import AccountNumber, Money, require_aware

# Notes the acceptor takes, in fen (1, 5, 10, 20, 50 and 100 yuan).
NOTE_DENOMINATIONS_FEN = (100, 500, 1000, 2000, 5000, 10000)
# As wide as their columns (64 and 32); matched whole, so a trailing newline is refused too.
# The server makes transaction ids, so a page cannot choose one; older ones were made by a page.
_TRANSACTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{5,63}")
# The one home of a kiosk id's shape: the session, the signature and the kiosk page use it.
KIOSK_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


_DEFAULT_MAX_TOTAL = Money(fen=2000_00)


@dataclass(frozen=True, slots=True, kw_only=True)
class KioskCaps:
    """The most one kiosk session takes: an amount and a number of notes."""

    max_total: Money = _DEFAULT_MAX_TOTAL
    max_notes: int = 50

    def __post_init__(self) -> None:
        if self.max_total.fen < NOTE_DENOMINATIONS_FEN[-1] or not 1 <= self.max_notes <= 1000:
            raise ValueError(
                "a kiosk session must take at least one 100 yuan note and at most 1000 notes"
            )


# The defaults of WATTBOOK_KIOSK_SESSION_MAX_YUAN and WATTBOOK_KIOSK_SESSION_MAX_NOTES.
DEFAULT_KIOSK_CAPS = KioskCaps()


def check_kiosk_id(kiosk_id: str) -> str:
    """Return ``kiosk_id`` if it is 1-32 ASCII letters, digits, ``-`` or ``_``.

    :raises InvalidKioskId: otherwise.
    """
    if not isinstance(kiosk_id, str) or not KIOSK_ID_SHAPE.fullmatch(kiosk_id):
        raise InvalidKioskId("kiosk ids are 1-32 letters, digits, '-' and '_'")
    return kiosk_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Kiosk:
    """A registered kiosk: its secret (None: not usable until rotated) and its acceptor's
    last accepted sequence number."""

    kiosk_id: str
    secret: str | None = field(repr=False)
    registered_at: datetime
    registered_by: str
    revoked_at: datetime | None = None
    last_acceptor_sequence: int = 0

    def usable_secret(self) -> str:
        """Return the secret requests of this kiosk must be signed with.

        :raises KioskRevoked: if the kiosk was revoked.
        :raises UnknownKiosk: if it has no usable secret (registered by migration).
        """
        if self.revoked_at is not None:
            raise KioskRevoked(f"kiosk {self.kiosk_id} was revoked")
        if self.secret is None:
            raise UnknownKiosk(f"kiosk {self.kiosk_id} has no secret yet: rotate it")
        return self.secret


def order_acceptor_note(
    *, kiosk: Kiosk, sequence: int, amount: Money, last_note: Money | None
) -> bool:
    """Return whether note ``sequence`` is new (True) or the last one sent again (False).

    The acceptor numbers its notes itself, always upwards. The last sequence again with the
    same amount is a retry after a lost answer; ``last_note`` is the amount journalled under
    the kiosk's last sequence (None if none was).

    :raises NoteConflict: if the sequence is below the last, or is the last with another
        amount.
    """
    last = kiosk.last_acceptor_sequence
    if sequence > last:
        return True
    if sequence == last and last_note is not None and last_note == amount:
        return False
    raise NoteConflict(
        f"kiosk {kiosk.kiosk_id}: acceptor sequence {sequence} is not above the last, {last}"
    )


class KioskState(StrEnum):
    """Where a kiosk session stands."""

    ENTERING_ACCOUNT = "ENTERING_ACCOUNT"
    CONFIRMING_DETAILS = "CONFIRMING_DETAILS"
    INSERTING_NOTES = "INSERTING_NOTES"
    CREDITED = "CREDITED"
    ABANDONED = "ABANDONED"


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedNote:
    """A note the server journalled before the acceptor stacked it."""

    sequence: int
    amount: Money
    accepted_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class KioskSession:
    """One resident's visit to the kiosk, identified by the kiosk's transaction id."""

    transaction_id: str
    kiosk_id: str
    state: KioskState
    account_number: AccountNumber | None
    notes: tuple[AcceptedNote, ...]
    opened_at: datetime
    updated_at: datetime
    recovered: bool = False

    @property
    def total(self) -> Money:
        """Return the sum of the notes taken."""
        return Money(fen=sum(note.amount.fen for note in self.notes))

    @property
    def open(self) -> bool:
        """Test whether the session can still change."""
        return self.state not in (KioskState.CREDITED, KioskState.ABANDONED)


def check_note(amount: Money) -> Money:
    """Return ``amount`` if it is a note the kiosk takes.

    :raises InvalidNote: otherwise (the acceptor returns it).
    """
    if amount.fen not in NOTE_DENOMINATIONS_FEN:
        raise InvalidNote(f"the kiosk takes 1, 5, 10, 20, 50 and 100 yuan notes, not {amount}")
    return amount


def start_session(*, transaction_id: str, kiosk_id: str, at: datetime) -> KioskSession:
    """Return a new session waiting for an account number.

    :raises InvalidKioskId: if the transaction id is not 6-64 (the kiosk id 1-32) ASCII
        letters, digits, ``-`` or ``_``, starting with a letter or digit.
    """
    require_aware(at)
    for value, shape in ((transaction_id, _TRANSACTION_ID), (kiosk_id, KIOSK_ID_SHAPE)):
        if not isinstance(value, str) or not shape.fullmatch(value):
            raise InvalidKioskId("transaction and kiosk ids are letters, digits, '-' and '_'")
    return KioskSession(
        transaction_id=transaction_id,
        kiosk_id=kiosk_id,
        state=KioskState.ENTERING_ACCOUNT,
        account_number=None,
        notes=(),
        opened_at=at,
        updated_at=at,
    )


def _require(session: KioskSession, *states: KioskState, step: str) -> None:
    if session.state not in states:
        raise KioskStepRefused(
            f"cannot {step}: session {session.transaction_id} is {session.state}"
        )


def enter_account(*, session: KioskSession, number: AccountNumber, at: datetime) -> KioskSession:
    """Return the session showing the details of account ``number`` for confirmation.

    The resident may go back and type another number until notes go in.

    :raises KioskStepRefused: once notes are being inserted or the session has ended.
    """
    _require(
        session, KioskState.ENTERING_ACCOUNT, KioskState.CONFIRMING_DETAILS, step="enter an account"
    )
    return replace(
        session, account_number=number, state=KioskState.CONFIRMING_DETAILS, updated_at=at
    )


def confirm_details(*, session: KioskSession, at: datetime) -> KioskSession:
    """Return the session ready to take notes (the resident checked name and address).

    :raises KioskStepRefused: unless the details are being shown.
    """
    if session.state is KioskState.INSERTING_NOTES:
        return session  # a repeated tap on 确定
    _require(session, KioskState.CONFIRMING_DETAILS, step="confirm details")
    return replace(session, state=KioskState.INSERTING_NOTES, updated_at=at)


def accept_note(
    *, session: KioskSession, sequence: int, amount: Money, at: datetime, caps: KioskCaps
) -> tuple[KioskSession, bool]:
    """Return the session with note ``sequence`` journalled, and whether it is new.

    Sequence numbers come from the kiosk's acceptor, always upwards; a repeated sequence with
    the same amount is the same note sent again (the acknowledgement was lost) and is not
    added twice. A note that would take the session past ``caps`` is refused (returned).

    :raises InvalidNote: if the amount is not a note the kiosk takes.
    :raises NoteConflict: if the sequence was journalled with another amount.
    :raises KioskStepRefused: unless the session is taking notes.
    :raises KioskCapReached: if the note would pass the session's amount or note cap.
    """
    check_note(amount)
    for note in session.notes:
        if note.sequence == sequence:
            if note.amount != amount:
                raise NoteConflict(
                    f"note {sequence} of {session.transaction_id} was {note.amount.yuan()} yuan"
                )
            return session, False
    _require(session, KioskState.INSERTING_NOTES, step="take a note")
    if sequence < 1:
        raise KioskStepRefused("note sequence numbers start at 1")
    if len(session.notes) >= caps.max_notes:
        raise KioskCapReached(f"a session takes at most {caps.max_notes} notes")
    if session.total.fen + amount.fen > caps.max_total.fen:
        raise KioskCapReached(f"a session takes at most {caps.max_total.yuan()} yuan")
    note = AcceptedNote(sequence=sequence, amount=amount, accepted_at=at)
    return replace(session, notes=(*session.notes, note), updated_at=at), True


def remove_returned_note(
    *, session: KioskSession, sequence: int, amount: Money, at: datetime
) -> KioskSession:
    """Return the session without note ``sequence``: the acceptor gave it back after all.

    A note is journalled before it is stacked; if the device then returns it (its escrow
    timer ran out while the server's answer was in doubt), the session must not count it.

    :raises NoteConflict: if the session has no such note, or has it with another amount.
    :raises KioskStepRefused: if the session has ended (credited: staff must settle it).
    """
    kept = tuple(note for note in session.notes if note.sequence != sequence)
    removed = [note for note in session.notes if note.sequence == sequence]
    if not removed or removed[0].amount != amount:
        raise NoteConflict(
            f"session {session.transaction_id} has no note {sequence} of {amount.yuan()} yuan"
        )
    _require(session, KioskState.INSERTING_NOTES, step="give a note back")
    return replace(session, notes=kept, updated_at=at)


def credit(*, session: KioskSession, at: datetime, recovered: bool = False) -> KioskSession:
    """Return the session credited: the resident confirmed the total, or recovery did.

    :raises KioskStepRefused: if no note went in, or the session is not taking notes.
    """
    _require(session, KioskState.INSERTING_NOTES, step="credit")
    if not session.notes:
        raise KioskStepRefused("insert at least one note before confirming")
    return replace(session, state=KioskState.CREDITED, updated_at=at, recovered=recovered)


def abandon(*, session: KioskSession, at: datetime) -> KioskSession:
    """Return the session abandoned (the resident walked away before inserting money).

    :raises KioskStepRefused: once a note has gone in: that money must be credited.
    """
    if session.notes:
        raise KioskStepRefused("notes went in: the session can only be credited")
    _require(
        session,
        KioskState.ENTERING_ACCOUNT,
        KioskState.CONFIRMING_DETAILS,
        KioskState.INSERTING_NOTES,
        step="abandon",
    )
    return replace(session, state=KioskState.ABANDONED, updated_at=at)
