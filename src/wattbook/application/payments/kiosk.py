"""The kiosk (P2): each step of the session is one unit of work on the server.

Every step names the kiosk that signed it; a session is visible only to its own
kiosk. The server makes session ids, and notes come only from the kiosk's acceptor agent,
numbered by the acceptor. Every note is journalled here before the acceptor stacks it; a
session with notes ends only credited, by the resident's 确定 or by
:func:`recover_kiosk_sessions` after a crash.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from wattbook.application import alarm_ports, ports, read_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.payments._credit import TopUp, credit_top_ups
from wattbook.application.payments.kiosk_devices import registered_kiosk, session_taking_notes
from wattbook.application.payments.ports import Receipt, receipt_for
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money

# How long a session may sit untouched before recovery credits (or abandons) it.
KIOSK_IDLE_LIMIT = timedelta(minutes=5)


class UnknownSession(LookupError):
    """No kiosk session has this transaction id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KioskView:
    """What the kiosk screen shows: the session and, once entered, the account's details."""

    session: payments.KioskSession
    holder_masked: str | None
    address: str | None
    balance: Money | None
    receipt: Receipt | None


async def _view(
    uow: read_ports.ReadOnlyUnitOfWork,
    session: payments.KioskSession,
    receipt: Receipt | None = None,
) -> KioskView:
    if session.account_number is None:
        return KioskView(
            session=session, holder_masked=None, address=None, balance=None, receipt=receipt
        )
    account = await uow.accounts.get(session.account_number)
    balances = await uow.ledger.balances((session.account_number,))
    return KioskView(
        session=session,
        holder_masked=payments.mask_name(account.holder.name),
        address=account.address.text,
        balance=balances[session.account_number],
        receipt=receipt,
    )


def new_transaction_id() -> str:
    """Return a new, unguessable session id: "KS" and 192 random bits, URL-safe (34 chars)."""
    return "KS" + secrets.token_urlsafe(24)


async def _load(
    uow: read_ports.ReadOnlyUnitOfWork, transaction_id: str, kiosk_id: str
) -> payments.KioskSession:
    session = await uow.payments.kiosk_session(transaction_id)
    # Another kiosk's session is as unknown as no session at all.
    if session is None or session.kiosk_id != kiosk_id:
        raise UnknownSession(transaction_id)
    return session


async def _receipt(
    uow: read_ports.ReadOnlyUnitOfWork, session: payments.KioskSession
) -> Receipt | None:
    if session.state is not payments.KioskState.CREDITED or session.account_number is None:
        return None
    found = await uow.payments.by_channel_reference(
        payments.Channel.KIOSK, (session.transaction_id,)
    )
    account = await uow.accounts.get(session.account_number)
    return receipt_for(found[session.transaction_id], account)


async def kiosk_session(
    *, uow: read_ports.ReadOnlyUnitOfWork, kiosk_id: str, transaction_id: str
) -> KioskView:
    """Return the session as the screen shows it (after a kiosk restart, say).

    :raises UnknownSession: if the kiosk has none with this id.
    """
    async with uow:
        session = await _load(uow, transaction_id, kiosk_id)
        return await _view(uow, session, await _receipt(uow, session))


async def open_kiosk_session(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    kiosk_id: str,
    make_id: Callable[[], str] = new_transaction_id,
) -> KioskView:
    """Start a session on the kiosk with a server-made id, waiting for an account number.

    At most one session per kiosk is open: one left open is ended first, abandoned if no
    note went in, else credited as recovered (the money that went in reaches its account).

    :raises payments.UnknownKiosk: if no kiosk has this id.
    """
    now = clock.now()
    async with uow:
        await registered_kiosk(uow, kiosk_id, lock=True)
        for transaction_id in await uow.payments.open_kiosk_sessions(kiosk_id):
            left = await _load(uow, transaction_id, kiosk_id)
            if left.notes:
                left = payments.confirm_details(session=left, at=now)
                await _credit(uow, left, now=now, recovered=True)
            else:
                await uow.payments.save_kiosk_session(payments.abandon(session=left, at=now))
        session = payments.start_session(transaction_id=make_id(), kiosk_id=kiosk_id, at=now)
        await uow.payments.save_kiosk_session(session)
        view = await _view(uow, session)
        await uow.commit()
    return view


