"""Change the prepaid policy (B4-B6, Policy) from a date: thresholds and the reclose delay.

Like a price, a policy version starts on a local day and never rewrites the past: the rules
read the version in force on the day they decide (no restart needed).
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from wattbook.application import ports
from wattbook.domain import prepaid
from wattbook.domain.values import Energy, local_date

# Policy bounds: a threshold over 1000 kWh or a reclose delay over an hour is a typing error.
MAX_THRESHOLD = Energy(wh=1_000_000)
MAX_RECLOSE_DELAY = timedelta(hours=1)


async def set_prepaid_settings(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    effective_from: date,
    low_balance_energy: Energy,
    warning_cut_energy: Energy,
    reclose_delay: timedelta,
) -> tuple[prepaid.PrepaidSettings, prepaid.PrepaidSettings]:
    """Put new thresholds and reclose delay in force from ``effective_from`` (today or later);
    keep the rest of the version in force then. Return the settings before and after.

    :raises ValueError: if the date is in the past, a threshold or the delay is out of bounds,
        or the warning cut is not below the low-balance threshold.
    """
    if effective_from < local_date(clock.now()):
        raise ValueError("a policy change starts today or later: the past is not re-decided")
    for energy in (low_balance_energy, warning_cut_energy):
        if not Energy(wh=0) <= energy <= MAX_THRESHOLD:
            raise ValueError(f"a threshold is 0 to {MAX_THRESHOLD.kwh} kWh, not {energy.kwh}")
    if not warning_cut_energy < low_balance_energy:
        raise ValueError("the warning cut threshold is below the low-balance threshold")
    if not timedelta(0) <= reclose_delay <= MAX_RECLOSE_DELAY:
        raise ValueError("the reclose delay is 0 to 60 minutes")
    async with uow:
        before = await uow.prepaid.settings(on=effective_from)
        after = dataclasses.replace(
            before,
            low_balance_energy=low_balance_energy,
            warning_cut_energy=warning_cut_energy,
            reclose_delay=reclose_delay,
        )
        await uow.prepaid.set_settings(effective_from=effective_from, settings=after)
        await uow.commit()
    return before, after
