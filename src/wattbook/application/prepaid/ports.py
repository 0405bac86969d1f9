"""The prepaid area's ports: rule state, keep-power orders, the policy, the command outbox."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from wattbook.domain import accounts, prepaid
from wattbook.domain.values import (
    AccountNumber,
    MeterNumber,
    Period,
    WorkingCalendar,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepaidSnapshot:
    """What the prepaid rules need to know about one account besides its money.

    ``meter_number`` is the meter installed now (None: none yet, so the rules do not act).
    """

    state: prepaid.RuleState
    relay: prepaid.RelayState
    keep_power: tuple[Period, ...]
    phone: accounts.PhoneNumber | None
    meter_number: MeterNumber | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepPowerOrder:
    """A keep-power order (A3): who ordered it, why, and for when."""

    account_number: AccountNumber
    period: Period
    ordered_by: str
    reason: str
    created_at: datetime


class PrepaidRepository(Protocol):
    """Rule state, keep-power orders and the prepaid policy in force."""

    async def settings(self, *, on: date) -> prepaid.PrepaidSettings:
        """Return the policy in force on a local date."""
        ...

    async def set_settings(
        self, *, effective_from: date, settings: prepaid.PrepaidSettings
    ) -> None:
        """Put ``settings`` in force from the local date ``effective_from`` (replacing a
        version that starts that very day)."""
        ...

    async def calendar(self, *, first_date: date, last_date: date) -> WorkingCalendar:
        """Return the working calendar with the local overrides."""
        ...

    async def snapshots(
        self, numbers: Collection[AccountNumber], *, at: datetime
    ) -> dict[AccountNumber, PrepaidSnapshot]:
        """Return the rule inputs of the accounts, with keep-power orders relevant at ``at``."""
        ...

    async def save_states(
        self, states: Mapping[AccountNumber, tuple[prepaid.RuleState, datetime | None]]
    ) -> None:
        """Store new rule states and when each account must be looked at again."""
        ...

    async def due(self, *, at: datetime, limit: int) -> tuple[AccountNumber, ...]:
        """Return accounts whose rules asked to be evaluated again by ``at``."""
        ...

    async def add_keep_power(self, order: KeepPowerOrder) -> None:
        """Store a keep-power order."""
        ...

    async def set_relay(self, number: AccountNumber, relay: prepaid.RelayState) -> None:
        """Store the relay state last confirmed on the account's meter."""
        ...


class Outbox(Protocol):
    """SMS and relay commands waiting to be carried out, written with the money."""

    async def add(
        self,
        commands: Sequence[prepaid.Command],
        *,
        at: datetime,
        phones: Mapping[AccountNumber, accounts.PhoneNumber | None],
        meters: Mapping[AccountNumber, MeterNumber],
    ) -> None:
        """Store the commands; a scheduled-close cancellation cancels pending closes."""
        ...