async def enter_kiosk_account(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    kiosk_id: str,
    transaction_id: str,
    number: AccountNumber,
) -> KioskView:
    """Show the details of the 12-digit number typed, for the resident to check.

    :raises UnknownSession: if the kiosk has no session with this id.
    :raises UnknownAccount: if no account has this number.
    :raises payments.KioskStepRefused: once notes are going in.
    """
    now = clock.now()
    async with uow:
        session = await _load(uow, transaction_id, kiosk_id)
        await uow.accounts.get(number)
        session = payments.enter_account(session=session, number=number, at=now)
        await uow.payments.save_kiosk_session(session)
        view = await _view(uow, session)
        await uow.commit()
    return view


async def confirm_kiosk_details(
    *, uow: ports.UnitOfWork, clock: ports.Clock, kiosk_id: str, transaction_id: str
) -> KioskView:
    """Confirm the details shown; the acceptor may now take notes.

    :raises UnknownSession: if the kiosk has no session with this id.
    :raises payments.KioskStepRefused: unless the details are being shown.
    """
    now = clock.now()
    async with uow:
        session = await _load(uow, transaction_id, kiosk_id)
        session = payments.confirm_details(session=session, at=now)
        await uow.payments.save_kiosk_session(session)
        view = await _view(uow, session)
        await uow.commit()
    return view


async def accept_acceptor_note(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    kiosk_id: str,
    acceptor_sequence: int,
    amount: Money,
    caps: payments.KioskCaps,
) -> KioskView:
    """Journal a note in the acceptor's escrow into the kiosk's session taking notes.

    Only after this returns may the acceptor stack the note; if it raises, the note is
    returned to the resident. The acceptor's last sequence again with the same amount is
    answered as before (nothing changes); the kiosk keeps its last accepted sequence.

    :raises payments.UnknownKiosk: if no kiosk has this id.
    :raises payments.NoteConflict: if the sequence is below the last, or is the last with
        another amount.
    :raises payments.InvalidNote: if it is not a 1-100 yuan note.
    :raises payments.KioskStepRefused: if no session of the kiosk is taking notes.
    :raises payments.KioskCapReached: if the note would pass the session's caps.
    """
    now = clock.now()
    async with uow:
        kiosk = await registered_kiosk(uow, kiosk_id, lock=True)
        last = None
        if acceptor_sequence == kiosk.last_acceptor_sequence:
            last = await uow.payments.kiosk_note(kiosk_id, acceptor_sequence)
        new = payments.order_acceptor_note(
            kiosk=kiosk,
            sequence=acceptor_sequence,
            amount=amount,
            last_note=None if last is None else last[1],
        )
        if not new:
            assert last is not None  # noqa: S101 - a repeat has its note
            repeated = await _load(uow, last[0], kiosk_id)
            return await _view(uow, repeated, await _receipt(uow, repeated))
        payments.check_note(amount)
        session = await session_taking_notes(uow, kiosk_id)
        if session is None:
            raise payments.KioskStepRefused(f"no session of kiosk {kiosk_id} is taking notes")
        session, _added = payments.accept_note(
            session=session, sequence=acceptor_sequence, amount=amount, at=now, caps=caps
        )
        await uow.payments.save_kiosk_session(session)
        await uow.payments.save_kiosk(replace(kiosk, last_acceptor_sequence=acceptor_sequence))
        view = await _view(uow, session)
        await uow.commit()
    return view


class NoteReturnOutcome(StrEnum):
    """What the server did about a note the acceptor gave back."""

    REMOVED = "REMOVED"  # the open session no longer counts it
    NOT_JOURNALLED = "NOT_JOURNALLED"  # the server never took it (or already removed it)
    ALARMED = "ALARMED"  # its session was credited already: a system alarm for staff


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteReturn:
    """The outcome, and the note's session as the screen shows it (if it was journalled)."""

    outcome: NoteReturnOutcome
    view: KioskView | None


