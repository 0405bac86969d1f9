"""Charging from cumulative totals (CONVENTIONS §4).

Per account, tariff version and billing month, the charge so far is
``Σ cumulative Wh × price×10^4 / divisor`` rounded half up to the fen (``CHARGE_ROUNDING`` in
the values: the one definition of that divisor and mode, which the set-based SQL is built
from too), and each posting is that rounded total minus what is already posted. Rounding each
reading instead would bill 1 fen for 10 Wh worth 0.53 fen.

A reading interval that spans a local month start or a tariff boundary is split there by
``metering.apportion``, the same rule the usage aggregates use: each register's energy is
apportioned to the parts in proportion to elapsed meter time, the cumulative share rounded half
up, so the parts always add up to the register's delta exactly. The meter's month-end freeze
(M2) can be delivered as a reading at the boundary, which makes the apportioning exact where it
matters most.

Almost every interval lies inside one local month and one tariff version (readings come every
few minutes). That case needs no apportioning, so it takes an integer-only path that gives the
same result as the general one (tested property by property); Fraction is kept for the split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from wattbook.domain import ledger, metering
from wattbook.domain.billing._tariff import Tariff, TariffHistory
from wattbook.domain.metering import Consumption
from wattbook.domain.values import (
    CHARGE_ROUNDING,
    AccountNumber,
    BillingMonth,
    Energy,
    Money,
    TimeOfUse,
)


class ChargeInconsistent(ValueError):
    """Raise when stored totals say more was charged than their energy is worth."""


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ChargeKey:
    """What a cumulative charge is kept per (besides the account): tariff version and month."""

    tariff_key: str
    month: BillingMonth


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeTotal:
    """The cumulative energy per price component and the fen already posted, for one key."""

    key: ChargeKey
    energy_wh: tuple[tuple[str, int], ...]
    charged: Money

    @property
    def energy(self) -> Energy:
        """Return the total energy charged under this key."""
        return Energy(wh=sum(wh for _code, wh in self.energy_wh))


def amount_due(*, total: ChargeTotal, tariff: Tariff) -> Money:
    """Return the rounded cumulative charge for ``total`` at ``tariff``'s prices."""
    # Σ wh × price×10^4 is an exact integer numerator over the one charge divisor.
    numerator = sum(wh * tariff.price_of(code).scaled for code, wh in total.energy_wh)
    return Money(fen=CHARGE_ROUNDING.fen(numerator))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargePosting:
    """A charge to post: the new rounded total of a key minus what was already posted."""

    account_number: AccountNumber
    key: ChargeKey
    amount: Money
    charged_total: Money
    energy_total: Energy

    @property
    def reference(self) -> str:
        """Return the posting's unique, deterministic reference.

        The charged total of a key only grows, so it identifies the posting; the same
        consumption replayed yields the same reference, which the ledger refuses twice.
        """
        return (
            f"CHARGE:{self.account_number}:{self.key.tariff_key}:{self.key.month}:"
            f"{self.charged_total.fen}"
        )

    def entry(self, *, at: datetime) -> ledger.Entry:
        """Return the CHARGE ledger entry for this posting, posted at ``at``."""
        return ledger.Entry(
            account_number=self.account_number,
            reference=self.reference,
            kind=ledger.EntryKind.CHARGE,
            amount=self.amount,
            at=at,
            note=f"{self.key.month} {self.key.tariff_key}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeOutcome:
    """The postings a consumption causes and the updated totals of the keys it touched."""

    postings: tuple[ChargePosting, ...]
    totals: tuple[ChargeTotal, ...]


def _year_to_date_wh(energy: dict[ChargeKey, dict[str, int]], year: int) -> int:
    return sum(sum(by_code.values()) for key, by_code in energy.items() if key.month.year == year)


def _split_by_bands(tariff: Tariff, *, wh: int, year_to_date_wh: int) -> list[tuple[str, int]]:
    bands = tariff.bands
    parts = []
    start, end = year_to_date_wh, year_to_date_wh + wh
    for index, band in enumerate(bands):
        band_end = bands[index + 1].from_year_wh if index + 1 < len(bands) else None
        low = max(start, band.from_year_wh)
        high = end if band_end is None else min(end, band_end)
        if high > low:
            parts.append((band.code, high - low))
    return parts


def charge_consumption(
    *,
    account_number: AccountNumber,
    consumption: Consumption,
    tariffs: TariffHistory,
    totals: Iterable[ChargeTotal],
) -> ChargeOutcome:
    """Return the charge postings for ``consumption`` and the updated totals it touched.

    ``totals`` are the account's current totals for the keys the consumption may touch; for a
    tiered tariff they must include the whole calendar year so far (tiers count yearly usage).
    A flat or tiered version charges the total register; a time-of-use version charges the four
    period registers (if they miss the total, metering has recorded the mismatch).

    :raises NoTariffInForce: if part of the interval has no tariff.
    :raises ValueError: if the consumption has a negative register delta.
    :raises ChargeInconsistent: if a stored total was charged more than its energy is worth.
    """
    delta = consumption.delta
    if any(value < 0 for value in delta.as_tuple()):
        raise ValueError("consumption never has negative register deltas")
    start_at, end_at = consumption.start_at, consumption.end_at
    tariff = tariffs.at(start_at)
    month = BillingMonth.of(start_at)
    tariff_end_at = tariff.end_at
    if (
        start_at <= end_at
        and end_at <= month.end_at
        and (tariff_end_at is None or end_at <= tariff_end_at)
    ):
        return _charge_unsplit(
            account_number=account_number,
            consumption=consumption,
            tariff=tariff,
            month=month,
            tariffs=tariffs,
            totals=totals,
        )
    return _charge_split(
        account_number=account_number, consumption=consumption, tariffs=tariffs, totals=totals
    )


def _charge_unsplit(
    *,
    account_number: AccountNumber,
    consumption: Consumption,
    tariff: Tariff,
    month: BillingMonth,
    tariffs: TariffHistory,
    totals: Iterable[ChargeTotal],
) -> ChargeOutcome:
    # The whole interval lies in one month and one version: every register's share is its
    # whole delta, so there is nothing to apportion and no Fraction to build.
    key = ChargeKey(tariff_key=tariff.key, month=month)
    delta = consumption.delta
    existing: ChargeTotal | None = None
    year_wh = 0
    for total in totals:
        if total.key == key:
            existing = total
        if total.key.month.year == month.year and tariff.is_tiered:
            year_wh += sum(wh for _code, wh in total.energy_wh)
    if tariff.is_time_of_use:
        parts = [(period.value, delta.by_period(period)) for period in TimeOfUse]
    else:
        parts = _split_by_bands(tariff, wh=delta.total_wh, year_to_date_wh=year_wh)
    by_code = {} if existing is None else dict(existing.energy_wh)
    for code, wh in parts:
        by_code[code] = by_code.get(code, 0) + wh
    return _settle(
        account_number=account_number,
        keys=(key,),
        energy={key: by_code},
        charged={} if existing is None else {key: existing.charged},
        tariffs=tariffs,
    )


def _charge_split(
    *,
    account_number: AccountNumber,
    consumption: Consumption,
    tariffs: TariffHistory,
    totals: Iterable[ChargeTotal],
) -> ChargeOutcome:
    # The general path: cut the interval at month starts and tariff boundaries and apportion
    # each register to the parts exactly (it also covers every case the unsplit path takes).
    totals = tuple(totals)
    energy: dict[ChargeKey, dict[str, int]] = {t.key: dict(t.energy_wh) for t in totals}
    charged: dict[ChargeKey, Money] = {t.key: t.charged for t in totals}
    start_at, end_at = consumption.start_at, consumption.end_at
    cuts = [*tariffs.boundaries(), *metering.month_starts(start_at=start_at, end_at=end_at)]
    parts = metering.apportion(consumption, cuts=cuts)
    touched: list[ChargeKey] = []
    for part in parts:
        # A part lies in one month and one version: those of its start (see metering).
        tariff = tariffs.at(part.start_at)
        month = BillingMonth.of(part.start_at)
        key = ChargeKey(tariff_key=tariff.key, month=month)
        by_code = energy.setdefault(key, {})
        if tariff.is_time_of_use:
            shares = [(period.value, part.delta.by_period(period)) for period in TimeOfUse]
        else:
            shares = _split_by_bands(
                tariff,
                wh=part.delta.total_wh,
                year_to_date_wh=_year_to_date_wh(energy, month.year),
            )
        for code, wh in shares:
            by_code[code] = by_code.get(code, 0) + wh
        if key not in touched:
            touched.append(key)
    return _settle(
        account_number=account_number,
        keys=touched,
        energy=energy,
        charged=charged,
        tariffs=tariffs,
    )


def _settle(
    *,
    account_number: AccountNumber,
    keys: Iterable[ChargeKey],
    energy: dict[ChargeKey, dict[str, int]],
    charged: dict[ChargeKey, Money],
    tariffs: TariffHistory,
) -> ChargeOutcome:
    postings = []
    updated = []
    for key in keys:
        tariff = tariffs.by_key(key.tariff_key)
        total = ChargeTotal(
            key=key,
            energy_wh=tuple(sorted(energy[key].items())),
            charged=charged.get(key, Money.zero()),
        )
        due = amount_due(total=total, tariff=tariff)
        if due < total.charged:
            raise ChargeInconsistent(f"{key} charged {total.charged} but worth only {due}")
        if due > total.charged:
            postings.append(
                ChargePosting(
                    account_number=account_number,
                    key=key,
                    amount=total.charged - due,
                    charged_total=due,
                    energy_total=total.energy,
                )
            )
        updated.append(ChargeTotal(key=key, energy_wh=total.energy_wh, charged=due))
    return ChargeOutcome(postings=tuple(postings), totals=tuple(updated))
