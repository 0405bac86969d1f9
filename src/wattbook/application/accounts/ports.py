"""The accounts area's ports: accounts and their history, meter installations (A2, M1)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from wattbook.domain import accounts, metering
from wattbook.domain.values import (
    AccountNumber,
    MeterNumber,
)


class UnknownAccount(LookupError):
    """No account has this number."""


class DuplicateAccount(ValueError):
    """An account with this number exists already."""


class NoMeterInstalled(LookupError):
    """The account has no meter installed."""


class MeterAlreadyInstalled(ValueError):
    """The account already has a meter, or the meter hangs on another account."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterPosition:
    """A meter currently installed, with the baseline charging has reached.

    ``account_opened_at`` is when its account was opened: nothing is charged before it
    (metering.since_opening), even if the meter was installed earlier.
    """

    installation: accounts.MeterInstallation
    baseline: metering.RegisterBaseline
    account_opened_at: datetime


class AccountRepository(Protocol):
    """Accounts and their history (A2)."""

    async def add(self, account: accounts.Account) -> None:
        """Store a new account with a zero balance and the initial prepaid state.

        :raises DuplicateAccount: if the number is taken.
        """
        ...

    async def get(self, number: AccountNumber) -> accounts.Account:
        """Return the account.

        :raises UnknownAccount: if there is none.
        """
        ...

    async def save(self, update: accounts.AccountUpdate) -> None:
        """Store the changed account and its history row."""
        ...

    async def close(self, account: accounts.Account) -> None:
        """Store the account as closed."""
        ...

    async def search(self, text: str, *, limit: int) -> tuple[accounts.Account, ...]:
        """Return accounts whose number, holder, address or phone contains ``text``, by
        account number."""
        ...

    async def history(self, number: AccountNumber) -> tuple[accounts.AccountChange, ...]:
        """Return the account's changes, oldest first."""
        ...


class MeterRepository(Protocol):
    """Meter installations, their baselines, readings and alarms."""

    async def install(
        self, installation: accounts.MeterInstallation, baseline: metering.RegisterBaseline
    ) -> None:
        """Store a new installation and its first baseline.

        :raises MeterAlreadyInstalled: if the account or the meter is taken.
        """
        ...

    async def current(self, number: AccountNumber) -> accounts.MeterInstallation:
        """Return the meter installed on the account.

        :raises NoMeterInstalled: if there is none.
        """
        ...

    async def replace(
        self, replacement: accounts.MeterReplacement, baseline: metering.RegisterBaseline
    ) -> None:
        """Remove the old meter with its final reading and install the new one."""
        ...

    async def positions(self, meters: Collection[MeterNumber]) -> dict[MeterNumber, MeterPosition]:
        """Return the installed meters among ``meters``, with their baselines."""
        ...

    async def record(
        self,
        assessments: Sequence[metering.ReadingAssessment],
        baselines: Sequence[metering.RegisterBaseline],
        *,
        raised_at: datetime,
    ) -> None:
        """Store assessed readings (re-deliveries are ignored), their alarms, new baselines."""
        ...