async def return_acceptor_note(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    kiosk_id: str,
    acceptor_sequence: int,
    amount: Money,
) -> NoteReturn:
    """Take back note ``acceptor_sequence``: the acceptor gave it to the resident after all.

    The agent sends this when the device returned a note by itself (its escrow timer ran out
    while the server's answer was in doubt). If the note's session is open, the note leaves
    it (audited); if the session was credited already, the account has money the campus did
    not keep, so a system alarm asks staff to settle it. A note never journalled must not be
    journalled later: the kiosk's last sequence moves up to it, so a late copy is refused.
    Sending it again changes nothing more.

    :raises payments.UnknownKiosk: if no kiosk has this id.
    :raises payments.NoteConflict: if the note was journalled with another amount.
    """
    now = clock.now()
    async with uow:
        kiosk = await registered_kiosk(uow, kiosk_id, lock=True)
        found = await uow.payments.kiosk_note(kiosk_id, acceptor_sequence)
        if found is None:
            if acceptor_sequence > kiosk.last_acceptor_sequence:
                await uow.payments.save_kiosk(
                    replace(kiosk, last_acceptor_sequence=acceptor_sequence)
                )
                await uow.commit()
            return NoteReturn(outcome=NoteReturnOutcome.NOT_JOURNALLED, view=None)
        transaction_id, journalled = found
        if journalled != amount:
            raise payments.NoteConflict(
                f"kiosk {kiosk_id}: note {acceptor_sequence} was {journalled.yuan()} yuan"
            )
        session = await _load(uow, transaction_id, kiosk_id)
        what = (
            f"acceptor note {acceptor_sequence} ({amount.yuan()} yuan) of session {transaction_id}"
        )
        if session.state is payments.KioskState.CREDITED:
            receipt = await _receipt(uow, session)
            number = None if receipt is None else str(receipt.payment.receipt_number)
            opened = await uow.alarms.raise_alarm(
                kind=alarm_ports.AlarmKind.KIOSK_NOTE_RETURNED_CREDITED,
                subject=f"{kiosk_id}/{acceptor_sequence}",
                detail=f"kiosk {kiosk_id} gave back {what} after receipt {number} credited "
                f"account {session.account_number}: settle it (P4 correction or the cash)",
                at=now,
            )
            if opened:
                await _audit(
                    uow, now, kiosk_id, "payments.kiosk.note-returned-credited", what, number
                )
            view = await _view(uow, session, receipt)
            await uow.commit()
            return NoteReturn(outcome=NoteReturnOutcome.ALARMED, view=view)
        session = payments.remove_returned_note(
            session=session, sequence=acceptor_sequence, amount=amount, at=now
        )
        await uow.payments.remove_kiosk_note(transaction_id, acceptor_sequence)
        await uow.payments.save_kiosk_session(session)
        await _audit(uow, now, kiosk_id, "payments.kiosk.note-returned", what, None)
        view = await _view(uow, session)
        await uow.commit()
    return NoteReturn(outcome=NoteReturnOutcome.REMOVED, view=view)


async def _audit(
    uow: ports.UnitOfWork,
    now: datetime,
    kiosk_id: str,
    action: str,
    detail: str,
    receipt_number: str | None,
) -> None:
    await uow.payments.audit(
        (
            payment_ports.AuditEntry(
                at=now,
                actor=f"kiosk {kiosk_id}",
                action=action,
                receipt_number=receipt_number,
                detail=detail,
            ),
        )
    )


async def report_acceptor_fault(
    *, uow: ports.UnitOfWork, clock: ports.Clock, kiosk_id: str, code: str, detail: str
) -> bool:
    """Raise a system alarm for what the kiosk's acceptor reported; return whether it opened.

    Staff see it on the console: events lost unread (notes may have been taken), a note
    stacked without approval, a reset, a jam. The same fault again while its alarm is open
    only brings the detail up to date.

    :raises payments.UnknownKiosk: if no kiosk has this id.
    """
    now = clock.now()
    async with uow:
        await registered_kiosk(uow, kiosk_id)
        opened = await uow.alarms.raise_alarm(
            kind=alarm_ports.AlarmKind.KIOSK_ACCEPTOR_FAULT,
            subject=f"{kiosk_id}/{code}"[:64],
            detail=f"kiosk {kiosk_id}: {code}: {detail}",
            at=now,
        )
        await uow.commit()
    return opened


