"""The set-based ingest against the per-reading path: same batches, same rows, both engines.

Two fresh databases of one engine are driven in lockstep by the same random history (readings
that are plain, re-delivered, out of order, backwards, implausible, several per meter, of
unknown meters; month ends, price changes to flat, time-of-use and tiered tariffs; top-ups,
meter replacements, a holiday week). One records readings with ``set_based=False`` (every
reading through the domain), the other with the set-based path. Every report must be equal,
and afterwards every table's rows, surrogate ids aside (the two paths insert in a different
order, so auto-numbered ids may differ; every other column, foreign keys included, must match).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.fakes.top_up import top_up
from tests.functional.household import local
from tests.integration.db.databases import BACKENDS, Templates

from wattbook.adapters import db
from wattbook.adapters.db.metering import _ingest
from wattbook.application import queries
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.billing.set_tariff import set_tariff
from wattbook.application.metering.record_readings import ReadingReport, record_readings
from wattbook.application.prepaid.keep_power import order_keep_power
from wattbook.domain import accounts, billing, metering, prepaid
from wattbook.domain.values import (
    CHARGE_ROUNDING,
    AccountNumber,
    BillingMonth,
    ChargeRounding,
    Energy,
    MeterNumber,
    Money,
    Period,
    Price,
    RegisterSet,
    RoundingMode,
    TimeOfUse,
    local_date,
)

REGISTERS = ("total_wh", "sharp_wh", "peak_wh", "flat_wh", "valley_wh")


@dataclass
class Database:
    """A migrated database and the rows migrations seeded, to start each example afresh."""

    engine: Engine
    seeds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def remember_seeds(self) -> None:
        with self.engine.connect() as connection:
            for table in db.metadata.sorted_tables:
                rows = connection.execute(sa.select(table)).mappings()
                self.seeds[table.name] = [dict(row) for row in rows]

    def reset(self) -> None:
        tables = db.metadata.sorted_tables
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                names = ", ".join(f'"{table.name}"' for table in tables)
                connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            else:
                for table in reversed(tables):
                    connection.execute(table.delete())
            for table in tables:
                if self.seeds[table.name]:
                    connection.execute(table.insert(), self.seeds[table.name])
            if self.engine.dialect.name == "postgresql":
                # The seeds came back with their ids: move the sequences past them.
                for table in tables:
                    column = table.c.get("id")
                    if column is None or not column.autoincrement or not column.primary_key:
                        continue
                    sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
                    move = f"setval({sequence}, COALESCE(MAX(id), 0) + 1, false)"
                    connection.execute(sa.select(sa.text(move)).select_from(table))

    def contents(self) -> dict[str, list[tuple[Any, ...]]]:
        found: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as connection:
            for table in db.metadata.sorted_tables:
                columns = [column for column in table.columns if column.name != "id"]
                rows = connection.execute(sa.select(*columns))
                found[table.name] = sorted((tuple(row) for row in rows), key=repr)
        return found


@pytest.fixture(params=BACKENDS)
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, database_templates: Templates
) -> Iterator[tuple[Database, Database]]:
    """Yield two migrated databases of each backend."""
    with (
        database_templates.migrated(request.param, tmp_path, "reference") as reference,
        database_templates.migrated(request.param, tmp_path, "candidate") as candidate,
    ):
        databases = [Database(reference), Database(candidate)]
        for database in databases:
            database.remember_seeds()
        yield databases[0], databases[1]


@dataclass
class Meter:
    number: MeterNumber
    account: AccountNumber
    registers: RegisterSet
    delivered: list[metering.Reading] = field(default_factory=list)


def _advance(registers: RegisterSet, wh: int, *, mismatch: int = 0) -> RegisterSet:
    valley = wh // 3
    sharp = wh // 7
    return RegisterSet(
        total_wh=registers.total_wh + wh + mismatch,
        sharp_wh=registers.sharp_wh + sharp,
        peak_wh=registers.peak_wh,
        flat_wh=registers.flat_wh + wh - valley - sharp,
        valley_wh=registers.valley_wh + valley,
    )


READING_KINDS = ("plain", "plain", "plain", "zero", "two", "duplicate", "old", "backwards")
READING_KINDS += ("jump", "edge", "mismatch", "skip")
_HOUR = timedelta(hours=1)
_UNREST = (
    ("low_balance_notified", True),
    ("warning_cut_done", True),
    ("tripped_for_arrears", True),
    ("warning_close_due_at", _HOUR),
    ("warning_close_due_at", -_HOUR),
    ("re_evaluate_at", _HOUR),
    ("re_evaluate_at", -_HOUR),
)
_amount = st.one_of(st.sampled_from([0, 10]), st.integers(min_value=0, max_value=4000))

_step = st.one_of(
    st.tuples(
        st.just("batch"),
        st.sampled_from(
            [timedelta(minutes=5), timedelta(hours=1), timedelta(hours=7), timedelta(days=3)]
        ),
        st.lists(st.sampled_from(READING_KINDS), min_size=3, max_size=3),
        st.lists(_amount, min_size=3, max_size=3),
    ),
    st.tuples(st.just("top_up"), st.integers(0, 2), st.sampled_from([300, 2_000, 60_000])),
    st.tuples(
        st.just("tariff"), st.sampled_from(["flat", "cheap", "tou", "tiered"]), st.integers(1, 5)
    ),
    st.tuples(st.just("replace"), st.integers(0, 2), st.integers(0, 500)),
    st.tuples(st.just("unknown"), st.just(0), st.just(0)),
    st.tuples(st.just("relay"), st.integers(0, 2), st.sampled_from(list(prepaid.RelayState))),
    st.tuples(st.just("keep_power"), st.integers(0, 2), st.sampled_from([1, 30, 2_000])),
    # A stored rule state one step away from rest: the set-based path must know exactly when
    # the rules would act.
    st.tuples(st.just("state"), st.integers(0, 2), st.sampled_from(_UNREST)),
)
_scenario = st.tuples(
    # Near a month end and a week before the National Day holiday (cuts are held then), or
    # near a year end after which the holiday calendar has no data (the rules postpone).
    st.sampled_from([local(2025, 9, 29, 18), local(2026, 12, 31, 20)]),
    st.lists(st.sampled_from([0, 1_100, 3_000, 100_000, 100_000]), min_size=3, max_size=3),
    st.lists(_step, min_size=2, max_size=8),
)


class Lockstep:
    """Drive the reference and the candidate database through the same history."""

    def __init__(self, reference: Database, candidate: Database, start: datetime) -> None:
        self.databases = (reference, candidate)
        self.clock = FakeClock(start)
        self.meters: list[Meter] = []
        self.replacements = 0
        self.tariff_from = local_date(start) - timedelta(days=10_000)

    def factories(self) -> tuple[Any, Any]:
        return tuple(db.unit_of_work_factory(d.engine) for d in self.databases)  # type: ignore[return-value]

    async def both(self, call: Any) -> list[Any]:
        return [
            await call(factory, set_based)
            for factory, set_based in zip(self.factories(), (False, True), strict=True)
        ]

    async def open(self, balances: list[int]) -> None:
        for index, fen in enumerate(balances):
            number = f"0516{index:08d}"
            meter = Meter(
                number=MeterNumber(value=number),
                account=AccountNumber(value=number),
                registers=RegisterSet.zero(),
            )
            self.meters.append(meter)

            async def call(
                factory: Any, _set_based: bool, meter: Meter = meter, fen: int = fen
            ) -> None:
                await open_account(
                    uow=factory(),
                    clock=self.clock,
                    number=meter.account,
                    holder=accounts.Holder(name="张三"),
                    phone=accounts.PhoneNumber(digits="13800138000"),
                    address=accounts.Address(text="丙6-1-801"),
                    opening_balance=Money(fen=fen) if fen else None,
                )
                await install_meter(
                    uow=factory(),
                    clock=self.clock,
                    number=meter.account,
                    meter_number=meter.number,
                    bus="tcp://127.0.0.1:7001",
                    initial=meter.registers,
                )

            await self.both(call)

    async def deliver(self, readings: list[metering.Reading]) -> tuple[ReadingReport, ...]:
        async def call(factory: Any, set_based: bool) -> ReadingReport:
            return await record_readings(
                uow=factory(), clock=self.clock, readings=readings, set_based=set_based
            )

        return tuple(await self.both(call))

    def reading(self, meter: Meter, registers: RegisterSet, at: Any) -> metering.Reading:
        reading = metering.Reading(
            meter_number=meter.number,
            registers=registers,
            meter_time_at=at,
            received_at=self.clock.now(),
        )
        meter.delivered.append(reading)
        return reading

    def batch(self, kinds: list[str], amounts: list[int]) -> list[metering.Reading]:
        now = self.clock.now()
        readings: list[metering.Reading] = []
        for meter, kind, wh in zip(self.meters, kinds, amounts, strict=True):
            last = meter.delivered[-1] if meter.delivered else None
            if kind in ("plain", "zero", "mismatch"):
                used = 0 if kind == "zero" else wh
                meter.registers = _advance(
                    meter.registers, used, mismatch=10 if kind == "mismatch" else 0
                )
                readings.append(self.reading(meter, meter.registers, now))
            elif kind == "two":
                middle = _advance(meter.registers, wh // 2)
                meter.registers = _advance(middle, wh - wh // 2)
                readings.append(self.reading(meter, meter.registers, now))
                readings.append(self.reading(meter, middle, now - timedelta(minutes=2)))
            elif kind == "duplicate" and last is not None:
                readings.append(last)
            elif kind == "old" and last is not None:
                older = RegisterSet(
                    total_wh=max(last.registers.total_wh - 5, 0),
                    sharp_wh=last.registers.sharp_wh,
                    peak_wh=last.registers.peak_wh,
                    flat_wh=max(last.registers.flat_wh - 5, 0),
                    valley_wh=last.registers.valley_wh,
                )
                readings.append(
                    self.reading(meter, older, last.meter_time_at - timedelta(minutes=1))
                )
            elif kind == "backwards" and meter.registers.total_wh >= 100:
                lower = RegisterSet(
                    total_wh=meter.registers.total_wh - 100,
                    sharp_wh=meter.registers.sharp_wh,
                    peak_wh=meter.registers.peak_wh,
                    flat_wh=max(meter.registers.flat_wh - 100, 0),
                    valley_wh=meter.registers.valley_wh,
                )
                readings.append(self.reading(meter, lower, now))
            elif kind == "jump":
                jumped = _advance(meter.registers, 5_000_000 + wh)
                readings.append(self.reading(meter, jumped, now))
            elif kind == "edge":
                # Exactly at, just below or just above the plausibility limit.
                registers, at = self.baseline(meter)
                allowed = metering.PlausibilityLimits().max_wh(now - at)
                edge = _advance(registers, allowed + wh % 3 - 1)
                meter.registers = max(meter.registers, edge, key=lambda r: r.total_wh)
                readings.append(self.reading(meter, edge, now))
        return readings

    def baseline(self, meter: Meter) -> tuple[RegisterSet, datetime]:
        i, b = db.metadata.tables["meter_installations"], db.metadata.tables["register_baselines"]
        with self.databases[0].engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(b)
                    .join(i, i.c.id == b.c.installation_id)
                    .where(i.c.meter_number == meter.number.value, i.c.removed_at.is_(None))
                )
                .mappings()
                .one()
            )
        registers = RegisterSet(**{name: row[name] for name in REGISTERS})
        return registers, row["at"]

    async def relay(self, which: int, state: prepaid.RelayState) -> None:
        async def call(factory: Any, _set_based: bool) -> None:
            async with factory() as uow:
                await uow.prepaid.set_relay(self.meters[which].account, state)
                await uow.commit()

        await self.both(call)

    async def state(self, which: int, change: tuple[str, Any]) -> None:
        name, value = change
        now = self.clock.now()
        if isinstance(value, timedelta):
            value = now + value
        at = value if name == "re_evaluate_at" else None
        fields = {} if name == "re_evaluate_at" else {name: value}
        state = prepaid.RuleState(**fields)

        async def call(factory: Any, _set_based: bool) -> None:
            async with factory() as uow:
                await uow.prepaid.save_states({self.meters[which].account: (state, at)})
                await uow.commit()

        await self.both(call)

    async def keep_power(self, which: int, minutes: int) -> None:
        now = self.clock.now()

        async def call(factory: Any, _set_based: bool) -> None:
            await order_keep_power(
                uow=factory(),
                clock=self.clock,
                number=self.meters[which].account,
                period=Period(start_at=now, end_at=now + timedelta(minutes=minutes)),
                ordered_by="duty officer 7",
                reason="resident on oxygen concentrator",
            )

        await self.both(call)

    async def top_up(self, which: int, fen: int) -> None:
        self.replacements += 1
        reference = f"TEST:{self.replacements}"

        async def call(factory: Any, _set_based: bool) -> None:
            await top_up(
                uow=factory(),
                clock=self.clock,
                number=self.meters[which].account,
                amount=Money(fen=fen),
                reference=reference,
            )

        await self.both(call)

    async def tariff(self, kind: str, days: int) -> None:
        starts = local_date(self.clock.now()) + timedelta(days=days)
        if starts <= self.tariff_from:
            return
        self.tariff_from = starts
        if kind in ("flat", "cheap"):
            price = Price.parse("0.6171" if kind == "flat" else "0.4")
            tariff = billing.flat_tariff(price=price, effective_from=starts)
        elif kind == "tou":
            tariff = billing.time_of_use_tariff(
                prices={
                    TimeOfUse.SHARP: Price.parse("0.9"),
                    TimeOfUse.PEAK: Price.parse("0.8"),
                    TimeOfUse.FLAT: Price.parse("0.5283"),
                    TimeOfUse.VALLEY: Price.parse("0.3"),
                },
                effective_from=starts,
            )
        else:
            tariff = billing.tiered_tariff(
                bands=((0, Price.parse("0.5283")), (2_000, Price.parse("0.5783"))),
                effective_from=starts,
            )

        async def call(factory: Any, _set_based: bool) -> None:
            await set_tariff(uow=factory(), tariff=tariff)

        await self.both(call)

    async def replace(self, which: int, used: int) -> None:
        # replace_meter's steps, with the final reading through the path under test.
        meter = self.meters[which]
        self.replacements += 1
        final = _advance(meter.registers, used)
        new_number = MeterNumber(value=f"0517{self.replacements:08d}")
        now = self.clock.now()
        async with db.unit_of_work_factory(self.databases[0].engine)() as uow:
            account = await uow.accounts.get(meter.account)
            current = await uow.meters.current(meter.account)
        replacement = accounts.replace_meter(
            account=account,
            current=current,
            final=final,
            final_at=now,
            new_meter_number=new_number,
            bus="tcp://127.0.0.1:7001",
            initial=RegisterSet.zero(),
            installed_at=now,
        )
        reports = await self.deliver([metering.final_reading(replacement, received_at=now)])
        assert reports[0] == reports[1]

        async def call(factory: Any, _set_based: bool) -> None:
            async with factory() as uow:
                await uow.meters.replace(
                    replacement, metering.baseline_after_replacement(replacement)
                )
                await uow.commit()

        await self.both(call)
        self.meters[which] = Meter(
            number=new_number, account=meter.account, registers=RegisterSet.zero()
        )


@pytest.fixture
def plain_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the readings the set-based path charged."""
    counted = [0]
    original = _ingest.SqlIngestRepository._record_plain

    def spy(self: Any, batch: Any) -> Any:
        charges = original(self, batch)
        counted[0] += len(charges)
        return charges

    monkeypatch.setattr(_ingest.SqlIngestRepository, "_record_plain", spy)
    return counted


