"""Relay commands from the outbox to the meter and back (C4, B6, A1): confirmed, or alarmed."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes.top_up import top_up
from tests.integration.headend.campus import Site, bus_spec, site

from wattbook.adapters import db
from wattbook.application.headend import ports as hp
from wattbook.application.headend.dispatch_relay_commands import (
    InvalidOperatorOrder,
    RelayOutcome,
    due_relay_commands,
    order_relay,
    record_relay_outcome,
)
from wattbook.dlt645 import simulator
from wattbook.domain.headend import RelayCommand, RelayOperation
from wattbook.domain.values import AccountNumber, MeterNumber, Money

METER = "051600000021"
OTHER = "051600000022"
MINUTE = dt.timedelta(minutes=1)


def buses() -> list[simulator.BusSpec]:
    return [bus_spec("block-7", [METER, OTHER])]


def relay_sms(place: Site) -> list[str]:
    """Return the kinds of the cut-off and power-restored SMS queued for METER, in order."""
    rows = place.rows(
        "SELECT o.kind FROM sms_outbox o JOIN accounts a ON a.id = o.account_id "
        "WHERE a.account_number = :n AND o.kind IN ('CUT_OFF', 'POWER_RESTORED') "
        "ORDER BY o.id",
        n=METER,
    )
    return [str(kind) for (kind,) in rows]


class TestArrearsTripAndClose:
    async def test_trip_and_close_go_through_the_outbox_and_are_confirmed(
        self, engine: Engine
    ) -> None:
        async with site(engine, buses(), opening_fen=0) as place, place.running() as headend:
            place.campus.meter(METER).set_extra_load(watts=2_000)
            await headend.sweep()
            await place.step(15 * MINUTE)  # B5 first: a balance of 0 gets its warning cut
            await place.step(15 * MINUTE)  # the reading charges: the balance goes below zero
            await place.step(MINUTE, sweeps=2)  # the trip leaves the outbox
            tripped = not place.campus.meter(METER).relay_closed
            await top_up(
                uow=place.uow_factory(),
                clock=place.clock,
                number=AccountNumber(value=METER),
                amount=Money(fen=10_000),
                reference="TEST:close:1",
            )
            await place.step(MINUTE)

            commands = place.rows(
                "SELECT action, reason, status FROM relay_commands WHERE meter_number = :n "
                "ORDER BY id",
                n=METER,
            )
            assert tripped
            # The warning cut at installation now names the meter, so it is carried out too.
            assert [tuple(map(str, c)) for c in commands] == [
                ("TRIP", "WARNING_CUT", "CONFIRMED"),
                ("CLOSE", "WARNING_CUT_ENDED", "CONFIRMED"),
                ("TRIP", "ARREARS", "CONFIRMED"),
                ("CLOSE", "ARREARS_CLEARED", "CONFIRMED"),
            ]
            assert place.campus.meter(METER).relay_closed
            (relay,) = place.rows(
                "SELECT s.relay FROM prepaid_states s JOIN accounts a ON a.id = s.account_id "
                "WHERE a.account_number = :n",
                n=METER,
            )[0]
            assert str(relay) == "CLOSED"

    async def test_a_top_up_racing_a_trip_wins(self, engine: Engine) -> None:
        async with site(engine, buses(), opening_fen=0) as place, place.running() as headend:
            place.campus.meter(METER).set_extra_load(watts=2_000)
            await headend.sweep()
            await place.step(15 * MINUTE)  # B5 first: a balance of 0 gets its warning cut
            trips_before = place.campus.meter(METER).events(simulator.EventKind.RELAY_TRIP).count
            place.clock.advance(15 * MINUTE)
            for poller in headend.pollers.values():
                await poller.sweep()  # reads and charges, but the outbox is not looked at
            queued = place.rows(
                "SELECT action FROM relay_commands WHERE meter_number = :n"
                " AND reason IN ('ARREARS', 'ARREARS_CLEARED')",
                n=METER,
            )
            await top_up(
                uow=place.uow_factory(),
                clock=place.clock,
                number=AccountNumber(value=METER),
                amount=Money(fen=10_000),
                reference="TEST:race:1",
            )
            await place.step(MINUTE)

            commands = place.rows(
                "SELECT action, status FROM relay_commands WHERE meter_number = :n"
                " AND reason IN ('ARREARS', 'ARREARS_CLEARED') ORDER BY id",
                n=METER,
            )
            trips = place.campus.meter(METER).events(simulator.EventKind.RELAY_TRIP).count
            assert [str(a) for (a,) in queued] == ["TRIP"]
            assert [tuple(map(str, c)) for c in commands] == [
                ("TRIP", "CANCELLED"),
                ("CLOSE", "CONFIRMED"),
            ]
            assert trips == trips_before
            assert relay_sms(place) == []  # never cut for arrears: nothing to tell
            assert place.campus.meter(METER).relay_closed


class TestCutOffAndRestoredSms:
    async def test_a_confirmed_arrears_trip_and_its_close_are_texted_once_each(
        self, engine: Engine
    ) -> None:
        async with site(engine, buses(), opening_fen=0) as place, place.running() as headend:
            place.campus.meter(METER).set_extra_load(watts=2_000)
            await headend.sweep()
            await place.step(15 * MINUTE)  # B5 first: a balance of 0 gets its warning cut
            after_warning = relay_sms(place)
            await place.step(15 * MINUTE)  # the reading charges: the balance goes below zero
            await place.step(MINUTE, sweeps=2)  # the trip leaves the outbox
            after_trip = relay_sms(place)
            await top_up(
                uow=place.uow_factory(),
                clock=place.clock,
                number=AccountNumber(value=METER),
                amount=Money(fen=10_000),
                reference="TEST:sms:1",
            )
            await place.step(MINUTE)
            after_close = relay_sms(place)
            await place.step(MINUTE, sweeps=2)
            # A confirmation recorded twice (a crash before the worker noticed) texts once.
            (trip,) = place.rows(
                "SELECT id, not_before_at FROM relay_commands "
                "WHERE meter_number = :n AND reason = 'ARREARS' AND status = 'CONFIRMED'",
                n=METER,
            )
            await record_relay_outcome(
                uow=place.uow_factory(),
                clock=place.clock,
                command=RelayCommand(
                    id=int(trip[0]),
                    account_number=AccountNumber(value=METER),
                    meter_number=MeterNumber(value=METER),
                    operation=RelayOperation.TRIP,
                    reason="ARREARS",
                    not_before_at=place.clock.now(),
                ),
                outcome=RelayOutcome(confirmed=True),
                plan=hp.PollPlan(),
            )

            warnings = place.rows(
                # Queued before the meter was installed: found through the account.
                "SELECT r.action, r.status FROM relay_commands r "
                "JOIN accounts a ON a.id = r.account_id "
                "WHERE a.account_number = :n AND r.reason LIKE 'WARNING_CUT%' ORDER BY r.id",
                n=METER,
            )
            assert [tuple(map(str, w)) for w in warnings] == [
                ("TRIP", "CONFIRMED"),
                ("CLOSE", "CONFIRMED"),
            ]
            assert after_warning == []
            assert after_trip == ["CUT_OFF"]
            assert after_close == ["CUT_OFF", "POWER_RESTORED"]
            assert relay_sms(place) == ["CUT_OFF", "POWER_RESTORED"]


class TestOperatorCommands:
    async def test_keep_power_on_and_off_are_confirmed_by_status_word_3(
        self, engine: Engine
    ) -> None:
        async with site(engine, buses()) as place, place.running() as headend:
            await order_relay(
                uow=place.uow_factory(),
                clock=place.clock,
                meter=MeterNumber(value=OTHER),
                operation=RelayOperation.KEEP_POWER_ON,
                ordered_by="duty officer 7",
                reason="a funeral in the family",
            )
            await headend.sweep()
            kept = place.campus.meter(OTHER).state.keep_power
            await order_relay(
                uow=place.uow_factory(),
                clock=place.clock,
                meter=MeterNumber(value=OTHER),
                operation=RelayOperation.KEEP_POWER_OFF,
                ordered_by="duty officer 7",
                reason="a funeral in the family",
            )
            await place.step(MINUTE)

            statuses = place.rows("SELECT status FROM relay_commands ORDER BY id")
            assert kept
            assert not place.campus.meter(OTHER).state.keep_power
            assert [str(s) for (s,) in statuses] == ["CONFIRMED", "CONFIRMED"]

    async def test_a_command_never_confirmed_fails_with_an_alarm(self, engine: Engine) -> None:
        async with site(engine, buses()) as place, place.running() as headend:
            place.campus.set_faults(OTHER, simulator.Faults(silent=1.0))
            await order_relay(
                uow=place.uow_factory(),
                clock=place.clock,
                meter=MeterNumber(value=OTHER),
                operation=RelayOperation.TRIP,
                ordered_by="operator 3",
                reason="meter replaced next week",
            )
            await headend.sweep()
            await place.step(dt.timedelta(seconds=31))
            await place.step(dt.timedelta(seconds=61))

            (status, attempts) = place.rows(
                "SELECT status, attempts FROM relay_commands WHERE meter_number = :n", n=OTHER
            )[0]
            alarms = place.rows(
                "SELECT kind FROM alarms WHERE meter_number = :n AND kind LIKE 'RELAY%'",
                n=OTHER,
            )
            assert (str(status), int(attempts)) == ("FAILED", 3)
            assert [str(k) for (k,) in alarms] == ["RELAY_NOT_CONFIRMED"]


class TestOperatorsOrders:
    async def test_keep_a_long_chinese_name_and_reason_whole(self, engine: Engine) -> None:
        name = "欧阳" + "值班调度员" * 11 + "第三班"  # 60 characters
        why = ("住户家中有病人需要用电，经物业经理批准，暂缓断电并尽快联系住户补缴电费。" * 6)[:200]
        async with site(engine, buses()) as place, place.running() as headend:
            command_id = await order_relay(
                uow=place.uow_factory(),
                clock=place.clock,
                meter=MeterNumber(value=OTHER),
                operation=RelayOperation.TRIP,
                ordered_by=name,
                reason=why,
            )
            (due,) = await due_relay_commands(uow=place.uow_factory(), clock=place.clock)
            await headend.sweep()

            rows = place.rows(
                "SELECT reason, ordered_by, note, status FROM relay_commands WHERE id = :i",
                i=command_id,
            )
            assert (len(name), len(why)) == (60, 200)
            assert (due.command.reason, due.command.ordered_by, due.command.note) == (
                "OPERATOR",
                name,
                why,
            )
            assert [tuple(map(str, row)) for row in rows] == [("OPERATOR", name, why, "CONFIRMED")]
            assert not place.campus.meter(OTHER).state.relay_closed

    @pytest.mark.parametrize(
        ("ordered_by", "reason"),
        [("", "a reason"), ("duty officer 7", "  "), ("值" * 101, "a reason")],
        ids=["no name", "no reason", "name too long"],
    )
    async def test_refuse_an_order_without_a_name_and_reason_and_store_nothing(
        self, engine: Engine, ordered_by: str, reason: str
    ) -> None:
        async with site(engine, buses()) as place:
            with pytest.raises(InvalidOperatorOrder):
                await order_relay(
                    uow=place.uow_factory(),
                    clock=place.clock,
                    meter=MeterNumber(value=OTHER),
                    operation=RelayOperation.TRIP,
                    ordered_by=ordered_by,
                    reason=reason,
                )

            assert place.rows("SELECT id FROM relay_commands") == []


class TestCommandsFollowTheAccount:
    async def test_a_command_queued_without_a_meter_goes_to_the_meter_installed_now(
        self, engine: Engine
    ) -> None:
        async with site(engine, buses()) as place:
            now = place.clock.now()
            relay_commands = db.metadata.tables["relay_commands"]
            accounts = db.metadata.tables["accounts"]
            with engine.begin() as connection:
                account_id = connection.execute(
                    sa.select(accounts.c.id).where(accounts.c.account_number == METER)
                ).scalar_one()
                connection.execute(
                    relay_commands.insert().values(
                        account_id=account_id,
                        meter_number=None,
                        action="TRIP",
                        reason="WARNING_CUT",
                        not_before_at=now,
                        created_at=now,
                        status="PENDING",
                    )
                )
            async with place.uow_factory() as uow:
                due = await uow.headend.due_relay_commands(at=now, limit=10)

            assert [str(command.meter_number) for command in due] == [METER]
