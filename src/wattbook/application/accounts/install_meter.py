"""Install a meter on an account, or replace it with final and initial readings."""

from __future__ import annotations

from datetime import datetime

from wattbook.application import ports
from wattbook.application.metering.record_readings import record_readings
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import accounts, metering
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet


async def install_meter(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    meter_number: MeterNumber,
    bus: str,
    initial: RegisterSet,
    installed_at: datetime | None = None,
) -> accounts.MeterInstallation:
    """Install a meter; charging starts from its initial registers, and the prepaid rules.

    The rules act only on an account with a meter: an account opened short of money gets its
    low-balance text and warning cut now, with commands that name this meter.

    :raises UnknownAccount: if there is no such account.
    :raises MeterAlreadyInstalled: if the account has a meter or the meter is in use.
    :raises accounts.AccountClosed: if the account is closed.
    """
    async with uow:
        account = await uow.accounts.get(number)
        installation = accounts.install_meter(
            account=account,
            meter_number=meter_number,
            bus=bus,
            installed_at=installed_at if installed_at is not None else clock.now(),
            initial=initial,
        )
        await uow.meters.install(installation, metering.baseline_from_installation(installation))
        await apply_prepaid_rules(uow, numbers=(number,), now=clock.now())
        await uow.commit()
    return installation


async def replace_meter(
    *,
    uow_factory: ports.UnitOfWorkFactory,
    clock: ports.Clock,
    number: AccountNumber,
    final: RegisterSet,
    final_at: datetime,
    new_meter_number: MeterNumber,
    bus: str,
    initial: RegisterSet,
    installed_at: datetime,
) -> accounts.MeterReplacement:
    """Charge the old meter up to its final reading, then install the new one.

    Two units of work: the final reading is an ordinary reading (charged, idempotent), so a
    failure between them leaves a consistent state and the replacement can be retried.

    :raises UnknownAccount: if there is no such account.
    :raises NoMeterInstalled: if the account has no meter to replace.
    """
    async with uow_factory() as uow:
        account = await uow.accounts.get(number)
        current = await uow.meters.current(number)
    replacement = accounts.replace_meter(
        account=account,
        current=current,
        final=final,
        final_at=final_at,
        new_meter_number=new_meter_number,
        bus=bus,
        initial=initial,
        installed_at=installed_at,
    )
    await record_readings(
        uow=uow_factory(),
        clock=clock,
        readings=(metering.final_reading(replacement, received_at=clock.now()),),
    )
    async with uow_factory() as uow:
        await uow.meters.replace(replacement, metering.baseline_after_replacement(replacement))
        await uow.commit()
    return replacement
