"""Record a batch of cumulative register readings: store, charge, decide (B1, B4-B7)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wattbook.application import ports
from wattbook.application._rules import apply_prepaid_rules
from wattbook.domain import billing, ledger, metering, prepaid
from wattbook.domain.values import AccountNumber, MeterNumber, local_date


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingReport:
    """What a batch did: counts per outcome, what was charged, and what was decided."""

    outcomes: tuple[tuple[metering.ReadingOutcome, int], ...]
    unknown_meters: tuple[MeterNumber, ...]
    alarms: tuple[metering.MeteringAlarm, ...]
    entries: tuple[ledger.Entry, ...]
    commands: tuple[prepaid.Command, ...]

    def count(self, outcome: metering.ReadingOutcome) -> int:
        """Return how many readings had ``outcome``."""
        return dict(self.outcomes).get(outcome, 0)


async def record_readings(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    readings: Sequence[metering.Reading],
    limits: metering.PlausibilityLimits | None = None,
) -> ReadingReport:
    """Store a batch of readings, charge the consumption and queue the prepaid decisions.

    Readings may arrive in any order and more than once: each meter's readings are assessed
    against its baseline in meter-time order; a re-delivered reading charges nothing; an older
    one is stored without charge; a gap is charged when the next reading arrives. Charges come
    from cumulative totals per account, tariff version and month. Everything happens in one
    transaction: readings, alarms, baselines, charges, balances, aggregates and outbox rows.
    Readings of meters not installed on any account are reported, not stored.

    :raises billing.NoTariffInForce: if consumption falls where no tariff is in force.
    """
    now = clock.now()
    plausibility = limits if limits is not None else metering.PlausibilityLimits()
    by_meter: dict[MeterNumber, list[metering.Reading]] = defaultdict(list)
    for reading in readings:
        by_meter[reading.meter_number].append(reading)
    async with uow:
        positions = await uow.meters.positions(by_meter.keys())
        assessments: list[metering.ReadingAssessment] = []
        baselines: list[metering.RegisterBaseline] = []
        usage: dict[AccountNumber, list[metering.Consumption]] = defaultdict(list)
        meter_of: dict[AccountNumber, MeterNumber] = {}
        for meter, meter_readings in by_meter.items():
            position = positions.get(meter)
            if position is None:
                continue
            batch = metering.assess_readings(
                baseline=position.baseline, readings=meter_readings, limits=plausibility
            )
            assessments.extend(batch.assessments)
            if batch.baseline != position.baseline:
                baselines.append(batch.baseline)
            number = position.installation.account_number
            meter_of[number] = meter
            usage[number].extend(batch.consumptions)
        await uow.meters.record(assessments, baselines, raised_at=now)
        usage = {number: found for number, found in usage.items() if found}
        entries: list[ledger.Entry] = []
        commands: tuple[prepaid.Command, ...] = ()
        if usage:
            tariffs = await uow.tariffs.history()
            entries = await _charge(uow, usage=usage, tariffs=tariffs, now=now)
            await uow.usage.add(usage)
            if entries:
                balances = await uow.ledger.post(entries)
                charged = {entry.account_number for entry in entries}
                commands = await apply_prepaid_rules(
                    uow,
                    numbers=charged,
                    now=now,
                    tariffs=tariffs,
                    meters=meter_of,
                    balances=balances,
                )
        await uow.commit()
    outcomes: dict[metering.ReadingOutcome, int] = defaultdict(int)
    for assessment in assessments:
        outcomes[assessment.outcome] += 1
    return ReadingReport(
        outcomes=tuple(sorted(outcomes.items())),
        unknown_meters=tuple(sorted(m for m in by_meter if m not in positions)),
        alarms=tuple(alarm for a in assessments for alarm in a.alarms),
        entries=tuple(entries),
        commands=commands,
    )


async def _charge(
    uow: ports.UnitOfWork,
    *,
    usage: dict[AccountNumber, list[metering.Consumption]],
    tariffs: billing.TariffHistory,
    now: datetime,
) -> list[ledger.Entry]:
    # Every year an interval touches, not only its ends: a gap can span a whole year, and
    # tiers count the year's usage so far.
    first = min(c.start_at for found in usage.values() for c in found)
    last = max(c.end_at for found in usage.values() for c in found)
    years = range(local_date(first).year, local_date(last).year + 1)
    stored = await uow.charges.totals(usage.keys(), years=years)
    entries: list[ledger.Entry] = []
    changed: dict[AccountNumber, list[billing.ChargeTotal]] = {}
    for number, consumptions in usage.items():
        running = {total.key: total for total in stored.get(number, ())}
        touched: dict[billing.ChargeKey, billing.ChargeTotal] = {}
        for consumption in consumptions:
            outcome = billing.charge_consumption(
                account_number=number,
                consumption=consumption,
                tariffs=tariffs,
                totals=running.values(),
            )
            for total in outcome.totals:
                running[total.key] = total
                touched[total.key] = total
            entries.extend(posting.entry(at=now) for posting in outcome.postings)
        changed[number] = list(touched.values())
    await uow.charges.save(changed)
    return entries
