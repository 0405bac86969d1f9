"""The meter installed on an account, its replacement, and the B8 opening amounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wattbook.domain.accounts._account import Account
from wattbook.domain.accounts._errors import AccountClosed, MeterNotOnAccount
from wattbook.domain.values import (
    AccountNumber,
    Energy,
    MeterNumber,
    Money,
    Price,
    RegisterSet,
    require_aware,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterInstallation:
    """A meter installed on an account: where it hangs on which RS-485 bus, and its start."""

    account_number: AccountNumber
    meter_number: MeterNumber
    bus: str
    installed_at: datetime
    initial: RegisterSet

    def __post_init__(self) -> None:
        require_aware(self.installed_at)
        if not self.bus.strip():
            raise ValueError("a meter installation names its bus")
        if any(value < 0 for value in self.initial.as_tuple()):
            raise ValueError("a meter's registers are never negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterReplacement:
    """The old meter's final reading and the new installation with its initial reading.

    Metering charges the old meter up to ``final`` and sets a new baseline at the new meter's
    ``installation.initial``: replacement never bills the old meter's lifetime twice.
    """

    account_number: AccountNumber
    old_meter_number: MeterNumber
    final_reading_at: datetime
    final: RegisterSet
    installation: MeterInstallation

    @property
    def event_name(self) -> str:
        """Return the dotted audit name."""
        return "accounts.meter.replaced"


def install_meter(
    *,
    account: Account,
    meter_number: MeterNumber,
    bus: str,
    installed_at: datetime,
    initial: RegisterSet,
) -> MeterInstallation:
    """Return the installation of a meter on an open account.

    :raises AccountClosed: if the account is closed.
    """
    if not account.is_open:
        raise AccountClosed(str(account.number))
    return MeterInstallation(
        account_number=account.number,
        meter_number=meter_number,
        bus=bus,
        installed_at=installed_at,
        initial=initial,
    )


def replace_meter(
    *,
    account: Account,
    current: MeterInstallation,
    final: RegisterSet,
    final_at: datetime,
    new_meter_number: MeterNumber,
    bus: str,
    initial: RegisterSet,
    installed_at: datetime,
) -> MeterReplacement:
    """Return the replacement of ``current`` by a new meter.

    :raises AccountClosed: if the account is closed.
    :raises MeterNotOnAccount: if ``current`` belongs to another account.
    :raises ValueError: if the new meter is installed before the old one's final reading.
    """
    if not account.is_open:
        raise AccountClosed(str(account.number))
    if current.account_number != account.number:
        raise MeterNotOnAccount(f"meter {current.meter_number} is not on account {account.number}")
    if require_aware(installed_at) < require_aware(final_at):
        raise ValueError("the new meter cannot be installed before the old one is read out")
    installation = install_meter(
        account=account,
        meter_number=new_meter_number,
        bus=bus,
        installed_at=installed_at,
        initial=initial,
    )
    return MeterReplacement(
        account_number=account.number,
        old_meter_number=current.meter_number,
        final_reading_at=final_at,
        final=final,
        installation=installation,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class OpeningBalance:
    """A balance carried over from a previous system; the ledger posts it as OPENING_BALANCE."""

    account_number: AccountNumber
    amount: Money
    at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationCredit:
    """Energy left on the old meter or its card, credited at a price (B8).

    The ledger posts ``amount`` as MIGRATION_CREDIT; statements show it as negative usage.
    """

    account_number: AccountNumber
    energy: Energy
    price: Price
    amount: Money
    at: datetime
    note: str = ""


def opening_balance(
    *, account: Account, amount: Money, at: datetime, note: str = ""
) -> OpeningBalance:
    """Return the decision to open the account's ledger with ``amount`` (arrears if negative).

    :raises AccountClosed: if the account is closed.
    :raises ValueError: if the amount is zero (nothing to post).
    """
    if not account.is_open:
        raise AccountClosed(str(account.number))
    if not amount:
        raise ValueError("an opening balance of zero needs no entry")
    return OpeningBalance(
        account_number=account.number, amount=amount, at=require_aware(at), note=note
    )


def migration_credit(
    *, account: Account, energy: Energy, price: Price, at: datetime, note: str = ""
) -> MigrationCredit:
    """Return the decision to credit ``energy`` left over from the old meter, at ``price`` (B8).

    :raises AccountClosed: if the account is closed.
    :raises ValueError: if the energy is not positive or is worth less than a fen.
    """
    if not account.is_open:
        raise AccountClosed(str(account.number))
    if energy.wh <= 0:
        raise ValueError("a migration credit is a positive amount of energy")
    amount = price.cost_of(energy)
    if amount.fen <= 0:
        raise ValueError(f"{energy} at {price} is worth nothing")
    return MigrationCredit(
        account_number=account.number,
        energy=energy,
        price=price,
        amount=amount,
        at=require_aware(at),
        note=note,
    )