async def _credit(
    uow: ports.UnitOfWork, session: payments.KioskSession, *, now: datetime, recovered: bool
) -> Receipt:
    session = payments.credit(session=session, at=now, recovered=recovered)
    assert session.account_number is not None  # noqa: S101 - a session with notes has one
    credited = await credit_top_ups(
        uow,
        top_ups=(
            TopUp(
                account_number=session.account_number,
                amount=session.total,
                channel=payments.Channel.KIOSK,
                channel_reference=session.transaction_id,
                note=f"kiosk {session.kiosk_id}, {len(session.notes)} notes"
                + (", recovered" if recovered else ""),
            ),
        ),
        now=now,
    )
    await uow.payments.save_kiosk_session(session)
    account = await uow.accounts.get(session.account_number)
    return receipt_for(credited.payments[0], account)


async def confirm_kiosk_total(
    *, uow: ports.UnitOfWork, clock: ports.Clock, kiosk_id: str, transaction_id: str
) -> KioskView:
    """Credit the notes inserted (the resident pressed 确定) and return the receipt.

    Pressing again, or a retry after a lost answer, returns the same receipt.

    :raises UnknownSession: if there is none.
    :raises payments.KioskStepRefused: if no note went in.
    """
    now = clock.now()
    async with uow:
        session = await _load(uow, transaction_id, kiosk_id)
        if session.state is payments.KioskState.CREDITED:
            return await _view(uow, session, await _receipt(uow, session))
        receipt = await _credit(uow, session, now=now, recovered=False)
        view = await _view(uow, await _load(uow, transaction_id, kiosk_id), receipt)
        await uow.commit()
    return view


async def abandon_kiosk_session(
    *, uow: ports.UnitOfWork, clock: ports.Clock, kiosk_id: str, transaction_id: str
) -> KioskView:
    """End a session before any note went in (返回 / timeout on the first screens).

    :raises UnknownSession: if there is none.
    :raises payments.KioskStepRefused: once a note has gone in.
    """
    now = clock.now()
    async with uow:
        session = payments.abandon(session=await _load(uow, transaction_id, kiosk_id), at=now)
        await uow.payments.save_kiosk_session(session)
        view = await _view(uow, session)
        await uow.commit()
    return view


@dataclass(frozen=True, slots=True, kw_only=True)
class KioskRecovery:
    """What recovery did: sessions credited with their receipts, sessions abandoned."""

    credited: tuple[Receipt, ...]
    abandoned: tuple[str, ...]


async def recover_kiosk_sessions(
    *,
    uow_factory: ports.UnitOfWorkFactory,
    clock: ports.Clock,
    idle_for: timedelta = KIOSK_IDLE_LIMIT,
    limit: int = 1000,
) -> KioskRecovery:
    """Credit the journalled notes of sessions left open (a crash, a walk-away), one by one.

    Run at start-up and periodically. Sessions touched within ``idle_for`` are left alone,
    since the kiosk may still be talking to a resident.
    """
    now = clock.now()
    async with uow_factory() as uow:
        idle = await uow.payments.idle_kiosk_sessions(before=now - idle_for, limit=limit)
    credited: list[Receipt] = []
    abandoned: list[str] = []
    for transaction_id in idle:
        async with uow_factory() as uow:
            session = await uow.payments.kiosk_session(transaction_id)
            if session is None or not session.open or session.updated_at >= now - idle_for:
                continue
            if session.notes:
                session = payments.confirm_details(session=session, at=now)
                credited.append(await _credit(uow, session, now=now, recovered=True))
            else:
                await uow.payments.save_kiosk_session(payments.abandon(session=session, at=now))
                abandoned.append(transaction_id)
            await uow.commit()
    return KioskRecovery(credited=tuple(credited), abandoned=tuple(abandoned))
