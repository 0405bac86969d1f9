"""B4/B5 near a threshold: one text and one warning cut per low spell; rules start at install."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.domain import accounts
from wattbook.domain.values import Money


class TestOneFenTopUps:
    async def test_give_one_text_in_45_minutes_at_the_sms_threshold(self, engine: Engine) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open(opening=Money(fen=1057))  # just enough for 20 kWh (1056.6 fen)
        for _ in range(9):  # five minutes each: about 1 fen used, then 1 fen in
            await home.use(20, over=timedelta(minutes=5))
            await home.top_up(1)

        assert len(home.sms()) == 1

    async def test_give_one_warning_cut_in_45_minutes_at_its_threshold(
        self, engine: Engine
    ) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open(opening=Money(fen=265))  # just above 5 kWh worth (264.15 fen)
        for _ in range(9):
            await home.use(20, over=timedelta(minutes=5))
            await home.top_up(1)

        assert len(home.sms()) == 1
        assert home.relay() == [("TRIP", "WARNING_CUT"), ("CLOSE", "WARNING_CUT_ENDED")]

    async def test_a_real_top_up_ends_the_spell_and_the_next_spell_texts_again(
        self, engine: Engine
    ) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 9)))
        await home.open(opening=Money(fen=1000))
        await home.top_up(200)  # 1200 fen: past 21 kWh worth (1109.43), the spell is over
        for _ in range(3):
            await home.use(1000)  # about 53 fen an hour: back under 20 kWh worth

        assert len(home.sms()) == 2


async def _open_at_zero_without_a_meter(home: Household) -> None:
    await open_account(
        uow=home.uow(),
        clock=home.clock,
        number=home.number,
        holder=accounts.Holder(name="张三"),
        phone=accounts.PhoneNumber(digits="13800138000"),
        address=accounts.Address(text="丙6-1-801"),
        opening_balance=Money.zero(),
    )


class TestRulesStartAtInstallation:
    async def test_an_account_opened_at_zero_queues_nothing_before_it_has_a_meter(
        self, engine: Engine
    ) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 9)))
        await _open_at_zero_without_a_meter(home)

        assert (home.sms(), home.relay()) == ([], [])

    async def test_installing_the_meter_starts_them_with_commands_for_that_meter(
        self, engine: Engine
    ) -> None:
        home = Household(engine, FakeClock(local(2025, 6, 10, 9)))
        await _open_at_zero_without_a_meter(home)
        home.clock.advance(timedelta(days=2))

        await install_meter(
            uow=home.uow(),
            clock=home.clock,
            number=home.number,
            meter_number=home.meter,
            bus="tcp://127.0.0.1:7001",
            initial=home.registers,
        )

        assert len(home.sms()) == 1
        assert home.rows("SELECT action, reason, meter_number FROM relay_commands ORDER BY id") == [
            ("TRIP", "WARNING_CUT", str(home.meter)),
            ("CLOSE", "WARNING_CUT_ENDED", str(home.meter)),
        ]
