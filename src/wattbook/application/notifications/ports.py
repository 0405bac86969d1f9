"""SMS ports (N1, N2): the sender, the outbox repository and their records.

`SmsSender` is re-exported by :mod:`wattbook.application.ports`; `UnitOfWork.sms` is an
:class:`SmsOutbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber, Money, Price


class NotificationKind(StrEnum):
    """Which SMS a resident gets; each has a template in every locale."""

    LOW_BALANCE = "LOW_BALANCE"
    AUTO_TOP_UP_SUCCEEDED = "AUTO_TOP_UP_SUCCEEDED"
    AUTO_TOP_UP_FAILED = "AUTO_TOP_UP_FAILED"
    CUT_OFF = "CUT_OFF"
    POWER_RESTORED = "POWER_RESTORED"
    # The portal's one-time log-in code: its text is written when queued (``body``).
    LOGIN_CODE = "LOGIN_CODE"


class SmsLocale(StrEnum):
    """The language of the SMS templates; zh-CN first."""

    ZH_CN = "zh-CN"
    EN = "en"


class InDoubtRule(StrEnum):
    """What to do with a part whose send was interrupted before its outcome was stored.

    ``RESEND`` is at-least-once (the part may arrive twice, never not at all);
    ``FAIL`` is at-most-once (the message is marked failed for a person to check).
    """

    RESEND = "RESEND"
    FAIL = "FAIL"


class SmsStatus(StrEnum):
    """An outbox row's status (the stored codes of ``sms_outbox.status``)."""

    PENDING = "PENDING"
    SENT = "SENT"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class DeliveryOutcome(StrEnum):
    """How one delivery attempt ended."""

    SENT = "SENT"
    RETRY = "RETRY"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"


class SmsSenderUnavailable(Exception):
    """The sender cannot send anything now: no modem, no SIM, no network."""


class SmsInDoubt(SmsSenderUnavailable):
    """The sender stopped answering mid-send: the part may or may not have left.

    It is settled like an interrupted send, by the policy's :class:`InDoubtRule`.
    """


class StoredPartState(StrEnum):
    """What a sender's storage says about a part written to it (3GPP TS 27.005 <stat>).

    ``SENT`` ("STO SENT"): it went out; ``UNSENT`` ("STO UNSENT"): it is stored and has not
    gone out; ``MISSING``: the storage no longer holds it (deleted, wiped, or another message
    now sits at its index), so whether it went out cannot be told.
    """

    SENT = "SENT"
    UNSENT = "UNSENT"
    MISSING = "MISSING"


