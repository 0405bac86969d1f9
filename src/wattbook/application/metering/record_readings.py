"""Record a batch of cumulative register readings: store, charge, decide (B1, B4-B7)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from wattbook.application import ports
from wattbook.application.metering import _set_based_ingest
from wattbook.application.metering import ports as metering_ports
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import billing, ledger, metering, prepaid
from wattbook.domain.values import (
    CHARGE_ROUNDING,
    AccountNumber,
    BillingMonth,
    Energy,
    MeterNumber,
    Money,
    local_date,
)


@dataclass(frozen=True, kw_only=True, eq=False)
class ReadingReport:
    """What a batch did: counts per outcome, what was charged, and what was decided.

    ``entries`` (the CHARGE entries posted, in the order the per-reading path makes them) are
    built only when asked for: the head-end discards the report, and building a ledger entry
    per charged reading would cost more than the database's work on it (ADR 17).
    """

    outcomes: tuple[tuple[metering.ReadingOutcome, int], ...]
    unknown_meters: tuple[MeterNumber, ...]
    alarms: tuple[metering.MeteringAlarm, ...]
    commands: tuple[prepaid.Command, ...]
    _build_entries: Callable[[], tuple[ledger.Entry, ...]] = field(repr=False)
    _entries: list[tuple[ledger.Entry, ...]] = field(default_factory=list, repr=False)

    @property
    def entries(self) -> tuple[ledger.Entry, ...]:
        """The CHARGE entries the batch posted (built on first use)."""
        if not self._entries:
            self._entries.append(self._build_entries())
        return self._entries[0]

    def count(self, outcome: metering.ReadingOutcome) -> int:
        """Return how many readings had ``outcome``."""
        return dict(self.outcomes).get(outcome, 0)

    def _key(self) -> tuple[object, ...]:
        return (self.outcomes, self.unknown_meters, self.alarms, self.entries, self.commands)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReadingReport):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]


async def record_readings(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    readings: Sequence[metering.Reading],
    limits: metering.PlausibilityLimits | None = None,
    set_based: bool = True,
) -> ReadingReport:
    """Store a batch of readings, charge the consumption and queue the prepaid decisions.

    Readings may arrive in any order and more than once: each meter's readings are assessed
    against its baseline in meter-time order; a re-delivered reading charges nothing; an older
    one is stored without charge; a gap is charged when the next reading arrives. Charges come
    from cumulative totals per account, tariff version and month. Everything happens in one
    transaction: readings, alarms, baselines, charges, balances, aggregates and outbox rows.
    Readings of meters not installed on any account are reported, not stored.

    The common case (a meter's one new reading in the batch, in the same month and flat tariff
    version as its baseline, plausible) is charged by the storage in a few set-based statements
    (``set_based``); every other reading takes the per-reading domain path. Both give the same
    rows; ``set_based=False`` sends every reading through the domain path (the reference the
    set-based path is tested against).

    :raises billing.NoTariffInForce: if consumption falls where no tariff is in force.
    """
    now = clock.now()
    plausibility = limits if limits is not None else metering.PlausibilityLimits()
    by_meter: dict[MeterNumber, list[metering.Reading]] = defaultdict(list)
    for reading in readings:
        by_meter[reading.meter_number].append(reading)
    async with uow:
        tariffs: billing.TariffHistory | None = None
        plain: tuple[metering_ports.PlainCharge, ...] = ()
        batch: metering_ports.PlainBatch | None = None
        rest: dict[MeterNumber, list[metering.Reading]] = by_meter
        committed = False
        if set_based and by_meter:
            outcome = await uow.ingest.record_plain(
                partial(_plan, by_meter=by_meter, limits=plausibility, now=now),
                settings_on=local_date(now),
            )
            tariffs, batch, plain, committed = (
                outcome.tariffs,
                outcome.batch,
                outcome.charges,
                outcome.committed,
            )
            if batch is not None and plain:
                done = {batch.readings[charge.index].meter_number for charge in plain}
                rest = {meter: found for meter, found in by_meter.items() if meter not in done}
        one_by_one = await _record_one_by_one(
            uow, by_meter=rest, tariffs=tariffs, limits=plausibility, now=now
        )
        # The rules run once, over both paths' accounts, in account order as always.
        rules_for = set(one_by_one.charged)
        balances = dict(one_by_one.balances)
        meter_of = dict(one_by_one.meter_of)
        if batch is not None:
            for charge in plain:
                if charge.needs_rules and charge.posting_fen > 0:
                    rules_for.add(charge.account_number)
                    balances[charge.account_number] = Money(fen=charge.balance_fen)
                    meter_of[charge.account_number] = batch.readings[charge.index].meter_number
        commands: tuple[prepaid.Command, ...] = ()
        if rules_for:
            commands = await apply_prepaid_rules(
                uow,
                numbers=rules_for,
                now=now,
                tariffs=tariffs if tariffs is not None else one_by_one.tariffs,
                meters=meter_of,
                balances=balances,
            )
        if not committed:
            await uow.commit()
    assessments = one_by_one.assessments
    outcomes: dict[metering.ReadingOutcome, int] = defaultdict(int)
    for assessment in assessments:
        outcomes[assessment.outcome] += 1
    if plain:
        outcomes[metering.ReadingOutcome.ACCEPTED] += len(plain)
    return ReadingReport(
        outcomes=tuple(sorted(outcomes.items())),
        unknown_meters=one_by_one.unknown_meters,
        alarms=tuple(alarm for a in assessments for alarm in a.alarms),
        commands=commands,
        _build_entries=partial(
            _entries, by_meter=by_meter, one_by_one=one_by_one, batch=batch, plain=plain, now=now
        ),
    )


def _entries(
    *,
    by_meter: dict[MeterNumber, list[metering.Reading]],
    one_by_one: _OneByOne,
    batch: metering_ports.PlainBatch | None,
    plain: tuple[metering_ports.PlainCharge, ...],
    now: datetime,
) -> tuple[ledger.Entry, ...]:
    # Both paths' entries in the order the per-reading path makes them: by the meter's first
    # appearance in the batch.
    if batch is None or not plain:
        return tuple(one_by_one.entries)
    rank = {meter: index for index, meter in enumerate(by_meter)}
    meter_of = one_by_one.meter_of
    ranked = [(rank[meter_of[e.account_number]], e) for e in one_by_one.entries]
    keys = [
        billing.ChargeKey(tariff_key=slot.tariff_key, month=BillingMonth.parse(slot.month))
        for slot in batch.slots
    ]
    for charge in plain:
        if charge.posting_fen > 0:
            meter = batch.readings[charge.index].meter_number
            key = keys[batch.slot_of[charge.index]]
            ranked.append((rank[meter], _plain_entry(charge, key=key, now=now)))
    ranked.sort(key=lambda pair: pair[0])
    return tuple(entry for _rank, entry in ranked)


def _plain_entry(
    charge: metering_ports.PlainCharge, *, key: billing.ChargeKey, now: datetime
) -> ledger.Entry:
    posting = billing.ChargePosting(
        account_number=charge.account_number,
        key=key,
        amount=Money(fen=-charge.posting_fen),
        charged_total=Money(fen=charge.charged_fen),
        energy_total=Energy(wh=charge.energy_wh),
    )
    return posting.entry(at=now)


def _plan(
    tariffs: billing.TariffHistory,
    settings: prepaid.PrepaidSettings,
    *,
    by_meter: dict[MeterNumber, list[metering.Reading]],
    limits: metering.PlausibilityLimits,
    now: datetime,
) -> metering_ports.PlainBatch | None:
    # Pure: the storage calls it with what it read, in the same hand-off as the SQL.
    candidates, slot_of, slots = _set_based_ingest.plan(by_meter=by_meter, tariffs=tariffs)
    if not candidates:
        return None
    return metering_ports.PlainBatch(
        readings=candidates,
        slot_of=slot_of,
        slots=slots,
        bound=_set_based_ingest.plausibility_bound(limits),
        low_balance_below_fen=_set_based_ingest.low_balance_below_fen(
            tariffs=tariffs, settings=settings, now=now
        ),
        posted_at=now,
        rounding=CHARGE_ROUNDING,
        whole=len(candidates) == sum(len(found) for found in by_meter.values()),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _OneByOne:
    assessments: list[metering.ReadingAssessment]
    unknown_meters: tuple[MeterNumber, ...]
    entries: list[ledger.Entry]
    charged: set[AccountNumber]
    balances: dict[AccountNumber, Money]
    meter_of: dict[AccountNumber, MeterNumber]
    tariffs: billing.TariffHistory | None


async def _record_one_by_one(
    uow: ports.UnitOfWork,
    *,
    by_meter: dict[MeterNumber, list[metering.Reading]],
    tariffs: billing.TariffHistory | None,
    limits: metering.PlausibilityLimits,
    now: datetime,
) -> _OneByOne:
    # The per-reading domain path: assess each meter's readings against its baseline, charge
    # each consumption through billing.charge_consumption, post the entries.
    if not by_meter:
        return _OneByOne(
            assessments=[],
            unknown_meters=(),
            entries=[],
            charged=set(),
            balances={},
            meter_of={},
            tariffs=tariffs,
        )
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
            baseline=position.baseline, readings=meter_readings, limits=limits
        )
        assessments.extend(batch.assessments)
        if batch.baseline != position.baseline:
            baselines.append(batch.baseline)
        number = position.installation.account_number
        meter_of[number] = meter
        # Charges and usage start at the account's opening: a meter installed before it (B8)
        # must not put its first interval in months before the account existed.
        opened_at = position.account_opened_at
        usage[number].extend(
            metering.since_opening(consumption, opened_at=opened_at)
            for consumption in batch.consumptions
        )
    await uow.meters.record(assessments, baselines, raised_at=now)
    usage = {number: found for number, found in usage.items() if found}
    entries: list[ledger.Entry] = []
    balances: dict[AccountNumber, Money] = {}
    if usage:
        if tariffs is None:
            tariffs = await uow.tariffs.history()
        entries = await _charge(uow, usage=usage, tariffs=tariffs, now=now)
        await uow.usage.add(usage)
        if entries:
            balances = await uow.ledger.post(entries)
    return _OneByOne(
        assessments=assessments,
        unknown_meters=tuple(sorted(m for m in by_meter if m not in positions)),
        entries=entries,
        charged={entry.account_number for entry in entries},
        balances=balances,
        meter_of=meter_of,
        tariffs=tariffs,
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
