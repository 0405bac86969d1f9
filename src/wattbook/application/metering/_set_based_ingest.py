"""Plan the set-based part of ``record_readings``: which readings may be plain, and the numbers.

A reading may be plain if it is its meter's only reading in the batch, its registers fit the
storage's 64-bit arithmetic, and the time just before it lies in a flat tariff version: then
its interval is charged on the domain's unsplit path when its baseline lies in the same month
and version (the storage checks that, and the rest of what makes it plain). Everything here is
per batch or per distinct meter time, never per reading beyond one dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from math import gcd

from wattbook.application.metering import ports as metering_ports
from wattbook.domain import billing, metering, prepaid
from wattbook.domain.values import CHARGE_ROUNDING, BillingMonth, MeterNumber, local_date

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# Products the storage computes stay below this (64-bit signed integers on both engines).
_INT_LIMIT = 2**62
# Registers above this are left to the domain: the storage adds and subtracts them.
_MAX_REGISTER_WH = 2**50
# The plausibility limit's rate: mA x mV x margin% Wh per (10^6 x µs per hour x 100) µs.
_RATE_DENOMINATOR = 1_000_000 * 3600 * 1_000_000 * 100


def plausibility_bound(limits: metering.PlausibilityLimits) -> metering_ports.PlausibilityBound:
    """Return ``limits`` as the integers the storage compares with (see PlausibilityBound).

    ``limits.max_wh(e)`` is ``ceil(K x e / D) + slack``; a jump ``j`` is at most that iff
    ``j <= slack`` or ``(j - slack - 1) x D < K x e``, with K/D reduced to lowest terms.
    """
    rate = limits.max_current_ma * limits.nominal_voltage_mv * limits.margin_percent
    divisor = gcd(rate, _RATE_DENOMINATOR)
    numerator, denominator = rate // divisor, _RATE_DENOMINATOR // divisor
    return metering_ports.PlausibilityBound(
        slack_wh=limits.slack_wh,
        rate_numerator=numerator,
        rate_denominator=denominator,
        max_jump_wh=_INT_LIMIT // denominator,
        max_elapsed_us=_INT_LIMIT // max(numerator, 1),
        tou_tolerance_wh=limits.tou_mismatch_tolerance_wh,
    )


def _slot(at: datetime, tariffs: billing.TariffHistory) -> metering_ports.ChargeSlot | None:
    # The month and version of the last instant before the reading: a baseline in the same
    # month and version means the whole interval is (the reading's own instant may be the end
    # of both, which the unsplit path allows). The usage day is that instant's too, as
    # metering.by_month attributes an interval to its last instant.
    before = metering.attributed_at(start_at=at - _ONE_US, end_at=at)
    try:
        tariff = tariffs.at(before)
    except billing.NoTariffInForce:
        return None
    if tariff.is_time_of_use or tariff.is_tiered:
        return None
    month = BillingMonth.of(before)
    price = tariff.bands[0].price.scaled
    return metering_ports.ChargeSlot(
        meter_time_at=at,
        meter_time_us=(at - _EPOCH) // _ONE_US,
        window_start_at=max(month.start_at, tariff.start_at),
        month=str(month),
        tariff_key=tariff.key,
        price_scaled=price,
        energy_cap_wh=(_INT_LIMIT - CHARGE_ROUNDING.offset) // price if price else _INT_LIMIT,
        usage_day=local_date(before),
    )


def plan(
    *,
    by_meter: Mapping[MeterNumber, Sequence[metering.Reading]],
    tariffs: billing.TariffHistory,
) -> tuple[tuple[metering.Reading, ...], tuple[int, ...], tuple[metering_ports.ChargeSlot, ...]]:
    """Return the readings that may be plain, the slot of each, and the slots."""
    candidates: list[metering.Reading] = []
    slot_of: list[int] = []
    slots: list[metering_ports.ChargeSlot] = []
    index_of: dict[datetime, int | None] = {}
    for meter_readings in by_meter.values():
        if len(meter_readings) != 1:
            continue
        (reading,) = meter_readings
        if any(value > _MAX_REGISTER_WH for value in reading.registers.as_tuple()):
            continue
        at = reading.meter_time_at
        if at not in index_of:
            slot = _slot(at, tariffs)
            index_of[at] = None if slot is None else len(slots)
            if slot is not None:
                slots.append(slot)
        index = index_of[at]
        if index is None:
            continue
        candidates.append(reading)
        slot_of.append(index)
    return tuple(candidates), tuple(slot_of), tuple(slots)


def low_balance_below_fen(
    *,
    tariffs: billing.TariffHistory,
    settings: prepaid.PrepaidSettings,
    now: datetime,
) -> int | None:
    """Return the balance below which a charged account needs the prepaid rules.

    Above it, and with its rule state at rest, the rules decide nothing for an account (no
    threshold is crossed, nothing is held or due), so they need not run. The line is the
    rules' own (``prepaid.low_balance_line_fen``). None (every charged account needs the
    rules) when there is no tariff in force now.
    """
    try:
        price = tariffs.at(now).reference_price
    except billing.NoTariffInForce:
        return None
    return prepaid.low_balance_line_fen(price, settings)
