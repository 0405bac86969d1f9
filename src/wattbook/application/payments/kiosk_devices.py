"""Kiosks as devices: register, rotate, revoke, list, and authenticate requests.

A kiosk's acceptor agent signs every request with the kiosk's secret; the server looks the
kiosk up here and checks the signature (``payments.verify_kiosk_request``). The secret is
shown once, when it is made, and kept raw in the database (HMAC needs it on both sides).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from wattbook.application import ports
from wattbook.application.payments import ports as payment_ports
from wattbook.domain import payments


class KioskAlreadyRegistered(payments.PaymentError, ValueError):
    """A kiosk with this id is registered already (rotate its secret instead)."""


def new_kiosk_secret() -> str:
    """Return a new random kiosk secret: 256 bits, URL-safe text of 43 characters."""
    return secrets.token_urlsafe(32)


async def _audit(uow: ports.UnitOfWork, *, at: datetime, by: str, action: str, kiosk: str) -> None:
    await uow.payments.audit(
        (
            payment_ports.AuditEntry(
                at=at, actor=by, action=action, receipt_number=None, detail=f"kiosk {kiosk}"
            ),
        )
    )


async def registered_kiosk(
    uow: ports.UnitOfWork, kiosk_id: str, *, lock: bool = False
) -> payments.Kiosk:
    """Return the registered kiosk, locked for this unit of work if asked (so that one kiosk's
    steps that change it run one at a time).

    :raises payments.UnknownKiosk: if no kiosk has this id.
    """
    kiosk = await uow.payments.kiosk(kiosk_id, lock=lock)
    if kiosk is None:
        raise payments.UnknownKiosk(f"no kiosk {kiosk_id} is registered")
    return kiosk


async def session_taking_notes(
    uow: ports.UnitOfWork, kiosk_id: str
) -> payments.KioskSession | None:
    """Return the kiosk's session whose acceptor is open for notes, if any."""
    for transaction_id in await uow.payments.open_kiosk_sessions(kiosk_id):
        session = await uow.payments.kiosk_session(transaction_id)
        if session is not None and session.state is payments.KioskState.INSERTING_NOTES:
            return session
    return None


async def register_kiosk(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    kiosk_id: str,
    by: str,
    make_secret: Callable[[], str] = new_kiosk_secret,
) -> tuple[payments.Kiosk, str]:
    """Register a kiosk and return it with its new secret (shown to the caller once).

    :raises payments.InvalidKioskId: if the id is not 1-32 letters, digits, '-' or '_'.
    :raises KioskAlreadyRegistered: if the id is taken.
    """
    payments.check_kiosk_id(kiosk_id)
    now = clock.now()
    secret = make_secret()
    async with uow:
        if await uow.payments.kiosk(kiosk_id, lock=True) is not None:
            raise KioskAlreadyRegistered(f"kiosk {kiosk_id} is registered already")
        kiosk = payments.Kiosk(
            kiosk_id=kiosk_id, secret=secret, registered_at=now, registered_by=by
        )
        await uow.payments.add_kiosk(kiosk)
        await _audit(uow, at=now, by=by, action="payments.kiosk.registered", kiosk=kiosk_id)
        await uow.commit()
    return kiosk, secret


async def rotate_kiosk(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    kiosk_id: str,
    by: str,
    make_secret: Callable[[], str] = new_kiosk_secret,
) -> tuple[payments.Kiosk, str]:
    """Give a kiosk a new secret (the old one stops working) and return it with the secret.

    A revoked kiosk is reinstated by this: it is how a replaced kiosk PC is enrolled.

    :raises payments.UnknownKiosk: if no kiosk has this id.
    """
    now = clock.now()
    secret = make_secret()
    async with uow:
        kiosk = replace(
            await registered_kiosk(uow, kiosk_id, lock=True), secret=secret, revoked_at=None
        )
        await uow.payments.save_kiosk(kiosk)
        await _audit(uow, at=now, by=by, action="payments.kiosk.rotated", kiosk=kiosk_id)
        await uow.commit()
    return kiosk, secret


async def revoke_kiosk(
    *, uow: ports.UnitOfWork, clock: ports.Clock, kiosk_id: str, by: str
) -> payments.Kiosk:
    """Revoke a kiosk: its requests are refused from now on (until it is rotated).

    :raises payments.UnknownKiosk: if no kiosk has this id.
    """
    now = clock.now()
    async with uow:
        kiosk = await registered_kiosk(uow, kiosk_id, lock=True)
        if kiosk.revoked_at is None:
            kiosk = replace(kiosk, revoked_at=now)
            await uow.payments.save_kiosk(kiosk)
            await _audit(uow, at=now, by=by, action="payments.kiosk.revoked", kiosk=kiosk_id)
            await uow.commit()
    return kiosk


async def list_kiosks(*, uow: ports.UnitOfWork) -> tuple[payments.Kiosk, ...]:
    """Return every registered kiosk."""
    async with uow:
        return await uow.payments.kiosks()


async def authenticate_kiosk(
    *, uow: ports.UnitOfWork, request: payments.SignedRequest, now: datetime
) -> payments.Kiosk:
    """Return the kiosk that signed ``request``.

    :raises payments.UnknownKiosk: if no kiosk has its id, or it has no usable secret.
    :raises payments.KioskRevoked: if the kiosk was revoked.
    :raises payments.KioskTimestampOutsideWindow: if it is dated too far from ``now``.
    :raises payments.KioskSignatureInvalid: if the signature does not match.
    """
    async with uow:
        kiosk = await registered_kiosk(uow, request.kiosk_id)
    payments.verify_kiosk_request(request, secret=kiosk.usable_secret(), now=now)
    return kiosk


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptorPosition:
    """Where a kiosk's acceptor stands: its last accepted sequence, the session taking notes."""

    last_acceptor_sequence: int
    taking_notes: str | None


async def acceptor_position(*, uow: ports.UnitOfWork, kiosk_id: str) -> AcceptorPosition:
    """Return the kiosk's last acceptor sequence (an agent continues above it).

    :raises payments.UnknownKiosk: if no kiosk has this id.
    """
    async with uow:
        kiosk = await registered_kiosk(uow, kiosk_id)
        taking = await session_taking_notes(uow, kiosk_id)
    return AcceptorPosition(
        last_acceptor_sequence=kiosk.last_acceptor_sequence,
        taking_notes=None if taking is None else taking.transaction_id,
    )