class SmsRejected(Exception):
    """The sender refused this message, e.g. ``+CMS ERROR: 38``.

    ``code`` is short and stable (``CMS_38``); ``retryable`` is False when sending the same
    message again cannot succeed (a malformed number).
    """

    def __init__(self, message: str, *, code: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingSms:
    """One message to send; its parts share ``reference`` (the outbox id)."""

    phone: accounts.PhoneNumber
    text: str
    reference: int


class SmsStorage(Protocol):
    """A sender's durable message storage (a modem's ``AT+CMGW``/``AT+CMSS``), for exactly-once.

    A part is written to the storage, its index recorded, then sent from the storage; after a
    crash the storage's status of that index says whether it went out.
    """

    async def store_part(self, message: OutgoingSms, *, part: int) -> int:
        """Write part ``part`` (0-based) of ``message`` to the storage, unsent; return its index.

        :raises SmsRejected: if the storage refuses it (e.g. full).
        :raises SmsSenderUnavailable: if the sender stopped working.
        """
        ...

    async def send_stored(self, index: int) -> str:
        """Send the stored message at ``index`` and return the sender's reference.

        :raises SmsRejected: if this message was refused.
        :raises SmsInDoubt: if the sender stopped answering while sending.
        :raises SmsSenderUnavailable: if the sender stopped working.
        """
        ...

    async def stored_state(self, message: OutgoingSms, *, part: int, index: int) -> StoredPartState:
        """Return what the storage holds at ``index``: that part sent, unsent, or not at all.

        :raises SmsSenderUnavailable: if the sender cannot be asked.
        """
        ...

    async def discard(self, index: int) -> None:
        """Delete the stored message at ``index`` (nothing if it is gone already).

        :raises SmsSenderUnavailable: if the sender cannot be asked.
        """
        ...

    async def stored(self) -> tuple[int, ...]:
        """Return the indexes of the outgoing messages the storage holds (sent or unsent).

        :raises SmsSenderUnavailable: if the sender cannot be asked.
        """
        ...


class SmsSender(Protocol):
    """Send SMS, part by part, so that an interrupted long message resumes where it stopped."""

    @property
    def name(self) -> str:
        """Return the sender's stored code, e.g. ``MODEM``."""
        ...

    @property
    def storage(self) -> SmsStorage | None:
        """Return the storage parts are sent through, or None to send them directly."""
        ...

    def part_count(self, text: str) -> int:
        """Return how many parts ``text`` is sent in (the split is deterministic)."""
        ...

    async def check(self) -> None:
        """Make sure the sender can send now.

        :raises SmsSenderUnavailable: if it cannot (no modem, SIM or network).
        """
        ...

    async def send_part(self, message: OutgoingSms, *, part: int) -> str:
        """Send part ``part`` (0-based) of ``message`` and return the sender's reference.

        :raises SmsRejected: if this message was refused.
        :raises SmsSenderUnavailable: if the sender stopped working.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsPolicy:
    """The SMS policy in force (effective-dated data, CONVENTIONS §1)."""

    daily_cap_per_phone: int
    max_attempts: int
    first_retry: timedelta
    max_retry: timedelta
    in_doubt: InDoubtRule
    locale: SmsLocale

    def retry_delay(self, attempt: int) -> timedelta:
        """Return the back-off after failed attempt ``attempt`` (1-based): doubling, capped."""
        delay: timedelta = self.first_retry * (2 ** max(attempt - 1, 0))
        return min(delay, self.max_retry)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsRequest:
    """A notification to queue; the repository looks up the account's phone number."""

    account_number: AccountNumber
    kind: NotificationKind
    balance: Money
    price: Price
    amount: Money | None = None
    # Same key, same message: queueing it again is ignored (e.g. the bank's serial).
    dedup_key: str | None = None
    # The text, when written at queueing time (a log-in code); else the worker renders it.
    body: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedSms:
    """An outbox row as the worker sees it."""

    id: int
    account_number: AccountNumber
    kind: NotificationKind
    phone: accounts.PhoneNumber | None
    balance: Money
    price: Price
    amount: Money | None
    created_at: datetime
    attempts: int
    parts_sent: int
    message_refs: tuple[str, ...]
    body: str | None
    claimed_at: datetime | None
    # The sender-storage index of part ``parts_sent`` (0-based), written and recorded but not
    # yet recorded as sent; and whether the current (or interrupted) claim sends through the
    # storage at all, so that recovery knows whether a part without an index can be in doubt.
    stored_index: int | None = None
    stores_parts: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsDelivery:
    """One delivery attempt: the delivery record."""

    attempt: int
    sender: str
    started_at: datetime
    finished_at: datetime | None
    outcome: DeliveryOutcome | None
    message_refs: tuple[str, ...]
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountWithoutPhone:
    """An open account with no mobile number on file (N2), for the counter staff."""

    account_number: AccountNumber
    holder: str
    address: str
    balance: Money
    unsent: int  # messages that could not go out for lack of a number


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedSms:
    """A message that will not be sent, with why: for an operator to follow up."""

    id: int
    account_number: AccountNumber
    kind: NotificationKind
    phone: str | None
    created_at: datetime
    failed_at: datetime
    attempts: int
    error: str


class SmsOutbox(Protocol):
    """The SMS outbox and its delivery records."""

    async def enqueue(self, requests: Sequence[SmsRequest], *, at: datetime) -> int:
        """Queue notifications with the accounts' current phone numbers; return how many.

        A request whose ``dedup_key`` was queued before is skipped.
        """
        ...

    async def policy(self, *, on: date) -> SmsPolicy:
        """Return the SMS policy in force on a local date."""
        ...

    async def next_due(self, *, at: datetime) -> QueuedSms | None:
        """Return the oldest pending, unclaimed message due at ``at``, locked for this worker."""
        ...

    async def newer_pending(self, message: QueuedSms) -> int | None:
        """Return the id of a newer pending message of the same account and kind, if any."""
        ...

    async def sent_count(self, phone: accounts.PhoneNumber, *, since: datetime) -> int:
        """Return how many messages went to ``phone`` from ``since`` on."""
        ...

    async def claim(
        self, message_id: int, *, at: datetime, sender: str, body: str, stores_parts: bool = False
    ) -> int:
        """Claim the message for a new attempt, store its text, open its delivery record.

        ``stores_parts`` says the attempt sends each part through the sender's storage.
        Return the attempt's number.
        """
        ...

    async def record_stored(self, message_id: int, *, index: int | None) -> None:
        """Record the storage index of the claimed message's next part (None: forget it)."""
        ...

    async def record_part(
        self, message_id: int, *, reference: str, at: datetime, last: bool
    ) -> None:
        """Store one accepted part's reference, forget its storage index; ``last``: mark SENT."""
        ...

    async def release(
        self,
        message_id: int,
        *,
        at: datetime,
        outcome: DeliveryOutcome,
        error: str,
        retry_at: datetime | None,
        keep_stored: bool = False,
    ) -> None:
        """End the current attempt unsent: pending again from ``retry_at``, or FAILED if None.

        The next part's storage index is forgotten unless ``keep_stored`` (its fate is then
        asked of the storage before the message is sent further).
        """
        ...

    async def stored_indexes(self) -> frozenset[int]:
        """Return the storage indexes the outbox still refers to."""
        ...

    async def defer(self, message_id: int, *, until: datetime, reason: str) -> None:
        """Leave the message pending, untried, until ``until`` (e.g. the daily cap)."""
        ...

    async def close(self, message_id: int, *, status: SmsStatus, at: datetime, reason: str) -> None:
        """Mark a message that was never tried FAILED or CANCELLED, with the reason."""
        ...

    async def claimed(self) -> tuple[QueuedSms, ...]:
        """Return messages claimed by a worker that did not finish them."""
        ...

    async def deliveries(self, message_id: int) -> tuple[SmsDelivery, ...]:
        """Return the message's delivery records, oldest first."""
        ...

    async def failed(self, *, since: datetime, limit: int) -> tuple[FailedSms, ...]:
        """Return messages that failed from ``since`` on, newest first."""
        ...

    async def without_phone(
        self, *, after: AccountNumber | None, limit: int
    ) -> tuple[AccountWithoutPhone, ...]:
        """Return open accounts without a phone number, by number, after ``after``."""
        ...
