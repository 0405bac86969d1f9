"""What the batch ingest's storage remembers within a unit of work, on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.application.accounts.install_meter import replace_meter
from wattbook.domain import accounts, billing, metering, prepaid
from wattbook.domain.values import BillingMonth, MeterNumber, Money, RegisterSet

NEW_METER = MeterNumber(value="051699990001")


@pytest.fixture
async def home(engine: Engine) -> Household:
    household = Household(engine, FakeClock(local(2025, 6, 10, 8)))
    await household.open(opening=Money(fen=100_000))
    return household


class TestSavePrepaidStates:
    async def test_writes_a_state_changed_since_it_was_read(self, home: Household) -> None:
        now = home.clock.now()
        async with home.uow() as uow:
            before = await uow.prepaid.snapshots((home.number,), at=now)
            await uow.prepaid.save_states(
                {
                    home.number: (
                        prepaid.RuleState(low_balance_notified=True),
                        now + timedelta(hours=1),
                    )
                }
            )
            await uow.commit()

        async with home.uow() as uow:
            after = await uow.prepaid.snapshots((home.number,), at=now)

        assert before[home.number].state.low_balance_notified is False
        assert after[home.number].state.low_balance_notified is True
        assert home.rows("SELECT re_evaluate_at FROM prepaid_states")[0][0] is not None

    async def test_writes_back_a_state_changed_twice_in_one_unit(self, home: Household) -> None:
        now = home.clock.now()
        async with home.uow() as uow:
            await uow.prepaid.snapshots((home.number,), at=now)
            await uow.prepaid.save_states(
                {home.number: (prepaid.RuleState(warning_cut_done=True), None)}
            )
            await uow.prepaid.save_states({home.number: (prepaid.RuleState(), None)})
            await uow.commit()

        async with home.uow() as uow:
            after = await uow.prepaid.snapshots((home.number,), at=now)

        assert after[home.number].state == prepaid.RuleState()

    async def test_writes_a_state_never_read_in_the_unit(self, home: Household) -> None:
        now = home.clock.now()
        async with home.uow() as uow:
            await uow.prepaid.save_states(
                {home.number: (prepaid.RuleState(tripped_for_arrears=True), None)}
            )
            await uow.commit()

        async with home.uow() as uow:
            after = await uow.prepaid.snapshots((home.number,), at=now)

        assert after[home.number].state.tripped_for_arrears is True


class TestChargeTotals:
    async def test_returns_each_total_with_its_energy_for_the_years_asked(
        self, home: Household
    ) -> None:
        async with home.uow() as uow:
            tariff_key = (await uow.tariffs.history()).tariffs[0].key
        key = billing.ChargeKey(tariff_key=tariff_key, month=BillingMonth(year=2025, month=6))
        older = billing.ChargeKey(
            tariff_key=key.tariff_key, month=BillingMonth(year=2024, month=12)
        )
        saved = (
            billing.ChargeTotal(key=older, energy_wh=(("ALL", 700),), charged=Money(fen=37)),
            billing.ChargeTotal(
                key=key, energy_wh=(("FLAT", 2000), ("PEAK", 1000)), charged=Money(fen=158)
            ),
        )
        async with home.uow() as uow:
            await uow.charges.save({home.number: saved})
            await uow.commit()

        async with home.uow() as uow:
            this_year = await uow.charges.totals((home.number,), years=(2025,))
            every_year = await uow.charges.totals((home.number,), years=None)
            no_year = await uow.charges.totals((home.number,), years=())

        assert this_year == {home.number: (saved[1],)}
        assert every_year == {home.number: saved}
        assert no_year == {}


class TestRememberedInstallations:
    async def test_readings_after_a_replacement_go_to_the_new_meter(self, home: Household) -> None:
        await home.use(1000)
        replaced_at = home.clock.now()

        await replace_meter(
            uow_factory=home.uow,
            clock=home.clock,
            number=home.number,
            final=home.registers,
            final_at=replaced_at,
            new_meter_number=NEW_METER,
            bus="tcp://10.0.0.9:7001",
            initial=RegisterSet.zero(),
            installed_at=replaced_at,
        )
        async with home.uow() as uow:
            positions = await uow.meters.positions((NEW_METER, home.meter))
            reading = metering.Reading(
                meter_number=NEW_METER,
                registers=RegisterSet(
                    total_wh=500, sharp_wh=0, peak_wh=0, flat_wh=500, valley_wh=0
                ),
                meter_time_at=replaced_at + timedelta(hours=1),
                received_at=replaced_at + timedelta(hours=1),
            )
            assessment = metering.assess_reading(
                baseline=positions[NEW_METER].baseline,
                reading=reading,
                limits=metering.PlausibilityLimits(),
            )
            await uow.meters.record((assessment,), (assessment.baseline,), raised_at=replaced_at)
            await uow.commit()

        assert set(positions) == {NEW_METER}
        assert isinstance(positions[NEW_METER].installation, accounts.MeterInstallation)
        assert home.rows(
            "SELECT m.meter_number FROM readings r JOIN meter_installations m"
            " ON m.id = r.installation_id ORDER BY r.meter_time_at DESC"
        )[0][0] == str(NEW_METER)