class TestSetBasedIngestEqualsPerReadingPath:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(scenario=_scenario)
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 1_100],
            [
                ("state", 0, ("low_balance_notified", True)),
                ("batch", _HOUR, ["plain"] * 3, [500, 500, 500]),
            ],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 1_100],
            [
                ("state", 0, ("re_evaluate_at", _HOUR)),
                ("batch", _HOUR, ["plain"] * 3, [500, 500, 500]),
            ],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 1_100],
            [
                ("state", 0, ("warning_close_due_at", _HOUR)),
                ("batch", _HOUR, ["plain"] * 3, [500, 500, 500]),
            ],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 1_100],
            [
                ("state", 0, ("warning_close_due_at", -_HOUR)),
                ("batch", _HOUR, ["plain"] * 3, [500, 500, 500]),
            ],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 1_100],
            [
                ("state", 0, ("tripped_for_arrears", True)),
                ("batch", _HOUR, ["plain"] * 3, [500, 500, 500]),
            ],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 1_100],
            [
                ("relay", 0, prepaid.RelayState.OPEN),
                ("keep_power", 0, 2_000),
                ("batch", _HOUR, ["plain"] * 3, [500, 500, 500]),
            ],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 1_100],
            [
                ("state", 0, ("warning_cut_done", True)),
                ("batch", _HOUR, ["plain"] * 3, [500, 500, 500]),
            ],
        )
    )
    @example(
        # 500 Wh cost 26 fen: 1,082 fen fall to 1,056, just below 20 kWh worth (1,056.6 fen).
        scenario=(
            local(2025, 9, 29, 18),
            [1_082, 1_083, 100_000],
            [("batch", _HOUR, ["plain"] * 3, [500, 500, 500])],
        )
    )
    @example(
        # Jumps one below, at and one above the plausibility limit.
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 100_000],
            [("batch", _HOUR, ["edge"] * 3, [0, 1, 2])],
        )
    )
    @example(
        # A new flat price from tomorrow: the interval over midnight is split, not plain.
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 100_000],
            [("tariff", "flat", 1), ("batch", timedelta(hours=7), ["plain"] * 3, [9, 90, 900])],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 100_000],
            [
                ("tariff", "tou", 1),
                ("batch", timedelta(days=3), ["plain"] * 3, [9, 90, 900]),
                ("batch", _HOUR, ["plain"] * 3, [9, 90, 900]),
            ],
        )
    )
    @example(
        scenario=(
            local(2025, 9, 29, 18),
            [100_000, 100_000, 100_000],
            [
                ("tariff", "tiered", 1),
                ("batch", timedelta(days=3), ["plain"] * 3, [9, 900, 4_000]),
                ("batch", _HOUR, ["plain"] * 3, [9, 900, 4_000]),
            ],
        )
    )
    async def test_every_table_and_report_is_equal(
        self,
        pair: tuple[Database, Database],
        plain_count: list[int],
        scenario: tuple[datetime, list[int], list[tuple[Any, ...]]],
    ) -> None:
        start, balances, steps = scenario
        for database in pair:
            database.reset()
        before = plain_count[0]
        world = Lockstep(*pair, start)
        await world.open(balances)
        # Every history starts with a plain batch, so the set-based path always has work.
        steps = [("batch", timedelta(minutes=15), ["plain"] * 3, [500, 1_500, 2_500]), *steps]
        for step in steps:
            kind = step[0]
            event(kind)
            if kind == "batch":
                world.clock.advance(step[1])
                readings = world.batch(step[2], step[3])
                reference, candidate = await world.deliver(readings)
                assert candidate == reference
            elif kind == "top_up":
                await world.top_up(step[1], step[2])
            elif kind == "tariff":
                await world.tariff(step[1], step[2])
            elif kind == "replace":
                world.clock.advance(timedelta(minutes=30))
                await world.replace(step[1], step[2])
            elif kind == "relay":
                await world.relay(step[1], step[2])
            elif kind == "keep_power":
                await world.keep_power(step[1], step[2])
            elif kind == "state":
                await world.state(step[1], step[2])
            else:
                unknown = Meter(
                    number=MeterNumber(value="059999999999"),
                    account=AccountNumber(value="059999999999"),
                    registers=RegisterSet.zero(),
                )
                reading = world.reading(unknown, _advance(unknown.registers, 10), world.clock.now())
                reference, candidate = await world.deliver([reading])
                assert candidate == reference

        assert pair[1].contents() == pair[0].contents()
        assert plain_count[0] > before


