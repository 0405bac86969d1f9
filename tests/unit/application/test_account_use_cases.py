"""Accounts, meters, tariffs and money in: open, change, install, replace, keep-power, top up."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from tests.fakes.top_up import top_up
from tests.unit.application.world import World, flat, meter_of, number

from wattbook.application.accounts import ports as account_ports
from wattbook.application.accounts.change_customer import (
    change_address,
    change_holder,
    change_phone,
)
from wattbook.application.accounts.install_meter import install_meter, replace_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.billing.reconcile import reconcile_ledger
from wattbook.application.billing.set_tariff import set_tariff
from wattbook.application.prepaid.keep_power import order_keep_power
from wattbook.domain import accounts, billing, ledger, prepaid
from wattbook.domain.values import Energy, MeterNumber, Money, Period, Price, RegisterSet


class TestOpenAccount:
    async def test_posts_the_opening_balance_and_the_migration_credit(self) -> None:
        world = World()

        await open_account(
            uow=world.uow(),
            clock=world.clock,
            number=number(1),
            holder=accounts.Holder(name="张三"),
            phone=None,
            address=accounts.Address(text="丙6-1-801"),
            opening_balance=Money(fen=1_000),
            migration_energy=Energy(wh=10_000),
        )

        journal = world.db.journal(number(1))
        assert [(e.reference, e.amount.fen) for e in journal] == [
            ("OPENING:051600000001", 1_000),
            ("MIGRATION:051600000001", 528),  # 10 kWh at 0.5283
        ]
        assert world.balance_fen(number(1)) == 1_528
        assert len(world.db.tables.migration_credits) == 1

    async def test_refuses_a_number_taken_and_changes_nothing(self) -> None:
        world = World()
        await world.household(1, opening_fen=500)

        with pytest.raises(account_ports.DuplicateAccount):
            await open_account(
                uow=world.uow(),
                clock=world.clock,
                number=number(1),
                holder=accounts.Holder(name="李四"),
                phone=None,
                address=accounts.Address(text="x"),
                opening_balance=Money(fen=9_000),
            )

        assert world.balance_fen(number(1)) == 500
        assert str(world.db.tables.accounts[number(1)].account.holder) == "张三"


class TestChangeCustomer:
    async def test_records_each_change_with_who_made_it(self) -> None:
        world = World()
        account = await world.household(1)

        await change_phone(
            uow=world.uow(), clock=world.clock, number=account, phone=None, changed_by="王五"
        )
        await change_address(
            uow=world.uow(),
            clock=world.clock,
            number=account,
            address=accounts.Address(text="丁7-2-302"),
            changed_by="王五",
        )
        changed = await change_holder(
            uow=world.uow(),
            clock=world.clock,
            number=account,
            holder=accounts.Holder(name="李四"),
            changed_by="王五",
            document_note="过户合同",
            attachment_ref="scan-17",
        )

        assert (str(changed.holder), changed.phone, str(changed.address)) == (
            "李四",
            None,
            "丁7-2-302",
        )
        kinds = [c.kind for c in world.db.tables.account_changes]
        assert kinds == [
            accounts.ChangeKind.PHONE,
            accounts.ChangeKind.ADDRESS,
            accounts.ChangeKind.HOLDER,
        ]

    async def test_a_holder_change_without_documents_changes_nothing(self) -> None:
        world = World()
        account = await world.household(1)

        with pytest.raises(accounts.DocumentsRequired):
            await change_holder(
                uow=world.uow(),
                clock=world.clock,
                number=account,
                holder=accounts.Holder(name="李四"),
                changed_by="王五",
                document_note="",
                attachment_ref="",
            )

        assert str(world.db.tables.accounts[account].account.holder) == "张三"
        assert world.db.tables.account_changes == []

    async def test_an_unknown_account_is_refused(self) -> None:
        world = World()

        with pytest.raises(account_ports.UnknownAccount):
            await change_phone(
                uow=world.uow(), clock=world.clock, number=number(9), phone=None, changed_by="王五"
            )


class TestInstallMeter:
    async def test_an_account_opened_short_of_money_is_warned_once_its_meter_is_in(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=200, metered=False)
        assert world.relay() == []

        await install_meter(
            uow=world.uow(),
            clock=world.clock,
            number=account,
            meter_number=meter_of(account),
            bus="bus-1",
            initial=RegisterSet.zero(),
        )

        # 2.00 yuan buys less than 5 kWh: low-balance text and a warning cut (B4, B5).
        assert world.sms_kinds() == ["LOW_BALANCE"]
        assert [action for _a, action, _s in world.relay()] == ["TRIP", "CLOSE"]
        assert all(row.meter_number == meter_of(account) for row in world.db.relay_commands())

    async def test_a_meter_already_in_use_is_refused(self) -> None:
        world = World()
        await world.household(1)
        other = await world.household(2, metered=False)

        with pytest.raises(account_ports.MeterAlreadyInstalled):
            await install_meter(
                uow=world.uow(),
                clock=world.clock,
                number=other,
                meter_number=meter_of(number(1)),
                bus="bus-1",
                initial=RegisterSet.zero(),
            )

        assert len(world.db.tables.installations) == 1


class TestReplaceMeter:
    async def test_charges_the_old_meter_to_its_final_reading_then_starts_the_new_one(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=10_000)
        world.clock.advance(timedelta(hours=2))
        new_meter = MeterNumber(value="051699990001")

        await replace_meter(
            uow_factory=world.db,
            clock=world.clock,
            number=account,
            final=flat(10_000),
            final_at=world.clock.now(),
            new_meter_number=new_meter,
            bus="bus-1",
            initial=flat(3),
            installed_at=world.clock.now(),
        )

        assert world.balance_fen(account) == 10_000 - 528
        rows = world.db.tables.installations
        assert [(str(r.installation.meter_number), r.removed_at is None) for r in rows] == [
            (str(meter_of(account)), False),
            (str(new_meter), True),
        ]
        assert rows[1].baseline.registers == flat(3)

    async def test_an_account_without_a_meter_has_nothing_to_replace(self) -> None:
        world = World()
        account = await world.household(1, metered=False)

        with pytest.raises(account_ports.NoMeterInstalled):
            await replace_meter(
                uow_factory=world.db,
                clock=world.clock,
                number=account,
                final=flat(1),
                final_at=world.clock.now(),
                new_meter_number=MeterNumber(value="051699990001"),
                bus="bus-1",
                initial=flat(0),
                installed_at=world.clock.now(),
            )

        assert world.db.journal(account)[-1].kind is ledger.EntryKind.OPENING_BALANCE


class TestKeepPower:
    async def test_closes_a_relay_tripped_for_arrears(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=100)
        await world.use(account, 1_000)
        await world.relay_confirmed(account, prepaid.RelayState.OPEN)

        commands = await order_keep_power(
            uow=world.uow(),
            clock=world.clock,
            number=account,
            period=Period(start_at=world.clock.now(), end_at=None),
            ordered_by="值班员 7",
            reason="家中有制氧机",
        )

        assert [type(c).__name__ for c in commands] == ["CloseRelay"]
        assert world.db.tables.keep_power[0].ordered_by == "值班员 7"

    async def test_an_order_without_a_reason_is_refused(self) -> None:
        world = World()
        account = await world.household(1)

        with pytest.raises(ValueError, match="why"):
            await order_keep_power(
                uow=world.uow(),
                clock=world.clock,
                number=account,
                period=Period(start_at=world.clock.now(), end_at=None),
                ordered_by="值班员 7",
                reason=" ",
            )

        assert world.db.tables.keep_power == []


class TestTopUp:
    async def test_credits_the_balance_and_closes_a_relay_cut_for_arrears(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=100)
        await world.use(account, 1_000)
        world.db.tables.accounts[account].relay = world.db.tables.accounts[account].relay.OPEN
        world.db.tables.accounts[account].state = world.db.tables.accounts[account].state.__class__(
            tripped_for_arrears=True, low_balance_notified=True
        )

        result = await top_up(
            uow=world.uow(),
            clock=world.clock,
            number=account,
            amount=Money(fen=5_000),
            reference="T-1",
        )

        assert [type(c).__name__ for c in result.commands] == ["CloseRelay"]
        assert world.balance_fen(account) == 5_047

    async def test_a_reference_credited_before_credits_nothing(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=100)
        first = await top_up(
            uow=world.uow(), clock=world.clock, number=account, amount=Money(fen=500), reference="T"
        )

        again = await top_up(
            uow=world.uow(), clock=world.clock, number=account, amount=Money(fen=500), reference="T"
        )

        assert again.fresh == ()
        assert again.payments == first.payments
        assert world.balance_fen(account) == 600


class TestSetTariff:
    async def test_ends_the_old_version_where_the_new_one_starts(self) -> None:
        world = World()
        tariff = billing.Tariff(
            item="RESIDENTIAL_LIGHTING",
            effective_from=date(2025, 7, 1),
            effective_to=None,
            components=(billing.PriceComponent(price=Price(yuan_per_kwh=Decimal("0.5583"))),),
        )

        history = await set_tariff(uow=world.uow(), tariff=tariff)

        assert [(t.effective_from, t.effective_to) for t in history.tariffs] == [
            (date(2000, 1, 1), date(2025, 7, 1)),
            (date(2025, 7, 1), None),
        ]

    async def test_the_same_version_twice_is_refused_and_changes_nothing(self) -> None:
        world = World()
        seeded = world.db.tables.tariffs[0]

        with pytest.raises(Exception, match="exists"):
            await set_tariff(uow=world.uow(), tariff=seeded)

        assert world.db.tables.tariffs == [seeded]


class TestReconcileLedger:
    async def test_reports_nothing_when_balances_match_their_journal(self) -> None:
        world = World()
        account = await world.household(1)
        await world.use(account, 2_000)

        report = await reconcile_ledger(uow=world.uow())

        assert not report

    async def test_reports_a_cached_balance_off_its_journal(self) -> None:
        world = World()
        account = await world.household(1, opening_fen=1_000)
        world.db.tables.accounts[account].balance_fen += 1

        report = await reconcile_ledger(uow=world.uow())

        assert [(str(d.account_number), d.cached.fen, d.journal.fen) for d in report.balances] == [
            (str(account), 1_001, 1_000)
        ]
