"""The campus activity a screen follows: what just happened, read from every area's records.

``wattbook demo`` shows it as a feed (readings charged, texts sent, cuts, closes, top-ups,
alarms, events a meter stored while unreachable, cuts held on a holiday). The reader is
set-based, like the month-end read: a handful of indexed queries by time, never a walk over
the accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from wattbook.domain.values import AccountNumber, Money

# A held cut's key starts so: it is reported once per hold, however long the hold lasts.
HELD_KEY_PREFIX = "held:"


class ActivityKind(StrEnum):
    """What happened (stored codes; the screen gives them words)."""

    READINGS_CHARGED = "READINGS_CHARGED"
    SMS_SENT = "SMS_SENT"
    RELAY_TRIPPED = "RELAY_TRIPPED"
    RELAY_CLOSED = "RELAY_CLOSED"
    RELAY_FAILED = "RELAY_FAILED"
    PAYMENT = "PAYMENT"
    ALARM_RAISED = "ALARM_RAISED"
    ALARM_ENDED = "ALARM_ENDED"
    STORED_EVENTS_FILED = "STORED_EVENTS_FILED"
    CUT_HELD = "CUT_HELD"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityItem:
    """One thing that happened.

    ``key`` is unique per happening, so that overlapping reads report it once. ``code`` is the
    record's own code: the relay reason, the SMS kind, the payment channel, the alarm kind, the
    held cut's next allowed time. ``subject`` is a meter number, an alarm's subject or empty;
    ``count`` how many records an aggregated item stands for (readings, stored events).
    """

    kind: ActivityKind
    key: str
    at: datetime
    account_number: AccountNumber | None = None
    subject: str = ""
    code: str = ""
    amount: Money | None = None
    count: int = 1
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingsCharged:
    """The readings stored and the energy charges posted after a journal position."""

    readings: int
    accounts: int
    charged: Money
    last_entry_id: int
    last_reading_id: int


class ActivityReader(Protocol):
    """Read what happened across the areas since a moment."""

    async def happenings(self, *, since_at: datetime, now: datetime) -> tuple[ActivityItem, ...]:
        """Return the relay operations done, texts sent, payments, alarms raised or ended,
        stored events filed and cuts held from ``since_at`` on (held cuts: those whose next
        allowed time is after ``now``), oldest first."""
        ...

    async def readings_charged(
        self, *, after_entry_id: int, after_reading_id: int
    ) -> ReadingsCharged:
        """Return the readings stored after ``after_reading_id`` and the charges posted to
        the journal after ``after_entry_id``."""
        ...

    async def journal_charges(self) -> Mapping[AccountNumber, Money]:
        """Return, per account, the sum of the energy charges in its journal (negative)."""
        ...