def _domain_fen(energy_wh: int, price_scaled: int) -> int:
    tariff = billing.flat_tariff(
        price=Price.from_scaled(price_scaled), effective_from=local_date(local(2025, 1, 1))
    )
    total = billing.ChargeTotal(
        key=billing.ChargeKey(tariff_key=tariff.key, month=BillingMonth(year=2025, month=1)),
        energy_wh=(("ALL", energy_wh),),
        charged=Money.zero(),
    )
    return billing.amount_due(total=total, tariff=tariff).fen


class TestChargedFenInSql:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        energy_wh=st.integers(min_value=0, max_value=10**12),
        price_scaled=st.integers(min_value=0, max_value=10**6),
    )
    # Ties (x.5 fen), either side of them, and the largest products the storage allows.
    @example(energy_wh=50_000, price_scaled=1)
    @example(energy_wh=49_999, price_scaled=1)
    @example(energy_wh=50_001, price_scaled=1)
    @example(energy_wh=3, price_scaled=50_000)
    @example(energy_wh=10, price_scaled=5_283)
    @example(energy_wh=2**62 // 5_283 - 20, price_scaled=5_283)
    def test_equals_the_domains_half_up_rounding(
        self, engine: Engine, energy_wh: int, price_scaled: int
    ) -> None:
        if energy_wh * price_scaled + CHARGE_ROUNDING.offset >= 2**63:
            return
        expression = _ingest.charged_fen(
            sa.literal(energy_wh, sa.BigInteger),
            sa.literal(price_scaled, sa.BigInteger),
            rounding=CHARGE_ROUNDING,
        )
        with engine.connect() as connection:
            fen = connection.execute(sa.select(expression)).scalar_one()

        assert fen == _domain_fen(energy_wh, price_scaled)


@pytest.fixture
def coarse_rounding() -> Iterator[None]:
    """Change the one shared charge definition in place (divisor 1,000), then restore it."""
    # Frozen on purpose; only this test reaches past that, to prove nothing keeps a copy.
    divisor = CHARGE_ROUNDING.divisor
    object.__setattr__(CHARGE_ROUNDING, "divisor", 1_000)
    try:
        yield
    finally:
        object.__setattr__(CHARGE_ROUNDING, "divisor", divisor)


class TestChargeRoundingComesFromTheDomain:
    @pytest.mark.parametrize("divisor", [2, 10, 1_000, CHARGE_ROUNDING.divisor])
    @pytest.mark.parametrize(
        ("energy_wh", "price_scaled"), [(0, 5_283), (10, 5_283), (1, 5), (3, 50_000), (7, 1)]
    )
    def test_sql_rounds_as_any_domain_definition_does(
        self, engine: Engine, divisor: int, energy_wh: int, price_scaled: int
    ) -> None:
        rounding = ChargeRounding(divisor=divisor, mode=RoundingMode.HALF_UP)
        expression = _ingest.charged_fen(
            sa.literal(energy_wh, sa.BigInteger),
            sa.literal(price_scaled, sa.BigInteger),
            rounding=rounding,
        )

        with engine.connect() as connection:
            fen = connection.execute(sa.select(expression)).scalar_one()

        assert fen == rounding.charge_fen(energy_wh=energy_wh, price_scaled=price_scaled)

    async def test_changing_the_definition_changes_both_paths(
        self, pair: tuple[Database, Database], plain_count: list[int], coarse_rounding: None
    ) -> None:
        world = Lockstep(*pair, local(2025, 9, 10, 9))
        await world.open([100_000])
        world.clock.advance(_HOUR)

        reference, candidate = await world.deliver(world.batch(["plain"], [500]))

        # 500 Wh x 5283 / 1000 = 2641.5 -> 2642 fen (the real definition charges 26 fen).
        assert [entry.amount.fen for entry in candidate.entries] == [-2642]
        assert candidate == reference
        assert plain_count[0] == 1
        assert pair[1].contents() == pair[0].contents()


def _month_kwh(lines: tuple[billing.StatementLine, ...]) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in lines:
        if line.energy.wh > 0:
            found[str(line.month)] = found.get(str(line.month), 0) + line.energy.wh
    return found


def _usage(database: Database, table: str, bucket: str) -> dict[str, int]:
    with database.engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT {bucket}, total_wh FROM {table}"))  # noqa: S608
        return {str(key): int(wh) for key, wh in rows}


async def _statement(database: Database, number: AccountNumber) -> dict[str, int]:
    lines = await queries.monthly_statement(
        uow=db.unit_of_work_factory(database.engine)(), number=number
    )
    return _month_kwh(lines)


class TestMonthBoundaryUsageAgreesWithStatement:
    async def test_reading_over_a_month_start_counts_the_same_kwh_per_month(
        self, pair: tuple[Database, Database]
    ) -> None:
        world = Lockstep(*pair, local(2025, 1, 31, 20))
        await world.open([100_000])
        (meter,) = world.meters

        async def read(at: datetime, wh: int) -> None:
            world.clock.advance(at - world.clock.now())
            meter.registers = _advance(meter.registers, wh)
            reference, candidate = await world.deliver([world.reading(meter, meter.registers, at)])
            assert candidate == reference

        await read(local(2025, 1, 31, 23), 300)
        await read(local(2025, 2, 1, 1), 1_200)  # half before midnight, half after
        await read(local(2025, 2, 28, 23), 100)
        await read(local(2025, 3, 1, 0), 500)  # ends on the month start: all February's

        for database in pair:
            statement = await _statement(database, meter.account)
            assert statement == {"2025-01": 900, "2025-02": 1_200}
            assert _usage(database, "usage_monthly", "month") == statement
            assert _usage(database, "usage_yearly", "year") == {"2025": 2_100}
            assert _usage(database, "usage_daily", "day") == {
                "2025-01-31": 900,
                "2025-02-01": 600,
                "2025-02-28": 600,
            }
        assert pair[1].contents() == pair[0].contents()


class TestFirstReadingAfterABackDatedInstallation:
    @pytest.mark.parametrize(
        ("installed_at", "opened_at", "read_at", "months"),
        [
            # B8: meters replaced in spring, accounts opened (with the credit) in August.
            (local(2025, 5, 1, 9), local(2025, 8, 20, 10), local(2025, 9, 3, 10), {"2025-08"}),
            (local(2025, 8, 25, 9), local(2025, 9, 2, 10), local(2025, 9, 3, 10), set()),
        ],
    )
    async def test_charges_nothing_to_a_month_before_the_account_was_opened(
        self,
        pair: tuple[Database, Database],
        installed_at: datetime,
        opened_at: datetime,
        read_at: datetime,
        months: set[str],
    ) -> None:
        world = Lockstep(*pair, opened_at)
        number = AccountNumber(value="051600000001")
        meter = Meter(
            number=MeterNumber(value="051600000001"),
            account=number,
            registers=RegisterSet.zero(),
        )

        async def open_with_credit(factory: Any, _set_based: bool) -> None:
            await open_account(
                uow=factory(),
                clock=world.clock,
                number=number,
                holder=accounts.Holder(name="张三"),
                phone=accounts.PhoneNumber(digits="13800138000"),
                address=accounts.Address(text="丙6-1-801"),
                migration_energy=Energy(wh=100_000),
            )
            await install_meter(
                uow=factory(),
                clock=world.clock,
                number=number,
                meter_number=meter.number,
                bus="tcp://127.0.0.1:7001",
                initial=RegisterSet.zero(),
                installed_at=installed_at,
            )

        await world.both(open_with_credit)
        world.clock.advance(read_at - opened_at)
        meter.registers = _advance(meter.registers, 600_000)

        reference, candidate = await world.deliver([world.reading(meter, meter.registers, read_at)])

        assert candidate == reference
        assert reference.count(metering.ReadingOutcome.ACCEPTED) == 1
        expected = months | {str(BillingMonth.of(read_at))}
        for database in pair:
            statement = await _statement(database, number)
            assert set(statement) == expected
            assert sum(statement.values()) == 600_000
            assert _usage(database, "usage_monthly", "month") == statement
        assert pair[1].contents() == pair[0].contents()
