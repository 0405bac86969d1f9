"""The payments family of anticipated errors (CONVENTIONS §8)."""

from __future__ import annotations


class PaymentError(Exception):
    """Base of every anticipated payment error."""


class CounterClosed(PaymentError):
    """The counter is outside its working hours and no administrator has opened it (P1)."""


class InvalidNote(PaymentError):
    """The note is not one the kiosk takes (1, 5, 10, 20, 50 or 100 yuan)."""


class InvalidKioskId(PaymentError, ValueError):
    """A kiosk transaction id or kiosk id is not of the shape the kiosk makes."""


class KioskStepRefused(PaymentError):
    """The kiosk session is not in a state where this step is allowed."""


class NoteConflict(PaymentError):
    """A note sequence number was journalled before with another denomination, or is below
    the acceptor's last sequence."""


class KioskCapReached(PaymentError):
    """The note would take the session past its cap (total amount or number of notes)."""


class KioskNotAuthenticated(PaymentError):
    """A kiosk request is not signed by a registered kiosk: the base of the 401 answers."""


class KioskSignatureMissing(KioskNotAuthenticated):
    """A kiosk request carries no (or an unreadable) kiosk id, timestamp or signature."""


class KioskSignatureInvalid(KioskNotAuthenticated):
    """A kiosk request's signature does not match its kiosk's secret."""


class KioskTimestampOutsideWindow(KioskNotAuthenticated):
    """A kiosk request is dated too far from the server's time (a replay, or a wrong clock)."""


class UnknownKiosk(KioskNotAuthenticated):
    """No kiosk is registered under this id, or it has no usable secret (rotate it)."""


class KioskRevoked(KioskNotAuthenticated):
    """The kiosk was revoked: its secret is no longer accepted."""


class DuplicatePayment(PaymentError):
    """The channel reference was used before for a different payment."""


class InvalidAgreement(PaymentError):
    """An auto top-up agreement breaks the bank's rules (threshold, amount, accounts)."""


class UnknownAgreement(PaymentError):
    """No auto top-up agreement has this number."""


class UnknownDebit(PaymentError):
    """A bank callback names a debit wattbook never requested."""


class CallbackMismatch(PaymentError):
    """A bank callback contradicts its debit (amount, or a second serial for a settled debit)."""


class CallbackConflict(CallbackMismatch):
    """A bank callback contradicts a debit already credited: it is refused, never credited."""


class CallbackOutsideWindow(PaymentError):
    """A bank callback is dated outside the accepted window (too old, or in the future)."""


class UnknownReceipt(PaymentError):
    """No payment has this receipt number."""


class CannotExchange(PaymentError):
    """The receipt cannot be exchanged: not a kiosk or bank top-up, or exchanged before, or
    the official number is taken."""


class CannotCorrect(PaymentError):
    """The payment cannot be corrected: already corrected, or not a top-up."""


class IdentityRequired(PaymentError):
    """A correction needs the ID document shown at the counter (P4)."""
